"""Outcome against dose within a modality (issue 24 §4): soreness at 24 h by the number of
needle sites, the needle retention and the needle diameter, each binned, in one statement of
three GROUP BYs. The bins are data (``DOSE_SCALES``); a treatment with no dose recorded counts
in its scale's "not recorded" cell, so the reader sees how much of the data has a dose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from server.models import Answer, Treatment
from server.services.analytics.scope import Scope, aggregates, built_once, series_order
from server.services.statistics import summarise

# the outcome the dose is read against: post-needling soreness at the 24 h check-in, the one
# time point every modality's protocol asks it at (CLINICAL.md §2.3)
DOSE_OUTCOME = ("soreness", "24h")
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class DoseBin:
    """A range of a dose: from ``low`` (included) up to ``high`` (left out; None: no end).
    Labels are short, to fit beside a chart on a phone: "10-20 min" holds 10, not 20."""

    label: str
    low: float
    high: float | None


@dataclass(frozen=True)
class DoseScale:
    """A dose figure of the treatment (its column) and the bins it is read in."""

    field: str
    label: str
    bins: tuple[DoseBin, ...]


DOSE_SCALES = (
    DoseScale(
        "needle_sites",
        "Number of needle sites",
        (
            DoseBin("1-3 sites", 1, 4),
            DoseBin("4-6 sites", 4, 7),
            DoseBin("7-10 sites", 7, 11),
            DoseBin("11+ sites", 11, None),
        ),
    ),
    DoseScale(
        "retention_minutes",
        "Needle retention",
        (
            # IMS's and most dry needling's few seconds fall in the first
            DoseBin("under 1 min", 0, 1),
            DoseBin("1-10 min", 1, 10),
            DoseBin("10-20 min", 10, 20),
            DoseBin("20-30 min", 20, 30),
            DoseBin("30+ min", 30, None),
        ),
    ),
    DoseScale(
        "needle_diameter_mm",
        "Needle diameter",
        (
            DoseBin("under 0.20 mm", 0, 0.2),
            DoseBin("0.20-0.25 mm", 0.2, 0.25),
            DoseBin("0.25-0.30 mm", 0.25, 0.3),
            DoseBin("0.30+ mm", 0.3, None),
        ),
    ),
)


@dataclass(frozen=True)
class DoseCell:
    """The outcome in one dose bin of one modality: n answers, mean, SD and the t-based 95 %
    CI; figures None when suppressed (fewer than ``min_patients`` patients) or unanswered."""

    bin: str
    low: float | None
    high: float | None
    n: int | None
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


@dataclass(frozen=True)
class DoseSeries:
    """One modality's outcome across one dose scale's bins, then its "not recorded" cell."""

    dose: str
    modality: str
    cells: list[DoseCell]


def dose_response(session: Session, *, scope: Scope) -> list[DoseSeries]:
    """Soreness at 24 h per modality and dose bin, for each dose scale (the scales in
    ``DOSE_SCALES`` order, modalities in the usual order). Split by modality only: a dose bin
    is already a smaller cell than a time point, so clinicians and clinics are pooled."""
    rows = aggregates(session, _dose_query(scope, *DOSE_OUTCOME))
    cells = {(row.dose, row.modality, row.bin): row for row in rows}
    results = []
    for scale in DOSE_SCALES:
        modalities = sorted({m for dose, m, _ in cells if dose == scale.field}, key=_order)
        for modality in modalities:
            found = [
                _cell(cells.get((scale.field, modality, index)), band, scope.min_patients)
                for index, band in enumerate(scale.bins)
            ]
            unrecorded = cells.get((scale.field, modality, None))
            found.append(_cell(unrecorded, DoseBin(NOT_RECORDED, 0, None), scope.min_patients))
            results.append(DoseSeries(scale.field, modality, found))
    return results


def _order(modality: str) -> tuple[int, str]:
    return series_order((modality, None))


def _cell(row: Any, band: DoseBin, min_patients: int) -> DoseCell:
    low, high = (None, None) if band.label == NOT_RECORDED else (band.low, band.high)
    if row is None or row.patients < min_patients:
        return DoseCell(band.label, low, high, *(None,) * 5, row is not None)
    summary = summarise(int(row.n), float(row.total), float(row.total_sq))
    return DoseCell(
        band.label,
        low,
        high,
        summary.n,
        summary.mean,
        summary.sd,
        summary.ci_low,
        summary.ci_high,
        False,
    )


@built_once
def _dose_query(scope: Scope, item: str, slot: str) -> Select[Any]:
    """Per dose scale, modality and bin (NULL: not recorded): answers, patients, sum, sum of
    squares. The answers are read once, each with its three bins (a CTE both databases
    materialise, as it is used three times); the scales' GROUP BYs follow in one UNION ALL."""
    binned = (
        scope.answers(
            Answer.modality,
            Treatment.patient_id,
            Answer.value_num,
            *(_bin_of(scale).label(scale.field) for scale in DOSE_SCALES),
            with_treatments=True,
        )
        .where(Answer.item_code == item, Answer.slot == slot, Answer.value_num.is_not(None))
        .cte("binned")
    )
    parts = [
        select(
            literal(scale.field).label("dose"),
            binned.c.modality,
            binned.c[scale.field].label("bin"),
            func.count().label("n"),
            func.count(binned.c.patient_id.distinct()).label("patients"),
            func.sum(binned.c.value_num).label("total"),
            func.sum(binned.c.value_num * binned.c.value_num).label("total_sq"),
        ).group_by(binned.c.modality, binned.c[scale.field])
        for scale in DOSE_SCALES
    ]
    return select(union_all(*parts).subquery())


def _bin_of(scale: DoseScale) -> ColumnElement[Any]:
    """The index of the treatment's bin on ``scale``; NULL when that dose is not recorded."""
    column = getattr(Treatment, scale.field)
    last = len(scale.bins) - 1
    return case(
        *(
            (column < band.high, index)
            for index, band in enumerate(scale.bins)
            if band.high is not None
        ),
        else_=case((column.is_not(None), last), else_=None),
    )
