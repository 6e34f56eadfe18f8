"""Time to soreness resolution (Kaplan-Meier) and pain responders (Wilson interval) per
modality, CLINICAL.md §5: both from the per-treatment outcome rows ``services.outcomes`` keeps,
in one GROUP BY over the treatments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from server.models import Treatment, TreatmentOutcome
from server.services.analytics.scope import (
    Group,
    Scope,
    aggregates,
    built_once,
    group_labels,
    series_group,
    series_order,
    settled,
)
from server.services.sql import collect, collected, dialect_of
from server.services.statistics import KaplanMeier, kaplan_meier, wilson


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
    fit: KaplanMeier | None  # the curve and its band, one point per distinct time
    suppressed: bool

    @property
    def curve(self) -> list[dict[str, float]]:
        """The Kaplan-Meier curve as points: hours, survival and the band (ci_low, ci_high)."""
        if self.fit is None:
            return []
        columns = (self.fit.hours, self.fit.survival, self.fit.lower, self.fit.upper)
        return [
            {"hours": h, "survival": s, "ci_low": lo, "ci_high": hi}
            for h, s, lo, hi in zip(*columns, strict=True)
        ]


@dataclass(frozen=True)
class Responders:
    """Pain responders at the protocol's last time point, with the Wilson 95 % interval."""

    modality: str
    group: Group | None
    n: int | None
    responders: int | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    excluded: int | None  # none open any more, but no baseline pain > 0 or no final pain
    suppressed: bool


@dataclass(frozen=True)
class Outcomes:
    """Both analytics of the treatments' outcomes, each series in display order."""

    resolution: list[Resolution]
    responders: list[Responders]


def outcomes(session: Session, *, scope: Scope, rows: Sequence[Any] | None = None) -> Outcomes:
    """Time to soreness resolution and pain responders per modality (and group); ``rows``:
    the scope's ``outcome_rows`` when the caller has read them already."""
    rows = outcome_rows(session, scope=scope) if rows is None else rows
    labels = group_labels(session, scope)
    resolution_series, responders_series = [], []
    for row in rows:
        group = series_group(scope, row.grp, labels)
        if (series := _resolution(row, group, scope.min_patients)) is not None:
            resolution_series.append(series)
        if (judged := _responders(row, group, scope.min_patients)) is not None:
            responders_series.append(judged)
    return Outcomes(resolution_series, responders_series)


def outcome_rows(session: Session, *, scope: Scope) -> list[Any]:
    """Per series, in display order: each treatment's time to resolution or censoring and
    whether it resolved (``hours``, ``events``: collected), and the responder counts."""
    return sorted(
        aggregates(session, _outcomes_query(scope, dialect_of(session))),
        key=lambda row: series_order((row.modality, row.grp)),
    )


def resolution(session: Session, *, scope: Scope) -> list[Resolution]:
    """Kaplan-Meier of time to soreness resolution per modality (and group), CLINICAL.md §5:
    origin T0, event at the first resolved answer, censored at the last soreness answer.
    (``outcomes`` works out the responders too, from the same rows: a little arithmetic.)"""
    return outcomes(session, scope=scope).resolution


def responders(session: Session, *, scope: Scope) -> list[Responders]:
    """Pain responders per modality (CLINICAL.md §5): at the last time point of the treatment's
    own protocol, pain down by ≥ 2 points and ≥ 30 % of a baseline above 0. Others are
    excluded, and counted."""
    return outcomes(session, scope=scope).responders


def _resolution(row: Any, group: Group | None, min_patients: int) -> Resolution | None:
    hours = np.array(collected(row.hours), dtype=float)  # NULL -> nan
    events = np.array(collected(row.events), dtype=float)[~np.isnan(hours)]
    hours = hours[~np.isnan(hours)]
    excluded = int(row.unresolved_excluded or 0)
    if not hours.size:
        if excluded:  # every session of the series left out: shown with its count
            return Resolution(row.modality, group, 0, 0, excluded, None, None, None, None, False)
        return None
    if row.answered_patients < min_patients:
        return Resolution(row.modality, group, *(None,) * 7, True)
    times, at_time = np.unique(hours, return_inverse=True)
    died = np.bincount(at_time, weights=events)
    fit = kaplan_meier(times, died, np.bincount(at_time) - died)
    return Resolution(
        modality=row.modality,
        group=group,
        n=int(hours.size),
        events=int(events.sum()),
        excluded=excluded,
        median_hours=fit.median,
        ci_low=fit.median_low,
        ci_high=fit.median_high,
        fit=fit,
        suppressed=False,
    )


def _responders(row: Any, group: Group | None, min_patients: int) -> Responders | None:
    n, count = int(row.judged), int(row.responders or 0)
    excluded = int(row.unjudged_excluded or 0)
    if n == 0:
        if excluded:  # every session of the series left out: shown with its count
            return Responders(row.modality, group, 0, 0, None, None, None, excluded, False)
        return None
    if row.judged_patients < min_patients:
        return Responders(row.modality, group, *(None,) * 6, True)
    low, high = wilson(count, n)
    return Responders(row.modality, group, n, count, count / n, low, high, excluded, False)


@built_once
def _outcomes_query(scope: Scope, dialect: str) -> Select[Any]:
    outcome = TreatmentOutcome
    answered = outcome.last_soreness_hours.is_not(None)
    judged = outcome.responder.is_not(None)
    group = scope.group_column().label("grp")
    return (
        select(
            Treatment.modality,
            group,
            # per treatment (NULL when not answered): time to the event or to censoring
            collect(
                dialect, func.coalesce(outcome.resolved_hours, outcome.last_soreness_hours)
            ).label("hours"),
            collect(dialect, case((outcome.resolved_hours.is_not(None), 1), else_=0)).label(
                "events"
            ),
            func.count(case((answered, Treatment.patient_id)).distinct()).label(
                "answered_patients"
            ),
            # left out, with no check-in still open that could bring what they lack: every
            # check-in closed without a soreness answer after T0; no pain response judged
            func.sum(case((and_(~answered, settled()), 1), else_=0)).label("unresolved_excluded"),
            func.count(outcome.responder).label("judged"),
            func.sum(case((outcome.responder.is_(True), 1), else_=0)).label("responders"),
            func.count(case((judged, Treatment.patient_id)).distinct()).label("judged_patients"),
            func.sum(case((and_(~judged, settled()), 1), else_=0)).label("unjudged_excluded"),
        )
        .outerjoin(outcome, outcome.treatment_id == Treatment.id)
        .where(*scope.where())
        .group_by(Treatment.modality, *scope.split_by(group))
    )
