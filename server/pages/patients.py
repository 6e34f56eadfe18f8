"""Patients: the searchable list, one patient's recovery, enrolling a new patient."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from math import ceil
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from server.charts.course import course_figure
from server.charts.patient import MEASURES, recovery_figure, recovery_rows, recovery_table
from server.errors import DomainError, Forbidden, InvalidInput
from server.extensions import db
from server.inputs import UNSTORABLE
from server.models import Patient, Treatment, utcnow
from server.protocols.countries import countries
from server.services.course import CourseStep, patient_course
from server.services.enrolment import EnrolmentLink, issue_enrolment, revoke_patient_tokens
from server.services.erasure import erase_patient
from server.services.fhir import export_patient_bundle
from server.services.patient_list import Sort, patient_list_page
from server.services.patient_record import patient_record
from server.services.patient_search import patient_search
from server.services.patients import (
    create_patient,
    discharge,
    get_patient,
    readmit,
    record_read,
    update_patient,
)
from server.services.red_flags import ACK_LABELS, alert_histories, list_alerts
from server.services.sms import SmsProvider
from server.services.treatments import get_treatment, treatment_detail, treatments_of

from .auth import current_clinician, login_required
from .formatting import COMMON_TIMEZONES, local_time, modality_label
from .forms import (
    DetailsForm,
    EnrolForm,
    MessagesForm,
    PatientPageArgs,
    PatientSearchArgs,
    form_errors,
    load_form,
)

CHANNEL_LABELS = {"push": "app notification", "email": "e-mail", "sms": "text message"}
CONSENT_LABELS = {
    "enrolment": "on the enrolment form",
    "phone": "to a clinician on the phone",
    "paper": "on a paper form",
}
PATIENTS_PER_PAGE = 25
# each treatment brings a chart: a few per page keep the page light on a tablet
TREATMENTS_PER_PAGE = 5
# a Plotly figure costs tens of milliseconds to build: the newest treatments' charts are built
# with the page, an older one's when asked (its numbers are always in the table beside it)
CHARTED_ON_LOAD = 5


@login_required
def patient_list() -> ResponseReturnValue:
    """The clinic's patients as a triage list: searched by code or name, sorted by a column
    (the most severe open alerts first unless asked otherwise)."""
    try:
        args = load_form(PatientSearchArgs(), request.args)
    except ma.ValidationError:
        # a search too long or not storable: what can be searched of it
        args = {"q": UNSTORABLE.sub("", request.args.get("q", ""))[:64], "page": 1}
    clinician, now = current_clinician(), utcnow()
    record_read(db.session(), viewer=clinician, now=now)
    listed = patient_list_page(
        db.session(),
        clinic_id=clinician.clinic_id,
        now=now,
        search=patient_search(args["q"]),
        sort=Sort.parse(request.args.get("sort")),
        offset=(args["page"] - 1) * PATIENTS_PER_PAGE,
        limit=PATIENTS_PER_PAGE,
    )
    pages = max(1, ceil(listed.counts.total / PATIENTS_PER_PAGE))
    return render_template(
        "patients.html", listed=listed, page=args["page"], pages=pages, q=args["q"] or "", now=now
    )


@login_required
def patient_page(patient_id: int) -> ResponseReturnValue:
    """One patient: open alerts, their course across treatments, then each treatment (newest
    first) with its recovery chart, check-ins and answers. Every treatment shown is written to
    the audit log as viewed; an older treatment's chart is drawn when asked (``?chart=<id>``)."""
    clinician = current_clinician()
    patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
    record_read(db.session(), viewer=clinician, now=utcnow(), patient=patient)
    return _patient_page(patient)


@login_required
def discharge_patient(patient_id: int) -> ResponseReturnValue:
    """Discharge the patient (their open check-ins are cancelled)."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    cancelled = discharge(session, clinician=clinician, patient=patient, now=now)
    flash(
        f"Patient {patient.code} is discharged: {cancelled} open check-in"
        f"{'' if cancelled == 1 else 's'} cancelled, no more prompts. The record stays.",
        "success",
    )
    return redirect(url_for("pages.patient", patient_id=patient.id))


@login_required
def readmit_patient(patient_id: int) -> ResponseReturnValue:
    """Re-admit a discharged patient."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    reopened = readmit(session, clinician=clinician, patient=patient, now=now)
    flash(
        f"Patient {patient.code} is re-admitted; {reopened} check-in"
        f"{'' if reopened == 1 else 's'} planned again.",
        "success",
    )
    return redirect(url_for("pages.patient", patient_id=patient.id))


@login_required
def record_fhir(patient_id: int) -> ResponseReturnValue:
    """The patient's whole record as a FHIR R4 file, to hand over (audited)."""
    clinician, session = current_clinician(), db.session()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    bundle = export_patient_bundle(
        session,
        clinician=clinician,
        patient=patient,
        base_url=current_app.config["PUBLIC_BASE_URL"],
        now=utcnow(),
    )
    response = make_response(json.dumps(bundle, indent=1))
    response.mimetype = "application/fhir+json"
    disposition = f'attachment; filename="{patient.code}-record.fhir.json"'
    response.headers["Content-Disposition"] = disposition
    return response


@login_required
def summary(patient_id: int) -> ResponseReturnValue:
    """The patient's whole record on one printable page (audited)."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    records = patient_record(session, clinician=clinician, patient=patient, now=now)
    return render_template(
        "summary.html", patient=patient, records=records, now=now, ack_labels=ACK_LABELS
    )


@login_required
def erase_form(patient_id: int) -> ResponseReturnValue:
    """The confirmation step of an erasure: what goes, and the patient's code to type."""
    clinician = current_clinician()
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can erase a patient's data")
    patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
    return render_template("erase.html", patient=patient, errors={})


@login_required
def erase(patient_id: int) -> ResponseReturnValue:
    """Erase the patient once their code is typed."""
    clinician, session = current_clinician(), db.session()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    code = patient.code
    try:
        erase_patient(
            session,
            clinician=clinician,
            patient=patient,
            confirm=request.form.get("confirm", ""),
            now=utcnow(),
        )
    except InvalidInput as error:
        session.rollback()
        patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
        return render_template("erase.html", patient=patient, errors=form_errors(error)), 422
    flash(
        f"Everything about patient {code} is erased; the audit log keeps only that it was.",
        "success",
    )
    return redirect(url_for("pages.patients"))


@login_required
def revoke_devices(patient_id: int) -> ResponseReturnValue:
    """End every device and link of the patient (a lost phone)."""
    clinician, session = current_clinician(), db.session()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    revoked = revoke_patient_tokens(session, clinician=clinician, patient=patient, now=utcnow())
    flash(
        f"{revoked} device{'' if revoked == 1 else 's'} signed out, and every check-in link sent "
        "stops working. Make a new enrolment link for their new phone.",
        "success",
    )
    return redirect(url_for("pages.patient", patient_id=patient.id))


@login_required
def save_details(patient_id: int) -> ResponseReturnValue:
    """Change the patient's name, time zone, country, e-mail and quiet hours; check-ins not yet
    sent follow a new zone or quiet hours."""
    clinician, session = current_clinician(), db.session()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    clock = (patient.timezone, patient.quiet_start, patient.quiet_end)
    try:
        changes = load_form(DetailsForm(), request.form)
        update_patient(session, clinician=clinician, patient=patient, now=utcnow(), changes=changes)
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        return _patient_page(
            patient, form="details", errors=form_errors(error), posted=request.form, status=422
        )
    replanned = clock != (patient.timezone, patient.quiet_start, patient.quiet_end)
    flash(
        "The patient's details are saved"
        + ("; check-ins not yet sent now follow the new times." if replanned else "."),
        "success",
    )
    return redirect(url_for("pages.patient", patient_id=patient.id))


@login_required
def save_messages(patient_id: int) -> ResponseReturnValue:
    """Set how the patient is reached: their mobile, consent to texts, the channels' order."""
    clinician, session = current_clinician(), db.session()
    patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
    try:
        changes = load_form(MessagesForm(), request.form, lists=("channel_order",))
        update_patient(session, clinician=clinician, patient=patient, now=utcnow(), changes=changes)
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        posted = {**request.form.to_dict(), "channel_order": request.form.getlist("channel_order")}
        return _patient_page(
            patient, form="messages", errors=form_errors(error), posted=posted, status=422
        )
    flash("How the patient is reached is saved.", "success")
    return redirect(url_for("pages.patient", patient_id=patient.id, _anchor="messages-title"))


def _patient_page(
    patient: Patient,
    *,
    form: str | None = None,
    errors: dict[str, list[str]] | None = None,
    posted: Mapping[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The patient page; ``form`` names the form whose posted values and errors are shown."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    try:
        args = load_form(PatientPageArgs(), request.args)
    except ma.ValidationError:
        args = {"page": 1, "chart": None}
    page = args["page"]
    treatments = treatments_of(session, patient=patient)
    first = (page - 1) * TREATMENTS_PER_PAGE
    shown = treatments[first : first + TREATMENTS_PER_PAGE]
    cards = [
        _treatment_card(
            treatment,
            treatment_detail(session, treatment=treatment, viewer=clinician, now=now),
            now,
            charted=first + index < CHARTED_ON_LOAD or treatment.id == args["chart"],
        )
        for index, treatment in enumerate(shown)
    ]
    shown_alerts = [alert for card in cards for alert in card["alerts"]]
    html = render_template(
        "patient.html",
        patient=patient,
        course=_course(patient) if page == 1 else None,
        cards=cards,
        alerts=list_alerts(session, clinic_id=clinician.clinic_id, patient_id=patient.id),
        histories=alert_histories(session, alerts=shown_alerts),
        ack_labels=ACK_LABELS,
        now=now,
        page=page,
        pages=max(1, ceil(len(treatments) / TREATMENTS_PER_PAGE)),
        failed_form=form,
        errors=errors or {},
        posted=posted,
        zones=COMMON_TIMEZONES,
        countries=_countries(),
        channel_labels=CHANNEL_LABELS,
        consent_labels=CONSENT_LABELS,
        texts_on=SmsProvider.from_config(current_app.config).is_configured,
    )
    return html, status


def _treatment_card(
    treatment: Treatment, detail: dict[str, Any], now: datetime, *, charted: bool
) -> dict[str, Any]:
    """A treatment as the patient page shows it: detail, the chart's numbers, and the chart
    itself when ``charted`` (else None: the page offers to draw it)."""
    points, baseline = recovery_rows(detail["treated_at"], detail["responses"])
    return {
        **detail,
        "figure": recovery_figure(points, baseline) if charted and (points or baseline) else None,
        "table": recovery_table(points, baseline),
        "slot_label": treatment.slot_label,
        "to_enter": sum(checkin.takes_entry_at(now) for checkin in detail["checkins"]),
        "responses_by_checkin": {
            response["checkin_id"]: response for response in detail["responses"]
        },
        "baseline": next(
            (response for response in detail["responses"] if response["slot"] == "baseline"),
            None,
        ),
    }


def _course(patient: Patient) -> dict[str, Any]:
    """The patient's course for the page: the treatments with some answer, oldest first, each
    labelled by date and modality, and their chart (None when no treatment has an answer)."""
    steps = [step for step in patient_course(db.session(), patient=patient) if step.is_answered]
    labels = [course_label(step, g.clinic_zone) for step in steps]
    names = [label.replace("<br>", ", ") for label in labels]
    return {
        "rows": list(zip(names, steps, strict=True)),
        "figure": course_figure(steps, labels) if steps else None,
    }


def course_label(step: CourseStep, zone: str) -> str:
    """A treatment as the course names it: its day on the clinic's clock and its modality,
    on two lines ("Tue 3 Nov<br>Dry needling"); the year too when it is not this one."""
    day = step.treated_at.astimezone(ZoneInfo(zone))
    this_year = day.year == utcnow().astimezone(day.tzinfo).year
    when = f"{day:%a} {day.day} {day:%b}" + ("" if this_year else f" {day.year}")
    return f"{when}<br>{modality_label(step.modality)}"


@login_required
def recovery_csv(treatment_id: int) -> ResponseReturnValue:
    """A treatment's soreness, pain and mobility by hours since treatment, as CSV."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    treatment = get_treatment(session, clinic_id=clinician.clinic_id, treatment_id=treatment_id)
    detail = treatment_detail(session, treatment=treatment, viewer=clinician, now=now)
    points, baseline = recovery_rows(detail["treated_at"], detail["responses"])
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["hours_since_treatment", "checkin", *MEASURES])
    writer.writeheader()
    for row in recovery_table(points, baseline):
        writer.writerow(
            {"hours_since_treatment": row["hours"], "checkin": row["slot"]}
            | {code: row[code] for code in MEASURES}
        )
    code = treatment.patient.code
    response = Response(text.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{code}-treatment-{treatment_id}-recovery.csv"'
    )
    return response


def _countries() -> list[Any]:
    return sorted(countries().values(), key=lambda country: country.name)


def _enrol_page(
    errors: dict[str, list[str]], fields: dict[str, str], status: int
) -> tuple[str, int]:
    default_zone = cookie_session.get("last_timezone")
    page = render_template(
        "enrol.html",
        errors=errors,
        fields=fields,
        zones=COMMON_TIMEZONES,
        countries=_countries(),
        default_zone=default_zone or "UTC",
        zone_from_browser=default_zone is None,
    )
    return page, status


@login_required
def enrol_form() -> ResponseReturnValue:
    """The form to register and enrol a new patient."""
    return _enrol_page({}, {}, 200)


@login_required
def enrol() -> ResponseReturnValue:
    """Register the patient and show their one-time enrolment link and QR code."""
    clinician, session, now = current_clinician(), db.session(), utcnow()
    try:
        fields = load_form(EnrolForm(), request.form)
        patient = create_patient(session, clinician=clinician, now=now, **fields)
        link = _issue_link(patient)
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        status = error.status_code if isinstance(error, DomainError) else 422
        return _enrol_page(form_errors(error), request.form.to_dict(), status)
    # the next patient probably lives in the same zone
    cookie_session["last_timezone"] = patient.timezone
    return _link_page(patient, link, is_new=True)


@login_required
def new_enrolment_link(patient_id: int) -> ResponseReturnValue:
    """A fresh enrolment link for a patient (a new phone); earlier unused links stop working."""
    clinician = current_clinician()
    patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
    link = _issue_link(patient)
    return _link_page(patient, link, is_new=False)


def _issue_link(patient: Patient) -> EnrolmentLink:
    return issue_enrolment(
        db.session(),
        clinician=current_clinician(),
        patient=patient,
        now=utcnow(),
        base_url=current_app.config["PUBLIC_BASE_URL"],
        ttl=timedelta(hours=current_app.config["ENROLMENT_TTL_HOURS"]),
    )


def _link_page(patient: Patient, link: EnrolmentLink, *, is_new: bool) -> Response:
    """The link is shown once, in the answer to the POST that made it: only its hash is kept."""
    response = Response(
        render_template(
            "enrolment_link.html",
            patient=patient,
            link=link,
            expires=local_time(link.expires_at, patient.timezone),
            is_new=is_new,
        ),
        status=201,
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
