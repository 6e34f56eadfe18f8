"""The audit log page (clinic admins): filter by clinician, patient, action and days; newest
first, a page at a time; the same entries as CSV."""

from __future__ import annotations

from math import ceil
from typing import Any

import marshmallow as ma
from flask import make_response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from server.errors import InvalidInput
from server.extensions import db
from server.models import Clinician, Patient, utcnow
from server.services.audit_log import ACTION_LABELS, AuditQuery, audit_csv, search_audit

from .auth import current_clinician, login_required
from .forms import AuditArgs, form_errors, load_form

PER_PAGE = 50


def _query(args: dict[str, Any]) -> tuple[AuditQuery, dict[str, list[str]]]:
    """The search the filters ask for; a patient code of no patient finds nothing, said so."""
    clinician = current_clinician()
    patient_id, errors = None, {}
    if args["patient"]:
        patient_id = db.session.scalar(
            select(Patient.id).filter_by(clinic_id=clinician.clinic_id, code=args["patient"])
        )
        if patient_id is None:
            errors["patient"] = ["no patient of this clinic has that code"]
            patient_id = 0  # matches nothing
    query = AuditQuery(
        clinician_id=args["clinician_id"],
        patient_id=patient_id,
        action=args["action"],
        since=args["since"],
        until=args["until"],
    )
    return query, errors


@login_required
def audit_page() -> ResponseReturnValue:
    """The clinic's audit log."""
    viewer, session = current_clinician(), db.session()
    try:
        args = load_form(AuditArgs(), request.args)
        query, errors = _query(args)
    except ma.ValidationError as error:
        args = {"page": 1}
        query, errors = AuditQuery(clinician_id=-1), form_errors(error)  # -1: nothing
    rows, total = search_audit(
        session, viewer=viewer, query=query, offset=(args["page"] - 1) * PER_PAGE, limit=PER_PAGE
    )
    filters = {key: value for key, value in request.args.items() if key != "page" and value}
    page = render_template(
        "audit.html",
        rows=rows,
        total=total,
        page=args["page"],
        pages=max(1, ceil(total / PER_PAGE)),
        filters=filters,
        errors=errors,
        clinicians=session.scalars(
            select(Clinician).filter_by(clinic_id=viewer.clinic_id).order_by(Clinician.email)
        ).all(),
        actions=sorted(ACTION_LABELS.items(), key=lambda item: item[1]),
        zone=viewer.clinic.timezone,
    )
    return page, 422 if errors else 200


@login_required
def audit_download() -> ResponseReturnValue:
    """The entries the filters find, as CSV (the download is audited)."""
    viewer = current_clinician()
    try:
        query, errors = _query(load_form(AuditArgs(), request.args))
    except ma.ValidationError as error:
        raise InvalidInput("the filters are not valid", errors=form_errors(error)) from None
    del errors  # a code of no patient finds nothing: the file says so by being empty
    text = audit_csv(db.session(), viewer=viewer, query=query, now=utcnow())
    response = make_response(text)
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response
