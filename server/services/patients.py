"""Patients: registration, their settings (time zone, quiet hours), lookups scoped to a clinic."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.models import CheckIn, Clinician, Patient, Treatment
from server.models.patients import CHANNELS, CONSENT_SOURCES
from server.models.treatments import OPEN_STATUSES
from server.services.audit import record_event
from server.services.contacts import (
    check_country,
    check_emergency_number,
    check_phone,
    patient_country,
)
from server.services.scheduling import reschedule_patient
from server.services.zones import check_quiet_hours, check_timezone

_UNSET: Any = object()


def check_channel_order(order: list[str]) -> str:
    """A patient's channels in the order tried: each of CHANNELS at most once, at least one."""
    unknown = [name for name in order if name not in CHANNELS]
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a channel; use {', '.join(CHANNELS)}", field="channel_order"
        )
    if not order or len(set(order)) != len(order):
        raise InvalidInput("name each channel once, at least one", field="channel_order")
    return ",".join(order)


def set_sms_consent(patient: Patient, source: str | None, *, now: datetime) -> None:
    """Record the patient's consent to texts and where it was given (None: withdrawn). A
    landline cannot take a text: consent for one is refused rather than texts sent to fail.
    An opt-out (STOP) stands until the patient texts START: a clinic cannot lift it."""
    if source is None:
        patient.sms_consent_at = patient.sms_consent_source = None
        return
    if source not in CONSENT_SOURCES:
        raise InvalidInput(f"must be one of: {', '.join(CONSENT_SOURCES)}", field="sms_consent")
    if patient.phone is None:
        raise InvalidInput("give the patient's mobile number first", field="sms_consent")
    kind = phonenumbers.number_type(phonenumbers.parse(patient.phone))
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise InvalidInput("this number is a landline: texts cannot reach it", field="sms_consent")
    patient.sms_consent_at, patient.sms_consent_source = now, source


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
    phone: str | None = None,
    sms_consent: str | None = None,
    channel_order: list[str] | None = None,
) -> Patient:
    """Register a patient of the clinician's clinic; quiet hours default to 22:00-08:00, the
    country to the one of their time zone, the channels to push, e-mail, then texts.
    ``sms_consent`` is where consent to texts was given, if it was."""
    if quiet_hours is _UNSET:  # the clinic's default for new patients
        clinic = clinician.clinic
        quiet_hours = (
            {"start": clinic.default_quiet_start, "end": clinic.default_quiet_end}
            if clinic.default_quiet_start is not None and clinic.default_quiet_end is not None
            else None
        )
    start, end = check_quiet_hours(quiet_hours)
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
    if channel_order is not None:
        patient.channel_order = check_channel_order(channel_order)
    patient.phone = check_phone(phone, country=patient_country(patient))
    set_sms_consent(patient, sms_consent, now=now)
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
        start, end = check_quiet_hours(changes["quiet_hours"])
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
    if "channel_order" in changes:
        patient.channel_order = check_channel_order(changes["channel_order"])
    if "phone" in changes:
        patient.phone = check_phone(changes["phone"], country=patient_country(patient))
        if patient.phone is None:
            set_sms_consent(patient, None, now=now)  # no number: nothing to consent to
    if "sms_consent" in changes:
        set_sms_consent(patient, changes["sms_consent"], now=now)
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


def discharge(session: Session, *, clinician: Clinician, patient: Patient, now: datetime) -> int:
    """End the patient's care: every open check-in is cancelled (no more prompts or reminders),
    the record stays; returns how many check-ins were cancelled (audited)."""
    if patient.discharged_at is not None:
        raise Conflict("the patient is already discharged", field="discharged")
    cancelled = session.execute(
        update(CheckIn)
        .where(
            CheckIn.treatment_id.in_(select(Treatment.id).filter_by(patient_id=patient.id)),
            CheckIn.status.in_(OPEN_STATUSES),
        )
        .values(status="cancelled", cancelled_at=now, claimed_until=None, claimed_by=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount  # type: ignore[attr-defined]
    patient.discharged_at = now
    _audit(session, clinician, patient, "patient.discharged", now, {"cancelled": cancelled})
    return int(cancelled)


def readmit(session: Session, *, clinician: Clinician, patient: Patient, now: datetime) -> int:
    """Undo a discharge: check-ins the discharge cancelled whose windows are still open or to
    come are planned again; returns how many (audited)."""
    if patient.discharged_at is None:
        raise Conflict("the patient is not discharged", field="discharged")
    reopened = 0
    for checkin in session.scalars(
        select(CheckIn)
        .join(Treatment)
        .where(
            Treatment.patient_id == patient.id,
            CheckIn.status == "cancelled",
            CheckIn.cancelled_at == patient.discharged_at,
            CheckIn.expires_at > now,
        )
    ):
        checkin.schedule(due_at=checkin.due_at, expires_at=checkin.expires_at, remind_at=None)
        checkin.cancelled_at = None
        reopened += 1
    patient.discharged_at = None
    reschedule_patient(session, patient, now=now)  # reminders and quiet hours as now
    _audit(session, clinician, patient, "patient.readmitted", now, {"reopened": reopened})
    return reopened


def _audit(
    session: Session,
    clinician: Clinician,
    patient: Patient,
    action: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    record_event(
        session,
        clinic_id=patient.clinic_id,
        actor=f"clinician:{clinician.id}",
        action=action,
        target=f"patient:{patient.id}",
        at=now,
        details=details,
    )
    session.flush()


def record_read(
    session: Session, *, viewer: Clinician, now: datetime, patient: Patient | None = None
) -> None:
    """A clinician read a patient's record (``patient``) or the patient list: audited, without
    what was shown."""
    record_event(
        session,
        clinic_id=viewer.clinic_id,
        actor=f"clinician:{viewer.id}",
        action="patient.viewed" if patient else "patients.listed",
        target=f"patient:{patient.id}" if patient else None,
        at=now,
    )


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
