"""Case mix ("Table 1"): who each modality's treatments went to, and how far apart the
modalities are on each characteristic (standardised differences, Austin 2009).

Counted per treatment (a session), as the outcomes are: a patient treated three times counts
three times, and once in the patients row. Always per modality, whatever splits the curves:
the question is whether the modalities treated alike cases. A modality with fewer than
``min_patients`` patients is hidden whole; a baseline figure from fewer patients is hidden."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from sqlalchemy import Select, String, case, cast, func, select
from sqlalchemy.orm import Session

from server.models import Answer, Treatment
from server.protocols import regions
from server.services.analytics.curves import hidden_cells
from server.services.analytics.scope import (
    BASELINE,
    Scope,
    aggregates,
    built_once,
    series_order,
)
from server.services.differences import is_imbalanced, smd_binary, smd_continuous
from server.services.sql import days_between, dialect_of
from server.services.statistics import summarise

BASELINE_MEASURES = ("pain", "soreness", "mobility")


@dataclass(frozen=True)
class ModalityCount:
    """How many patients and treatments a modality has in scope; None when hidden."""

    modality: str
    patients: int | None
    treatments: int | None
    suppressed: bool


@dataclass(frozen=True)
class CaseMixCell:
    """One characteristic of one modality's treatments. Continuous: mean and SD over the ``n``
    treatments with a value. Binary: ``count`` of the ``n`` treatments, ``mean`` the share."""

    modality: str
    n: int | None
    count: int | None
    mean: float | None
    sd: float | None
    suppressed: bool


@dataclass(frozen=True)
class StandardisedDifference:
    """first minus second, in units of their pooled SD; None where undefined (no spread, or a
    cell hidden or empty). ``is_imbalanced``: |SMD| above 0.1, or no overlap at all."""

    first: str
    second: str
    smd: float | None
    is_imbalanced: bool


@dataclass(frozen=True)
class Characteristic:
    """A row of the table: each modality's figure and each pair's standardised difference."""

    code: str
    label: str
    kind: str  # "continuous" (mean, SD) | "binary" (count, share)
    cells: list[CaseMixCell]
    differences: list[StandardisedDifference]


@dataclass(frozen=True)
class CaseMix:
    """The modalities' counts, then one row per characteristic."""

    modalities: list[ModalityCount]
    characteristics: list[Characteristic]


def case_mix(session: Session, *, scope: Scope) -> CaseMix:
    """Each modality's patients, treatments, baseline pain, soreness and mobility, first or
    repeat treatment, days since the patient's first treatment and regions treated, with the
    standardised difference of every pair of modalities."""
    scope = replace(scope, by="modality")  # whatever splits the curves
    dialect = dialect_of(session)
    per_modality = {
        row.modality: row for row in aggregates(session, _treatments_query(scope, dialect))
    }
    modalities = sorted(per_modality, key=lambda modality: series_order((modality, None)))
    shown = {m for m in modalities if per_modality[m].patients >= scope.min_patients}
    counts = [
        ModalityCount(m, int(per_modality[m].patients), int(per_modality[m].treatments), False)
        if m in shown
        else ModalityCount(m, None, None, True)
        for m in modalities
    ]
    rows = _baseline_rows(session, scope, modalities, shown)
    rows.append(
        (
            "repeat",
            "Repeat treatment (not the patient's first)",
            "binary",
            [_binary(m, per_modality[m], "repeats", m in shown) for m in modalities],
        )
    )
    rows.append(
        (
            "days_since_first",
            "Days since the patient's first treatment",
            "continuous",
            [_days(m, per_modality[m], m in shown) for m in modalities],
        )
    )
    for code, region in regions().items():
        cells = [_binary(m, per_modality[m], f"region_{code}", m in shown) for m in modalities]
        if any(cell.count for cell in cells):  # only regions treated in scope
            rows.append((f"region:{code}", f"Region: {region.label}", "binary", cells))
    return CaseMix(
        counts, [Characteristic(*row, differences=_differences(*row[2:])) for row in rows]
    )


Row = tuple[str, str, str, list[CaseMixCell]]  # code, label, kind, a cell per modality


def _baseline_rows(
    session: Session, scope: Scope, modalities: list[str], shown: set[str]
) -> list[Row]:
    """Mean and SD of each baseline measure per modality; a cell of fewer patients hidden."""
    cells = {
        (row.modality, None, row.item_code, BASELINE): row
        for row in aggregates(session, _baselines_query(scope))
    }
    hidden = hidden_cells(session, scope, cells)
    rows: list[Row] = []
    for measure in BASELINE_MEASURES:
        row_cells = [
            _continuous(
                m,
                cells.get((m, None, measure, BASELINE)),
                m not in shown or (m, None, measure, BASELINE) in hidden,
            )
            for m in modalities
        ]
        rows.append((f"baseline_{measure}", f"Baseline {measure} (0-10)", "continuous", row_cells))
    return rows


def _continuous(modality: str, row: Any, is_hidden: bool) -> CaseMixCell:
    if is_hidden:
        return CaseMixCell(modality, None, None, None, None, True)
    if row is None:
        return CaseMixCell(modality, 0, None, None, None, False)
    summary = summarise(int(row.n), float(row.total), float(row.total_sq))
    return CaseMixCell(modality, summary.n, None, summary.mean, summary.sd, False)


def _days(modality: str, row: Any, is_shown: bool) -> CaseMixCell:
    if not is_shown:
        return CaseMixCell(modality, None, None, None, None, True)
    summary = summarise(int(row.treatments), float(row.days_total), float(row.days_total_sq))
    return CaseMixCell(modality, summary.n, None, summary.mean, summary.sd, False)


def _binary(modality: str, row: Any, column: str, is_shown: bool) -> CaseMixCell:
    if not is_shown:
        return CaseMixCell(modality, None, None, None, None, True)
    n, count = int(row.treatments), int(getattr(row, column) or 0)
    return CaseMixCell(modality, n, count, count / n, None, False)


def _differences(kind: str, cells: list[CaseMixCell]) -> list[StandardisedDifference]:
    """The standardised difference of every pair of modalities, in display order."""
    return [_difference(kind, first, second) for first, second in combinations(cells, 2)]


def _difference(kind: str, first: CaseMixCell, second: CaseMixCell) -> StandardisedDifference:
    pair = (first.modality, second.modality)
    if first.mean is None or second.mean is None:
        return StandardisedDifference(*pair, None, False)
    if kind == "binary":
        smd = smd_binary(first.mean, second.mean)
    elif first.sd is None or second.sd is None:  # one treatment alone: no SD to measure against
        return StandardisedDifference(*pair, None, False)
    else:
        smd = smd_continuous(first.mean, first.sd, second.mean, second.sd)
    return StandardisedDifference(*pair, smd, is_imbalanced(smd))


@built_once
def _treatments_query(scope: Scope, dialect: str) -> Select[Any]:
    # each patient's first treatment at the clinics in view, whatever the filters leave out
    firsts = (
        select(Treatment.patient_id, func.min(Treatment.treated_at).label("first_at"))
        .where(Treatment.clinic_id.in_(scope.clinic_ids))
        .group_by(Treatment.patient_id)
        .subquery()
    )
    days = days_between(dialect, Treatment.treated_at, firsts.c.first_at)
    regions_text = cast(Treatment.regions, String)
    columns: list[Any] = [
        Treatment.modality,
        func.count().label("treatments"),
        func.count(Treatment.patient_id.distinct()).label("patients"),
        func.sum(case((firsts.c.first_at < Treatment.treated_at, 1), else_=0)).label("repeats"),
        func.sum(days).label("days_total"),
        func.sum(days * days).label("days_total_sq"),
        # regions is a JSON list of vocabulary codes: match "code", as the filter does
        *(
            func.sum(case((regions_text.contains(f'"{code}"'), 1), else_=0)).label(f"region_{code}")
            for code in regions()
        ),
    ]
    return (
        select(*columns)
        .join(firsts, firsts.c.patient_id == Treatment.patient_id)
        .where(*scope.where())
        .group_by(Treatment.modality)
    )


@built_once
def _baselines_query(scope: Scope) -> Select[Any]:
    # the answers alone when no filter needs their treatments: the clinic's index, one seek per
    # modality and item; the patients are counted only for a cell in doubt (``hidden_cells``)
    return (
        scope.answers(
            Answer.modality,
            Answer.item_code,
            func.count().label("n"),
            func.sum(Answer.value_num).label("total"),
            func.sum(Answer.value_num * Answer.value_num).label("total_sq"),
        )
        .where(
            Answer.slot == BASELINE,
            Answer.item_code.in_(BASELINE_MEASURES),
            Answer.value_num.is_not(None),
        )
        .group_by(Answer.modality, Answer.item_code)
    )
