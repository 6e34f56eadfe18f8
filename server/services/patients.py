"""Patients: registration, their settings (time zone, quiet hours), lookups scoped to a clinic."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.models import Clinician, Patient
from server.services.audit import record_event
from server.services.contacts import check_country, check_emergency_number
from server.services.scheduling import reschedule_patient
from server.services.zones import check_timezone

DEFAULT_QUIET_HOURS = (time(22, 0), time(8, 0))
_UNSET: Any = object()


def _check_quiet_hours(quiet_hours: dict[str, time] | None) -> tuple[time | None, time | None]:
    if quiet_hours is None:
        return None, None
    start, end = quiet_hours["start"], quiet_hours["end"]
    if start == end:
        raise InvalidInput(
            "start and end must differ; send null for no quiet hours", field="quiet_hours"
        )
    return start, end


def create_patient(
    session: Session,
    *,
    clinician: Clinician,
    code: str,
    timezone: str,
    now: datetime,
    quiet_hours: dict[str, time] | None = _UNSET,
    display_name: str | None = None,
    email: str | None = None,
    country: str | None = None,
    emergency_number: str | None = None,
) -> Patient:
    """Register a patient of the clinician's clinic; quiet hours default to 22:00-08:00, the
    country to the one of their time zone."""
    if quiet_hours is _UNSET:
        quiet_hours = {"start": DEFAULT_QUIET_HOURS[0], "end": DEFAULT_QUIET_HOURS[1]}
    start, end = _check_quiet_hours(quiet_hours)
    code = code.strip()
    if session.scalar(select(Patient).filter_by(clinic_id=clinician.clinic_id, code=code)):
        raise Conflict("this clinic already has a patient with that code", field="code")
    patient = Patient(
        clinic_id=clinician.clinic_id,
        code=code,
        timezone=check_timezone(timezone),
        quiet_start=start,
        quiet_end=end,
        display_name=display_name,
        email=email,
        country=check_country(country),
        emergency_number=check_emergency_number(emergency_number, field="emergency_number"),
        created_at=now,
    )
    session.add(patient)
    session.flush()
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.created",
        target=f"patient:{patient.id}",
        at=now,
    )
    return patient


def update_patient(
    session: Session,
    *,
    clinician: Clinician,
    patient: Patient,
    now: datetime,
    changes: dict[str, Any],
) -> Patient:
    """Change a patient's details; a new time zone or quiet hours re-plans unsent check-ins."""
    replan = False
    if "timezone" in changes and changes["timezone"] != patient.timezone:
        patient.timezone = check_timezone(changes["timezone"])
        replan = True
    if "quiet_hours" in changes:
        start, end = _check_quiet_hours(changes["quiet_hours"])
        replan = replan or (start, end) != (patient.quiet_start, patient.quiet_end)
        patient.quiet_start, patient.quiet_end = start, end
    for name in ("display_name", "email"):
        if name in changes:
            setattr(patient, name, changes[name])
    if "country" in changes:
        patient.country = check_country(changes["country"])
    if "emergency_number" in changes:
        patient.emergency_number = check_emergency_number(
            changes["emergency_number"], field="emergency_number"
        )
    if replan:
        reschedule_patient(session, patient, now=now)
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.updated",
        target=f"patient:{patient.id}",
        at=now,
        details={"fields": sorted(changes), "rescheduled": replan},
    )
    session.flush()
    return patient


def get_patient(session: Session, *, clinic_id: int, patient_id: int) -> Patient:
    """A patient of this clinic; another clinic's patient is 'not found'."""
    patient = session.scalar(select(Patient).filter_by(id=patient_id, clinic_id=clinic_id))
    if patient is None:
        raise NotFound("no such patient")
    return patient


def list_patients(
    session: Session,
    *,
    clinic_id: int,
    code_prefix: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Patient], int]:
    """The clinic's patients by code, optionally those whose code starts with a prefix."""
    query = select(Patient).filter_by(clinic_id=clinic_id)
    if code_prefix:
        escaped = code_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Patient.code.ilike(f"{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    patients = session.scalars(query.order_by(Patient.code).offset(offset).limit(limit))
    return list(patients), total
