"""The clinic's retention period: the patients whose last treatment (or registration, if never
treated) is further back than it, proposed to an admin for review and erasure. Clinical records
have legal minimum retention periods: the product proposes, a person decides and erases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import Forbidden
from server.models import Clinician, Patient, Treatment

DAYS_A_YEAR = 365.25


@dataclass(frozen=True)
class PastRetention:
    """A patient past the clinic's retention period, and since when the record is quiet."""

    patient_id: int
    code: str
    last_activity: datetime
    discharged_at: datetime | None


def past_retention(session: Session, *, clinician: Clinician, now: datetime) -> list[PastRetention]:
    """The clinic's patients past its retention period, longest quiet first (admins); none when
    the clinic sets no period."""
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can review records for erasure")
    years = clinician.clinic.retention_years
    if years is None:
        return []
    cutoff = now - timedelta(days=years * DAYS_A_YEAR)
    last_treated = (
        select(Treatment.patient_id, func.max(Treatment.treated_at).label("last"))
        .group_by(Treatment.patient_id)
        .subquery()
    )
    last_activity = func.coalesce(last_treated.c.last, Patient.created_at)
    rows = session.execute(
        select(Patient.id, Patient.code, last_activity.label("last"), Patient.discharged_at)
        .outerjoin(last_treated, last_treated.c.patient_id == Patient.id)
        .where(Patient.clinic_id == clinician.clinic_id, last_activity < cutoff)
        .order_by(last_activity, Patient.code)
    ).all()
    return [PastRetention(row.id, row.code, row.last, row.discharged_at) for row in rows]
