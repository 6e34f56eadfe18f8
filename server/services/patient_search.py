"""Finding a clinic's patients by code, as a clinician types it: any part, any case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from server.models import Patient, Treatment


@dataclass(frozen=True)
class PatientRow:
    """A patient in a list, with when they were last treated."""

    patient_id: int
    code: str
    display_name: str | None
    timezone: str
    last_treated_at: datetime | None


def _like_pattern(text: str) -> str:
    """The text with LIKE's wildcards escaped (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_patients(
    session: Session, *, clinic_id: int, query: str | None, offset: int = 0, limit: int = 25
) -> tuple[list[PatientRow], int]:
    """The clinic's patients whose code contains ``query`` (case-insensitive), codes that start
    with it first, then by code; and how many match in all."""
    criteria: list[ColumnElement[bool]] = [Patient.clinic_id == clinic_id]
    order: list[ColumnElement[object]] = []
    if query and query.strip():
        escaped = _like_pattern(query.strip())
        criteria.append(Patient.code.ilike(f"%{escaped}%", escape="\\"))
        order.append(case((Patient.code.ilike(f"{escaped}%", escape="\\"), 0), else_=1))
    total = session.scalar(select(func.count(Patient.id)).where(*criteria)) or 0
    last_treated = (
        select(func.max(Treatment.treated_at))
        .where(Treatment.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Patient.id, Patient.code, Patient.display_name, Patient.timezone, last_treated)
        .where(*criteria)
        .order_by(*order, Patient.code, Patient.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        PatientRow(patient_id, code, display_name, timezone, last_treated_at)
        for patient_id, code, display_name, timezone, last_treated_at in rows
    ], total
