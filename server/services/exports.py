"""Exports of a clinic's answers: tidy CSV (streamed) here, and a FHIR R4 Bundle in
``server.services.fhir`` (CLINICAL.md §6).

Both take the same filters: ``date_from`` / ``date_to`` are inclusive UTC calendar days of
``treated_at``, ``modality`` one of the three. Both write an audit event to the caller's
transaction; the caller commits it.

CSV: one row per answer, columns in this order (stable: add new ones at the end only):

==========================  ===================================================================
patient_code                the clinic's code for the patient
treatment_id                the treatment (needling session)
modality                    ims | dry_needling | acupuncture
treated_at                  T0, ISO 8601 UTC (``2026-11-24T17:00:00Z``)
clinician_id                who treated (empty when that clinician was deleted)
regions                     body region codes, ``;``-joined
slot                        the check-in (``6h``, ``24h``, ...) or ``baseline``
nominal_hours               the protocol's time point in hours (empty for the baseline)
response_id                 the submission the answer belongs to
source                      app | baseline | phone | paper | clinic
entered_by_id               the clinician who typed it in (empty when the patient did)
answered_at                 ISO 8601 UTC
hours_since_treatment       answered_at - treated_at, 2 decimals; negative (or 0.00) for a
                            baseline, which is given before the first needle
item_code                   the item bank code (= FHIR linkId)
value                       readable: 0 to 10 as an integer, yes/no, the choice code, the text
value_num                   as stored: scales as integers, yes/no as 1/0
value_text                  as stored: choice codes and free text
needle_sites                the treatment's dose: number of needle sites (empty: not recorded)
retention_minutes           the dose: needle retention in minutes (IMS's seconds as fractions)
needle_diameter_mm          the dose: needle diameter in mm
==========================  ===================================================================

Text a patient or clinician typed (patient_code, value, value_text) that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a spreadsheet shows it
as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.orm import Session

from server.models import Answer, CheckIn, Clinician, Patient, Response, Treatment
from server.protocols import Value, item_bank
from server.services.audit import record_event

CSV_COLUMNS = (
    "patient_code",
    "treatment_id",
    "modality",
    "treated_at",
    "clinician_id",
    "regions",
    "slot",
    "nominal_hours",
    "response_id",
    "source",
    "entered_by_id",
    "answered_at",
    "hours_since_treatment",
    "item_code",
    "value",
    "value_num",
    "value_text",
    "needle_sites",
    "retention_minutes",
    "needle_diameter_mm",
)
CSV_CHUNK_ROWS = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# FHIR JSON: nested objects of many shapes, checked by fhir.resources in the tests
Resource = dict[str, Any]


@dataclass(frozen=True)
class ExportScope:
    """Which treatments an export covers: the clinic's, optionally by day range and modality."""

    clinic_id: int
    date_from: date | None = None
    date_to: date | None = None
    modality: str | None = None

    def criteria(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses on Treatment."""
        clauses = [Treatment.clinic_id == self.clinic_id]
        if self.date_from is not None:
            clauses.append(Treatment.treated_at >= datetime.combine(self.date_from, time(), UTC))
        if self.date_to is not None:
            day_after = self.date_to + timedelta(days=1)
            clauses.append(Treatment.treated_at < datetime.combine(day_after, time(), UTC))
        if self.modality is not None:
            clauses.append(Treatment.modality == self.modality)
        return clauses

    def audit_details(self) -> dict[str, str | None]:
        """The filters as JSON-ready values for the audit log."""
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in asdict(self).items()
            if name != "clinic_id"
        }


# --- CSV -----------------------------------------------------------------------------------------


def begin_csv_export(
    session: Session,
    *,
    clinician: Clinician,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    modality: str | None = None,
) -> ExportScope:
    """Audit a CSV export of the clinician's clinic (with its row count); return its scope.

    The caller commits the audit event, then streams ``csv_lines(session, scope=...)``.
    """
    scope = ExportScope(clinician.clinic_id, date_from, date_to, modality)
    rows = session.scalar(
        _answer_rows(scope).order_by(None).with_only_columns(func.count(Answer.id))
    )
    audit_export(
        session, clinician=clinician, action="export.csv", scope=scope, now=now, rows=rows or 0
    )
    return scope


def csv_lines(session: Session, *, scope: ExportScope) -> Iterator[str]:
    """The header, then up to CSV_CHUNK_ROWS lines per chunk; never the whole export at once."""
    yield _csv_text([list(CSV_COLUMNS)])
    # yield_per: rows arrive in batches (a server-side cursor on PostgreSQL), not all at once
    result = session.execute(_answer_rows(scope).execution_options(yield_per=CSV_CHUNK_ROWS))
    try:
        for batch in result.partitions():
            yield _csv_text([_csv_row(row) for row in batch])
    finally:
        result.close()  # also when the client goes away part-way


def _answer_rows(scope: ExportScope) -> Select[*tuple[Any, ...]]:
    """One row per answer with its response, treatment, patient and (for check-ins) slot hours."""
    return (
        select(
            Patient.code.label("patient_code"),
            Treatment.id.label("treatment_id"),
            Treatment.modality,
            Treatment.treated_at,
            Treatment.clinician_id,
            Treatment.regions,
            Treatment.needle_sites,
            Treatment.retention_minutes,
            Treatment.needle_diameter_mm,
            Response.slot,
            CheckIn.nominal_hours,
            Response.id.label("response_id"),
            Response.source,
            Response.entered_by_id,
            Response.answered_at,
            Answer.item_code,
            Answer.value_num,
            Answer.value_text,
        )
        .select_from(Answer)
        .join(Response, Answer.response_id == Response.id)
        .join(Treatment, Response.treatment_id == Treatment.id)
        .join(Patient, Treatment.patient_id == Patient.id)
        .outerjoin(CheckIn, Response.checkin_id == CheckIn.id)  # the baseline has no check-in
        .where(*scope.criteria())
        .order_by(Treatment.treated_at, Treatment.id, Response.answered_at, Response.id, Answer.id)
    )


def _csv_text(lines: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue()


def _csv_row(row: Row[Any]) -> list[str]:
    """One answer as CSV cells, in CSV_COLUMNS order."""
    # whole hundredths of an hour first, so a moment just before T0 prints 0.00, not -0.00
    hundredths = round((row.answered_at - row.treated_at).total_seconds() / 36)
    value = item_bank()[row.item_code].from_columns(row.value_num, row.value_text)
    return [
        spreadsheet_safe(row.patient_code),
        str(row.treatment_id),
        row.modality,
        utc_text(row.treated_at),
        _text(row.clinician_id),
        ";".join(row.regions),
        row.slot,
        "" if row.nominal_hours is None else f"{row.nominal_hours:g}",
        str(row.response_id),
        row.source,
        _text(row.entered_by_id),
        utc_text(row.answered_at),
        f"{hundredths / 100:.2f}",
        row.item_code,
        spreadsheet_safe(_readable(value)),
        _text(row.value_num),
        spreadsheet_safe(_text(row.value_text)),
        _text(row.needle_sites),
        "" if row.retention_minutes is None else f"{row.retention_minutes:g}",
        "" if row.needle_diameter_mm is None else f"{row.needle_diameter_mm:g}",
    ]


def _readable(value: Value | None) -> str:
    """An answer as a reader expects it: 7, yes, small, or the text typed."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _text(value)


def spreadsheet_safe(cell: str) -> str:
    """Typed text that a spreadsheet would run as a formula, made plain with a leading quote."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def _text(value: object) -> str:
    return "" if value is None else str(value)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_export(
    session: Session,
    *,
    clinician: Clinician,
    action: str,
    scope: ExportScope,
    now: datetime,
    **counts: int,
) -> None:
    record_event(
        session,
        clinic_id=scope.clinic_id,
        actor=f"clinician:{clinician.id}",
        action=action,
        at=now,
        details={**scope.audit_details(), **counts},
    )
