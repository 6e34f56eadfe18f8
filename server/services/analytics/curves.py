"""Recovery curves and answer rates: n, mean, SD and t-based CI per time point, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import Select, case, func, select, tuple_
from sqlalchemy.orm import Session

from server.models import Answer, CheckIn, Treatment
from server.protocols import Protocol
from server.services.analytics.scope import (
    BASELINE,
    BIN_EDGES,
    Curve,
    Group,
    Scope,
    aggregates,
    built_once,
    group_labels,
    most_treatments_per_patient,
    point,
    protocol_slots,
    series_group,
    series_order,
    slots_with_data,
)


def recovery(
    session: Session,
    *,
    scope: Scope,
    measures: Sequence[str],
    protocols: dict[str, Protocol] | None = None,
) -> dict[str, list[Curve]]:
    """Recovery curves per measure: at the baseline and each protocol time point, n, mean,
    sample SD and the t-based 95 % CI per modality (and group), in one GROUP BY."""
    # one statement for the same measures in any order (the page puts the chosen one first)
    rows = aggregates(session, _recovery_query(scope, tuple(sorted(set(measures)))))
    cells = {(row.modality, row.grp, row.item_code, row.slot): row for row in rows}
    hidden = hidden_cells(session, scope, cells)
    series_keys = sorted({(row.modality, row.grp) for row in rows}, key=series_order)
    labels = group_labels(session, scope)
    slots = protocol_slots(protocols or scope.protocols)
    answered: dict[str, set[str]] = {}
    for modality, _, _, slot in cells:
        answered.setdefault(modality, set()).add(slot)
    points_of = {
        modality: slots_with_data(slots.get(modality, []), answered[modality])
        for modality in answered
    }
    curves: dict[str, list[Curve]] = {measure: [] for measure in measures}
    for measure in measures:
        for modality, grp in series_keys:
            points = [
                point(
                    cells.get((modality, grp, measure, slot)),
                    slot,
                    hours,
                    hidden=(modality, grp, measure, slot) in hidden,
                )
                for slot, hours in points_of[modality]
            ]
            curves[measure].append(Curve(modality, series_group(scope, grp, labels), points))
    return curves


@built_once
def _recovery_query(scope: Scope, measures: tuple[str, ...]) -> Select[Any]:
    group = scope.answer_group_column().label("grp")
    return (
        scope.answers(
            Answer.modality,
            group,
            Answer.item_code,
            Answer.slot,
            func.count().label("n"),
            func.sum(Answer.value_num).label("total"),
            func.sum(Answer.value_num * Answer.value_num).label("total_sq"),
            func.avg(Answer.elapsed_hours).label("elapsed"),
        )
        .where(Answer.item_code.in_(measures), Answer.value_num.is_not(None))
        .group_by(Answer.modality, *scope.split_by(group), Answer.item_code, Answer.slot)
    )


def hidden_cells(
    session: Session, scope: Scope, cells: dict[tuple[str, Any, str, str], Any]
) -> set[tuple[str, Any, str, str]]:
    """The recovery cells (modality, group, item, slot) with fewer than ``min_patients``
    patients. A treatment answers an item at most once per time point, so a cell of n answers
    from patients with at most k treatments each in the series has at least n / k patients:
    only the cells this leaves in doubt are counted one by one (a DISTINCT over every answer
    would cost as much as the curves themselves)."""
    most = most_treatments_per_patient(session, scope)
    doubtful = {
        key for key, row in cells.items() if row.n < scope.min_patients * most.get(key[:2], 1)
    }
    if not doubtful:
        return set()
    group = scope.answer_group_column().label("grp")
    rows = aggregates(
        session,
        scope.answers(
            Answer.modality,
            group,
            Answer.item_code,
            Answer.slot,
            func.count(Treatment.patient_id.distinct()).label("patients"),
            with_treatments=True,
        )
        .where(
            tuple_(Answer.modality, Answer.item_code, Answer.slot).in_(
                {(modality, item, slot) for modality, _, item, slot in doubtful}
            ),
            Answer.value_num.is_not(None),
        )
        .group_by(Answer.modality, *scope.split_by(group), Answer.item_code, Answer.slot),
    )
    patients = {tuple(row[:4]): row.patients for row in rows}
    return {key for key in doubtful if patients.get(key, 0) < scope.min_patients}


def _too_few(row: Any, min_patients: int) -> bool:
    return row is not None and row.patients < min_patients


def binned_recovery(session: Session, *, scope: Scope, measure: str) -> list[Curve]:
    """A measure's curve on actual elapsed time: the same statistics in hours-since-treatment
    bins (``slot`` names the bin, ``hours`` is its lower edge)."""
    rows = aggregates(session, _binned_query(scope, measure))
    cells = {(row.modality, row.grp, row.bin): row for row in rows if row.bin is not None}
    labels = group_labels(session, scope)
    curves = []
    for modality, grp in sorted({key[:2] for key in cells}, key=series_order):
        points = [
            point(
                cells.get((modality, grp, index)),
                f"{lower:g}-{upper:g}h",
                lower,
                hidden=_too_few(cells.get((modality, grp, index)), scope.min_patients),
            )
            for index, (lower, upper) in enumerate(pairwise(BIN_EDGES))
        ]
        curves.append(Curve(modality, series_group(scope, grp, labels), points))
    return curves


@built_once
def _binned_query(scope: Scope, measure: str) -> Select[Any]:
    elapsed = Answer.elapsed_hours
    bin_index = case(
        *((elapsed < upper, index) for index, upper in enumerate(BIN_EDGES[1:])), else_=None
    ).label("bin")
    group = scope.answer_group_column().label("grp")
    return (
        scope.answers(
            Answer.modality,
            group,
            bin_index,
            func.count().label("n"),
            func.count(Treatment.patient_id.distinct()).label("patients"),
            func.sum(Answer.value_num).label("total"),
            func.sum(Answer.value_num * Answer.value_num).label("total_sq"),
            func.avg(elapsed).label("elapsed"),
            with_treatments=True,
        )
        .where(
            Answer.item_code == measure,
            Answer.value_num.is_not(None),
            Answer.slot != BASELINE,
            elapsed >= 0,
        )
        .group_by(Answer.modality, *scope.split_by(group), bin_index)
    )


@dataclass(frozen=True)
class AnswerRate:
    """Of the check-ins of one time point whose window has closed, the share answered."""

    slot: str
    hours: float | None
    closed: int | None
    answered: int | None
    rate: float | None
    suppressed: bool


@dataclass(frozen=True)
class AnswerRates:
    """One series' answer rate at each time point."""

    modality: str
    group: Group | None
    points: list[AnswerRate]


def answer_rates(
    session: Session, *, scope: Scope, protocols: dict[str, Protocol] | None = None
) -> list[AnswerRates]:
    """Answer rate per modality (and group) and time point: answered ÷ (answered + missed);
    cancelled and still-open check-ins are left out."""
    rows = aggregates(session, _answer_rates_query(scope))
    cells = {(row.modality, row.grp, row.slot): row for row in rows}
    slots = protocol_slots(protocols or scope.protocols)
    labels = group_labels(session, scope)
    results = []
    for modality, grp in sorted({key[:2] for key in cells}, key=series_order):
        points = []
        for slot, hours in slots_with_data(
            slots.get(modality, []), {key[2] for key in cells if key[0] == modality}
        )[1:]:
            row = cells.get((modality, grp, slot))
            if row is None or row.patients < scope.min_patients:
                points.append(AnswerRate(slot, hours, None, None, None, row is not None))
                continue
            closed, count = int(row.closed), int(row.answered)
            points.append(AnswerRate(slot, hours, closed, count, count / closed, False))
        results.append(AnswerRates(modality, series_group(scope, grp, labels), points))
    return results


@built_once
def _answer_rates_query(scope: Scope) -> Select[Any]:
    group = scope.group_column().label("grp")
    answered = case((CheckIn.status == "answered", 1), else_=0)
    return (
        select(
            Treatment.modality,
            group,
            CheckIn.slot,
            func.count().label("closed"),
            func.sum(answered).label("answered"),
            func.count(Treatment.patient_id.distinct()).label("patients"),
        )
        .join(CheckIn, CheckIn.treatment_id == Treatment.id)
        .where(CheckIn.status.in_(("answered", "missed")), *scope.where())
        .group_by(Treatment.modality, *scope.split_by(group), CheckIn.slot)
    )
