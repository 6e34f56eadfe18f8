"""Time to soreness resolution (CLINICAL.md §5): Kaplan-Meier per modality."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, case, func, literal, null, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE, Subquery

from server.models import Answer, CheckIn, Response, Treatment
from server.services.analytics.scope import (
    BASELINE,
    Group,
    Scope,
    elapsed_hours,
    group_labels,
    series_group,
    series_order,
)
from server.services.statistics import kaplan_meier


@dataclass(frozen=True)
class Resolution:
    """Time to soreness resolution for one series (Kaplan-Meier)."""

    modality: str
    group: Group | None
    n: int | None
    events: int | None
    excluded: int | None  # treatments with no post-T0 soreness answer, left out
    median_hours: float | None
    ci_low: float | None
    ci_high: float | None
    curve: list[dict[str, float]]
    suppressed: bool


def _baseline_soreness() -> Subquery:
    return (
        select(Response.treatment_id, Answer.value_num.label("soreness"))
        .join(Answer, Answer.response_id == Response.id)
        .where(Response.slot == BASELINE, Answer.item_code == "soreness")
        .subquery()
    )


def _resolution_times(session: Session, scope: Scope) -> CTE:
    """Per treatment: the first resolved answer's elapsed hours (NULL if none) and the last
    post-T0 soreness answer's (the censoring time)."""
    baseline = _baseline_soreness()
    elapsed = elapsed_hours(session, Response.answered_at, Treatment.treated_at)
    # resolved: soreness ≤ max(1, baseline soreness); no baseline → ≤ 1
    threshold = case((baseline.c.soreness > 1, baseline.c.soreness), else_=1)
    return (
        select(
            Treatment.modality,
            scope.group_column().label("grp"),
            Treatment.patient_id,
            func.min(case((Answer.value_num <= threshold, elapsed))).label("event_h"),
            func.max(elapsed).label("last_h"),
        )
        .select_from(Answer)
        .join(Response, Answer.response_id == Response.id)
        .join(Treatment, Response.treatment_id == Treatment.id)
        .outerjoin(baseline, baseline.c.treatment_id == Treatment.id)
        .where(
            Answer.item_code == "soreness",
            Answer.value_num.is_not(None),
            Response.slot != BASELINE,
            Response.answered_at >= Treatment.treated_at,
            *scope.where(),
        )
        .group_by(Treatment.id, Treatment.modality, "grp", Treatment.patient_id)
        # a CTE read twice (the steps and the patient count) in one statement: PostgreSQL
        # materialises it once, instead of a second pass over the answers
        .cte("per_treatment")
    )


def resolution(session: Session, *, scope: Scope) -> list[Resolution]:
    """Kaplan-Meier of time to soreness resolution per modality (and group), CLINICAL.md §5:
    origin T0, event at the first resolved answer, censored at the last soreness answer."""
    per_treatment = _resolution_times(session, scope)
    hours = func.coalesce(per_treatment.c.event_h, per_treatment.c.last_h)
    is_event = case((per_treatment.c.event_h.is_not(None), 1), else_=0)
    steps = select(
        literal("step").label("kind"),
        per_treatment.c.modality,
        per_treatment.c.grp,
        hours.label("hours"),
        func.sum(is_event).label("events"),
        func.sum(1 - is_event).label("censored"),
    ).group_by(per_treatment.c.modality, per_treatment.c.grp, hours)
    people = select(
        literal("patients").label("kind"),
        per_treatment.c.modality,
        per_treatment.c.grp,
        null().cast(Float).label("hours"),
        func.count(per_treatment.c.patient_id.distinct()).label("events"),
        literal(0).label("censored"),
    ).group_by(per_treatment.c.modality, per_treatment.c.grp)
    rows = session.execute(union_all(steps, people).order_by("modality", "grp", "hours")).all()
    patients = {(r.modality, r.grp): int(r.events) for r in rows if r.kind == "patients"}
    rows = [row for row in rows if row.kind == "step"]
    excluded = _without_soreness(session, scope)
    labels = group_labels(session, scope)
    by_series: dict[tuple[str, Any], list[Any]] = {}
    for row in rows:
        by_series.setdefault((row.modality, row.grp), []).append(row)
    results = []
    for key in sorted(set(excluded) - set(by_series), key=series_order):
        # every session of the series left out (no soreness answer): shown with its count
        group = series_group(scope, key[1], labels)
        results.append(Resolution(key[0], group, 0, 0, excluded[key], None, None, None, [], False))
    for key in sorted(by_series, key=series_order):
        series = by_series[key]
        group = series_group(scope, key[1], labels)
        if patients.get(key, 0) < scope.min_patients:
            results.append(Resolution(key[0], group, *(None,) * 6, [], True))
            continue
        fit = kaplan_meier(
            [float(row.hours) for row in series],
            [int(row.events) for row in series],
            [int(row.censored) for row in series],
        )
        results.append(
            Resolution(
                modality=key[0],
                group=group,
                n=sum(int(row.events) + int(row.censored) for row in series),
                events=sum(int(row.events) for row in series),
                excluded=excluded.get(key, 0),
                median_hours=fit.median,
                ci_low=fit.median_low,
                ci_high=fit.median_high,
                curve=[
                    {"hours": h, "survival": s, "ci_low": lo, "ci_high": hi}
                    for h, s, lo, hi in zip(
                        fit.hours, fit.survival, fit.lower, fit.upper, strict=True
                    )
                ],
                suppressed=False,
            )
        )
    return sorted(
        results, key=lambda item: series_order((item.modality, item.group and item.group.id))
    )


def _without_soreness(session: Session, scope: Scope) -> dict[tuple[str, Any], int]:
    """Treatments whose check-ins are all closed with no post-T0 soreness answer."""
    answered = (
        select(Response.treatment_id)
        .join(Answer, Answer.response_id == Response.id)
        .where(
            Response.slot != BASELINE,
            Answer.item_code == "soreness",
            Answer.value_num.is_not(None),
        )
    )
    still_open = select(CheckIn.treatment_id).where(CheckIn.status.in_(("scheduled", "sent")))
    group = scope.group_column().label("grp")
    rows = session.execute(
        select(Treatment.modality, group, func.count().label("n"))
        .where(
            *scope.where(),
            Treatment.id.not_in(answered),
            Treatment.id.not_in(still_open),
        )
        .group_by(Treatment.modality, group)
    )
    return {(row.modality, row.grp): int(row.n) for row in rows}


def _group_id(series: Any) -> Any:
    return series.group.id if series.group else None
