"""Recording a treatment: its baseline and its check-ins, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.inputs import EARLIEST_DAY
from server.models import Alert, CheckIn, Clinician, Patient, Response, Treatment
from server.models.treatments import (
    NEEDLE_DIAMETER_MM_RANGE,
    NEEDLE_SITES_RANGE,
    RETENTION_MINUTES_RANGE,
    SIDES,
)
from server.protocols import dump_timepoints
from server.protocols import regions as known_regions
from server.services import outcomes
from server.services.answers import answers_of, record_baseline
from server.services.audit import record_event
from server.services.protocols import protocol_for
from server.services.scheduling import materialise_checkins

# a treatment is recorded at the end of the session; a clock a little fast is not an error
FUTURE_GRACE = timedelta(minutes=15)


def record_treatment(
    session: Session,
    *,
    clinician: Clinician,
    patient: Patient,
    modality: str,
    treated_at: datetime,
    now: datetime,
    regions: list[str] | None = None,
    thoracic_region: bool | None = None,
    baseline: dict[str, object] | None = None,
    baseline_at: datetime | None = None,
    side: str | None = None,
    points: str | None = None,
    note: str | None = None,
    needle_sites: int | None = None,
    retention_minutes: float | None = None,
    needle_diameter_mm: float | None = None,
) -> Treatment:
    """Record a needling session (T0 = treated_at) and schedule its check-ins; the side, the
    points needled, a clinical note and the dose (sites, retention, diameter) are optional
    (blank text is none)."""
    if patient.discharged_at is not None:
        raise Conflict("the patient is discharged: re-admit them first", field="patient")
    protocol = protocol_for(session, clinic_id=clinician.clinic_id, modality=modality)
    if treated_at.tzinfo is None:
        raise InvalidInput("give the time with its UTC offset", field="treated_at")
    if treated_at > now + FUTURE_GRACE:
        raise InvalidInput("a treatment cannot be recorded before it happens", field="treated_at")
    if treated_at.year < EARLIEST_DAY.year:  # the year as written, as the API's pattern reads it
        raise InvalidInput(f"a treatment cannot predate {EARLIEST_DAY}", field="treated_at")
    if (
        baseline_at is not None
        and not treated_at - timedelta(hours=24) <= baseline_at <= treated_at
    ):
        raise InvalidInput(
            "the baseline must be given within 24 h before the treatment", field="baseline_at"
        )
    regions = regions or []
    unknown = [code for code in regions if code not in known_regions()]
    if unknown:
        raise InvalidInput(
            f"unknown regions: {', '.join(unknown)}; use one of: {', '.join(known_regions())}",
            field="regions",
        )
    if side is not None and side not in SIDES:
        raise InvalidInput(f"choose one of: {', '.join(SIDES)}", field="side")
    _check_dose(
        needle_sites=needle_sites,
        retention_minutes=retention_minutes,
        needle_diameter_mm=needle_diameter_mm,
    )
    if thoracic_region is None and regions:
        thoracic_region = any(known_regions()[code].thoracic for code in regions)
    treatment = Treatment(
        clinic_id=clinician.clinic_id,
        patient_id=patient.id,
        clinician_id=clinician.id,
        modality=modality,
        treated_at=treated_at.astimezone(UTC),
        regions=regions,
        thoracic_region=thoracic_region,
        side=side,
        points=(points or "").strip() or None,
        note=(note or "").strip() or None,
        needle_sites=needle_sites,
        retention_minutes=retention_minutes,
        needle_diameter_mm=needle_diameter_mm,
        protocol=dump_timepoints(protocol.timepoints),
        created_at=now,
    )
    session.add(treatment)
    session.flush()
    if baseline:
        record_baseline(
            session,
            treatment=treatment,
            answers=baseline,
            asked=[*protocol.baseline_items, *protocol.baseline_optional_items],
            answered_at=baseline_at or treated_at,
            entered_by_id=clinician.id,
        )
    materialise_checkins(session, treatment, patient, now)
    outcomes.refresh(session, [treatment.id])
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="treatment.recorded",
        target=f"treatment:{treatment.id}",
        at=now,
        patient_id=patient.id,
    )
    session.flush()
    return treatment


def _check_dose(
    *, needle_sites: int | None, retention_minutes: float | None, needle_diameter_mm: float | None
) -> None:
    """Each dose figure given is within its range (the database's CHECK says the same)."""
    given = {
        "needle_sites": (needle_sites, NEEDLE_SITES_RANGE, ""),
        "retention_minutes": (retention_minutes, RETENTION_MINUTES_RANGE, " minutes"),
        "needle_diameter_mm": (needle_diameter_mm, NEEDLE_DIAMETER_MM_RANGE, " mm"),
    }
    for field, (value, (low, high), unit) in given.items():
        if value is not None and not low <= value <= high:
            raise InvalidInput(f"must be from {low:g} to {high:g}{unit}", field=field)


def get_treatment(session: Session, *, clinic_id: int, treatment_id: int) -> Treatment:
    """A treatment of this clinic; another clinic's is 'not found'."""
    treatment = session.scalar(select(Treatment).filter_by(id=treatment_id, clinic_id=clinic_id))
    if treatment is None:
        raise NotFound("no such treatment")
    return treatment


def get_checkin(session: Session, *, clinic_id: int, checkin_id: int) -> CheckIn:
    """A check-in of this clinic; another clinic's is 'not found'."""
    checkin = session.scalar(
        select(CheckIn)
        .join(Treatment)
        .where(CheckIn.id == checkin_id, Treatment.clinic_id == clinic_id)
    )
    if checkin is None:
        raise NotFound("no such check-in")
    return checkin


def treatments_of(session: Session, *, patient: Patient) -> list[Treatment]:
    """The patient's treatments, newest first."""
    return list(
        session.scalars(
            select(Treatment).filter_by(patient_id=patient.id).order_by(Treatment.treated_at.desc())
        )
    )


def treatment_detail(
    session: Session, *, treatment: Treatment, viewer: Clinician, now: datetime
) -> dict[str, Any]:
    """A treatment with its check-ins, answers and alerts; the view is written to the audit log."""
    # read whole (.all()): a cursor left open keeps SQLite's read snapshot, and the audit INSERT
    # below could then not take the write lock once another process had written ("locked")
    responses = session.scalars(
        select(Response).filter_by(treatment_id=treatment.id).order_by(Response.answered_at)
    ).all()
    alerts = session.scalars(
        select(Alert).filter_by(treatment_id=treatment.id).order_by(Alert.id)
    ).all()
    record_event(
        session,
        clinic_id=treatment.clinic_id,
        actor=f"clinician:{viewer.id}",
        action="treatment.viewed",
        target=f"treatment:{treatment.id}",
        at=now,
        patient_id=treatment.patient_id,
    )
    return {
        "id": treatment.id,
        "patient_id": treatment.patient_id,
        "clinician_id": treatment.clinician_id,
        "modality": treatment.modality,
        "treated_at": treatment.treated_at,
        "regions": treatment.regions,
        "thoracic_region": treatment.thoracic_region,
        "side": treatment.side,
        "points": treatment.points,
        "note": treatment.note,
        "needle_sites": treatment.needle_sites,
        "retention_minutes": treatment.retention_minutes,
        "needle_diameter_mm": treatment.needle_diameter_mm,
        "checkins": treatment.checkins,
        "responses": [
            {
                "id": response.id,
                "checkin_id": response.checkin_id,
                "slot": response.slot,
                "client_id": response.client_id,
                "answered_at": response.answered_at,
                "source": response.source,
                "note": response.note,
                "flagged_rules": response.flagged_rules,
                "answers": answers_of(response),
            }
            for response in responses
        ],
        "alerts": list(alerts),
    }
