"""Recording a treatment, and entering answers a patient gave by phone, on paper or in clinic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from server.errors import DomainError
from server.extensions import db
from server.models import CheckIn, Patient, Treatment, utcnow
from server.protocols import Item, Protocol, item_bank, regions
from server.services.answers import ENTRY_SOURCES, Entry, enter_response, enter_responses
from server.services.patients import get_patient
from server.services.protocols import clinic_protocols
from server.services.questions import question, questions_for
from server.services.red_flags import Flag
from server.services.treatments import get_checkin, get_treatment, record_treatment
from server.transactions import commit_or_replay

from .auth import current_clinician, login_required
from .formatting import from_local_input, local_input, modality_label
from .forms import (
    DiaryForm,
    EntryForm,
    FormErrors,
    TreatmentForm,
    form_errors,
    load_answers,
    load_diary,
    load_form,
)


def _baseline_items(protocols: list[Protocol]) -> dict[str, list[str]]:
    """Every item some modality asks at baseline, with the modalities that ask it."""
    asked: dict[str, list[str]] = {}
    for protocol in protocols:
        for code in (*protocol.baseline_items, *protocol.baseline_optional_items):
            asked.setdefault(code, []).append(protocol.modality)
    return asked


def _treatment_page(
    patient: Patient, errors: FormErrors, form: MultiDict[str, str], status: int
) -> tuple[str, int]:
    protocols = [
        protocol for protocol, _ in clinic_protocols(db.session(), clinic_id=patient.clinic_id)
    ]
    baseline = [
        (question(item_bank()[code], at_baseline=True), modalities)
        for code, modalities in _baseline_items(protocols).items()
    ]
    page = render_template(
        "treatment_form.html",
        patient=patient,
        protocols=protocols,
        regions=list(regions().values()),
        baseline=baseline,
        errors=errors,
        form=form,
    )
    return page, status


@login_required
def treatment_form(patient_id: int) -> ResponseReturnValue:
    """The form to record a treatment of a patient; T0 defaults to now on the patient's clock."""
    patient = get_patient(
        db.session(), clinic_id=current_clinician().clinic_id, patient_id=patient_id
    )
    defaults = MultiDict({"treated_at": local_input(utcnow(), patient.timezone)})
    return _treatment_page(patient, {}, defaults, 200)


def _load_treatment(form: MultiDict[str, str], protocols: list[Protocol]) -> dict[str, Any]:
    """The form's fields and baseline answers; every reason at once when some are wrong."""
    errors: FormErrors = {}
    fields: dict[str, Any] = {}
    try:
        fields = load_form(TreatmentForm(), form, lists=("regions",))
    except ma.ValidationError as error:
        errors |= form_errors(error)
    codes = _baseline_items(protocols)
    try:
        items = [item_bank()[code] for code in codes]
        fields["baseline"] = load_answers(items, form, prefix="baseline")
    except ma.ValidationError as error:
        errors |= form_errors(error)
    if errors:
        raise ma.ValidationError(errors)
    return fields


@login_required
def record(patient_id: int) -> ResponseReturnValue:
    """Record the treatment (as POST /api/v1/patients/<id>/treatments does) and schedule its
    check-ins; then the patient's page shows them."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    protocols = [protocol for protocol, _ in clinic_protocols(session, clinic_id=patient.clinic_id)]
    try:
        fields = _load_treatment(request.form, protocols)
        treatment = record_treatment(
            session,
            clinician=clinician,
            patient=patient,
            modality=fields["modality"],
            treated_at=from_local_input(fields["treated_at"], patient.timezone),
            now=now,
            regions=fields.get("regions") or [],
            thoracic_region=fields["thoracic_region"],
            baseline=fields["baseline"] or None,
            side=fields["side"],
            points=fields["points"],
            note=fields["note"],
            needle_sites=fields["needle_sites"],
            retention_minutes=fields["retention_minutes"],
            needle_diameter_mm=fields["needle_diameter_mm"],
        )
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        status = error.status_code if isinstance(error, DomainError) else 422
        return _treatment_page(patient, form_errors(error), request.form, status)
    scheduled = sum(checkin.status == "scheduled" for checkin in treatment.checkins)
    late = sum(checkin.entry_only for checkin in treatment.checkins)
    message = f"{modality_label(treatment.modality)} recorded: {scheduled} check-ins scheduled."
    if late:
        message += (
            f" {late} had passed already: the patient is not asked them; enter their answers"
            " from a paper diary below."
        )
    flash(message, "success")
    return redirect(
        url_for("pages.patient", patient_id=patient.id, _anchor=f"treatment-{treatment.id}")
    )


def _answers_page(
    checkin: CheckIn, errors: FormErrors, form: MultiDict[str, str], status: int
) -> tuple[str, int]:
    page = render_template(
        "answers_form.html",
        checkin=checkin,
        patient=checkin.treatment.patient,
        questions=questions_for(db.session(), checkin),
        sources=ENTRY_SOURCES,
        errors=errors,
        form=form,
    )
    return page, status


@login_required
def answers_form(checkin_id: int) -> ResponseReturnValue:
    """The form to enter a check-in's answers collected by phone, on paper or in clinic."""
    checkin = get_checkin(
        db.session(), clinic_id=current_clinician().clinic_id, checkin_id=checkin_id
    )
    zone = checkin.treatment.patient.timezone
    defaults = MultiDict(
        {
            "client_id": str(uuid.uuid4()),
            "answered_at": local_input(utcnow(), zone),
            "source": "phone",
        }
    )
    return _answers_page(checkin, {}, defaults, 200)


def _load_entry(form: MultiDict[str, str], items: list[Item]) -> dict[str, Any]:
    errors: FormErrors = {}
    fields: dict[str, Any] = {}
    try:
        fields = load_form(EntryForm(), form)
    except ma.ValidationError as error:
        errors |= form_errors(error)
    try:
        fields["answers"] = load_answers(items, form, prefix="answers")
    except ma.ValidationError as error:
        errors |= form_errors(error)
    if errors:
        raise ma.ValidationError(errors)
    return fields


@login_required
def enter_answers(checkin_id: int) -> ResponseReturnValue:
    """Store the answers (the same service as the API's back-entry), then the patient's page."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    checkin = get_checkin(session, clinic_id=clinician.clinic_id, checkin_id=checkin_id)
    patient, treatment_id = checkin.treatment.patient, checkin.treatment_id
    try:
        fields = _load_entry(request.form, [item_bank()[code] for code in checkin.items])
        answered_at = from_local_input(fields["answered_at"], patient.timezone)
        result = commit_or_replay(
            lambda: enter_response(
                db.session(),
                clinician=clinician,
                checkin_id=checkin_id,
                client_id=fields["client_id"],
                answers=fields["answers"],
                answered_at=answered_at,
                source=fields["source"],
                note=fields["note"],
                now=now,
            )
        )
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        status = error.status_code if isinstance(error, DomainError) else 422
        return _answers_page(checkin, form_errors(error), request.form, status)
    message = "These answers were already saved." if result.is_replay else "Answers saved."
    if result.flags:
        message += f" {_raised(result.flags)} See the alerts on this page."
    flash(message, "warning" if result.flags else "success")
    return redirect(
        url_for("pages.patient", patient_id=patient.id, _anchor=f"treatment-{treatment_id}")
    )


def _diary_rows(treatment: Treatment, now: datetime) -> dict[str, CheckIn]:
    """The check-ins a diary can fill, by the key naming their inputs: window opened, neither
    answered nor cancelled."""
    return {
        f"checkin{checkin.id}": checkin
        for checkin in treatment.checkins
        if checkin.takes_entry_at(now)
    }


def _diary_page(
    treatment: Treatment, errors: FormErrors, form: MultiDict[str, str], status: int
) -> tuple[str, int]:
    session = db.session()
    rows = [
        (key, checkin, questions_for(session, checkin))
        for key, checkin in _diary_rows(treatment, utcnow()).items()
    ]
    page = render_template(
        "diary_form.html",
        treatment=treatment,
        patient=treatment.patient,
        rows=rows,
        sources=ENTRY_SOURCES,
        errors=errors,
        form=form,
    )
    return page, status


@login_required
def diary_form(treatment_id: int) -> ResponseReturnValue:
    """One form for every check-in of a treatment still to be filled, e.g. from a paper diary
    of a week; each row starts at its check-in's opening time."""
    treatment = get_treatment(
        db.session(), clinic_id=current_clinician().clinic_id, treatment_id=treatment_id
    )
    zone = treatment.patient.timezone
    defaults = MultiDict({"source": "paper"})
    for key, checkin in _diary_rows(treatment, utcnow()).items():
        defaults[f"{key}.client_id"] = str(uuid.uuid4())
        # the minute it opened, rounded up: a minute earlier is before it opened
        opened = checkin.due_at + timedelta(seconds=59, microseconds=999999)
        defaults[f"{key}.answered_at"] = local_input(opened, zone)
    return _diary_page(treatment, {}, defaults, 200)


@login_required
def enter_diary(treatment_id: int) -> ResponseReturnValue:
    """Store every filled row of the diary in one transaction (all or none), then the
    patient's page."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    treatment = get_treatment(session, clinic_id=clinician.clinic_id, treatment_id=treatment_id)
    patient_id, zone = treatment.patient_id, treatment.patient.timezone
    # the rows the form was drawn with: one saved since replays, one answered since is refused
    rows = {
        f"checkin{checkin.id}": checkin
        for checkin in treatment.checkins
        if f"checkin{checkin.id}.client_id" in request.form
    }
    try:
        shared = load_form(DiaryForm(), request.form)
        filled = load_diary(
            request.form,
            {key: [item_bank()[code] for code in checkin.items] for key, checkin in rows.items()},
        )
        entries = {
            key: Entry(
                checkin_id=rows[key].id,
                client_id=row["client_id"],
                answers=row["answers"],
                answered_at=from_local_input(row["answered_at"], zone),
            )
            for key, row in filled.items()
        }
        results = commit_or_replay(
            lambda: enter_responses(
                db.session(),
                clinician=clinician,
                entries=entries,
                source=shared["source"],
                note=shared["note"],
                now=now,
            )
        )
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        status = error.status_code if isinstance(error, DomainError) else 422
        treatment = get_treatment(session, clinic_id=clinician.clinic_id, treatment_id=treatment_id)
        return _diary_page(treatment, form_errors(error), request.form, status)
    flags = [flag for result in results for flag in result.flags]
    saved = sum(not result.is_replay for result in results)
    message = (
        f"Answers of {saved} check-in{'' if saved == 1 else 's'} saved."
        if saved
        else "This diary was already saved."
    )
    if flags:
        message += f" {_raised(flags)} See the alerts on this page."
    flash(message, "warning" if flags else "success")
    return redirect(
        url_for("pages.patient", patient_id=patient_id, _anchor=f"treatment-{treatment_id}")
    )


def _raised(flags: Sequence[Flag]) -> str:
    """The red flags an entry raised, in words: 'Red flags: New numbness or weakness (same-day).'"""
    named = "; ".join(f"{flag.summary} ({flag.severity.replace('_', '-')})" for flag in flags)
    return f"Red flag{'s' if len(flags) > 1 else ''}: {named}."
