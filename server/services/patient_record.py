"""One patient's whole record as a person reads it (the printable summary a clinic hands over
at the patient's request): each treatment with its answers in words and its red flags with
what was done about them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.models import Alert, Clinician, Patient, Response, Treatment
from server.protocols import Value, item_bank
from server.services.answers import answers_of
from server.services.audit import record_event
from server.services.questions import question


@dataclass(frozen=True)
class AnswerLine:
    """One answer: the question as asked and the answer in words."""

    question: str
    answer: str


@dataclass(frozen=True)
class ResponseLines:
    """One check-in's (or the baseline's) answers, with the time point's label."""

    response: Response
    label: str
    lines: list[AnswerLine]


@dataclass(frozen=True)
class TreatmentRecord:
    """A treatment with its answers and red flags, oldest answer first."""

    treatment: Treatment
    responses: list[ResponseLines]
    alerts: list[Alert]


@dataclass(frozen=True)
class PatientRows:
    """Everything recorded of one patient, each kind oldest first."""

    treatments: Sequence[Treatment]
    responses: Sequence[Response]  # with their answers and treatment loaded
    alerts: Sequence[Alert]


def patient_rows(session: Session, *, patient: Patient) -> PatientRows:
    """The patient's treatments, responses and red flags (the summary and the FHIR record)."""
    treatments = session.scalars(
        select(Treatment)
        .filter_by(patient_id=patient.id)
        .order_by(Treatment.treated_at, Treatment.id)
    ).all()
    responses = session.scalars(
        select(Response)
        .join(Treatment, Response.treatment_id == Treatment.id)
        .where(Treatment.patient_id == patient.id)
        .options(selectinload(Response.answers), selectinload(Response.treatment))
        .order_by(Response.answered_at, Response.id)
    ).all()
    alerts = session.scalars(
        select(Alert).filter_by(patient_id=patient.id).order_by(Alert.created_at, Alert.id)
    ).all()
    return PatientRows(treatments, responses, alerts)


def patient_record(
    session: Session, *, clinician: Clinician, patient: Patient, now: datetime
) -> list[TreatmentRecord]:
    """The patient's treatments, oldest first, each whole (audited as printed)."""
    rows = patient_rows(session, patient=patient)
    record_event(
        session,
        clinic_id=patient.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.summary_printed",
        target=f"patient:{patient.id}",
        at=now,
    )
    return [
        _treatment_record(
            treatment,
            [response for response in rows.responses if response.treatment_id == treatment.id],
            [alert for alert in rows.alerts if alert.treatment_id == treatment.id],
        )
        for treatment in rows.treatments
    ]


def _treatment_record(
    treatment: Treatment, responses: Sequence[Response], alerts: Sequence[Alert]
) -> TreatmentRecord:
    # the mobility question names the activity the patient chose at this treatment's baseline
    activity = next(
        (
            answers_of(response).get("mobility_activity")
            for response in responses
            if response.slot == "baseline"
        ),
        None,
    )
    return TreatmentRecord(
        treatment,
        [
            ResponseLines(
                response,
                treatment.slot_label(response.slot),
                _lines(response, str(activity) if activity else None),
            )
            for response in responses
        ],
        list(alerts),
    )


def _lines(response: Response, activity: str | None) -> list[AnswerLine]:
    bank, order = item_bank(), list(item_bank())
    answers = sorted(answers_of(response).items(), key=lambda pair: order.index(pair[0]))
    at_baseline = response.slot == "baseline"
    return [
        AnswerLine(
            question(bank[code], activity=activity, at_baseline=at_baseline)["text"],
            _words(code, value),
        )
        for code, value in answers
        if value is not None
    ]


def _words(code: str, value: Value) -> str:
    item = item_bank()[code]
    if item.kind == "boolean":
        return "yes" if value else "no"
    if item.kind == "choice":
        return next((o.label for o in item.options if o.code == value), str(value))
    if item.kind == "scale":
        return f"{value} out of {item.max}"
    return str(value)
