"""Time to soreness resolution (CLINICAL.md §5): Kaplan-Meier per modality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from server.models import Treatment, TreatmentOutcome
from server.services.analytics.scope import (
    Group,
    Scope,
    collect,
    collected,
    group_labels,
    series_group,
    series_order,
    settled,
)
from server.services.statistics import KaplanMeier, kaplan_meier


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


def resolution(session: Session, *, scope: Scope) -> list[Resolution]:
    """Kaplan-Meier of time to soreness resolution per modality (and group), CLINICAL.md §5:
    origin T0, event at the first resolved answer, censored at the last soreness answer (both
    kept per treatment by ``services.outcomes``)."""
    outcome = TreatmentOutcome
    group = scope.group_column().label("grp")
    answered = outcome.last_soreness_hours.is_not(None)
    # left out: every check-in closed without a soreness answer after T0
    left_out = and_(~answered, settled())
    rows = session.execute(
        select(
            Treatment.modality,
            group,
            # per treatment (NULL when not answered): time to the event or to censoring
            collect(
                session, func.coalesce(outcome.resolved_hours, outcome.last_soreness_hours)
            ).label("hours"),
            collect(session, case((outcome.resolved_hours.is_not(None), 1), else_=0)).label(
                "events"
            ),
            func.count(case((answered, Treatment.patient_id)).distinct()).label("patients"),
            func.sum(case((left_out, 1), else_=0)).label("excluded"),
        )
        .outerjoin(outcome, outcome.treatment_id == Treatment.id)
        .where(*scope.where())
        .group_by(Treatment.modality, *scope.split_by(group))
    ).all()
    labels = group_labels(session, scope)
    results = []
    for row in sorted(rows, key=lambda row: series_order((row.modality, row.grp))):
        group_of = series_group(scope, row.grp, labels)
        hours = np.array(collected(row.hours), dtype=float)  # NULL -> nan
        events = np.array(collected(row.events), dtype=float)[~np.isnan(hours)]
        hours = hours[~np.isnan(hours)]
        excluded = int(row.excluded or 0)
        if not hours.size:
            if excluded:  # every session of the series left out: shown with its count
                results.append(
                    Resolution(
                        row.modality, group_of, 0, 0, excluded, None, None, None, None, False
                    )
                )
            continue
        if row.patients < scope.min_patients:
            results.append(Resolution(row.modality, group_of, *(None,) * 7, True))
            continue
        times, at_time = np.unique(hours, return_inverse=True)
        died = np.bincount(at_time, weights=events)
        fit = kaplan_meier(times, died, np.bincount(at_time) - died)
        results.append(
            Resolution(
                modality=row.modality,
                group=group_of,
                n=int(hours.size),
                events=int(events.sum()),
                excluded=excluded,
                median_hours=fit.median,
                ci_low=fit.median_low,
                ci_high=fit.median_high,
                fit=fit,
                suppressed=False,
            )
        )
    return sorted(
        results, key=lambda item: series_order((item.modality, item.group and item.group.id))
    )
