"""Typed builders for tests: each makes a valid object with overridable fields, and flushes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from server.models import Clinic, Clinician, Patient, Treatment
from server.services.clinics import create_clinic, create_clinician, issue_api_token
from server.services.patients import create_patient
from server.services.treatments import record_treatment

PASSWORD = "correct horse battery"
# a fixed clock for service tests: Tuesday 24 Nov 2026, 17:00 UTC (09:00 in Vancouver)
NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def make_clinic(session: Session, name: str = "Harbour Physio", **overrides: Any) -> Clinic:
    """A clinic."""
    return create_clinic(session, name=name, **overrides)


def make_clinician(
    session: Session,
    clinic: Clinic | None = None,
    *,
    email: str | None = None,
    role: str = "clinician",
) -> Clinician:
    """A clinician (of a new clinic unless one is given) with the password PASSWORD."""
    clinic = clinic or make_clinic(session)
    email = email or f"{role}{clinic.id}.{len(clinic.clinicians)}@example.org"
    return create_clinician(session, clinic=clinic, email=email, password=PASSWORD, role=role)


def make_patient(
    session: Session,
    clinician: Clinician,
    *,
    code: str = "P-001",
    timezone: str = "America/Vancouver",
    **overrides: Any,
) -> Patient:
    """A patient of the clinician's clinic; quiet hours 22:00-08:00 unless ``quiet_hours=`` says
    otherwise (``None``: prompted at any hour)."""
    return create_patient(
        session, clinician=clinician, code=code, timezone=timezone, now=NOW, **overrides
    )


def make_treatment(
    session: Session,
    clinician: Clinician,
    patient: Patient,
    *,
    modality: str = "dry_needling",
    treated_at: datetime = NOW,
    now: datetime | None = None,
    **overrides: Any,
) -> Treatment:
    """A treatment recorded at ``now`` (default: its own T0), with its check-ins."""
    return record_treatment(
        session,
        clinician=clinician,
        patient=patient,
        modality=modality,
        treated_at=treated_at,
        now=now or treated_at,
        **overrides,
    )


def bearer(session: Session, clinician: Clinician) -> dict[str, str]:
    """Authorization headers with a fresh API token of the clinician (committed)."""
    token = issue_api_token(session, clinician=clinician, now=NOW)
    session.commit()
    return {"Authorization": f"Bearer {token}"}
