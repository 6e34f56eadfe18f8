"""Pain responders at the protocol's last time point (CLINICAL.md §5), Wilson interval."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from server.models import Treatment, TreatmentOutcome
from server.services.analytics.scope import (
    Group,
    Scope,
    group_labels,
    series_group,
    series_order,
    settled,
)
from server.services.statistics import wilson


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


def responders(session: Session, *, scope: Scope) -> list[Responders]:
    """Pain responders per modality (CLINICAL.md §5): at the last time point of the treatment's
    own protocol, pain down by ≥ 2 points and ≥ 30 % of a baseline above 0 (judged per
    treatment by ``services.outcomes``). Others are excluded, and counted."""
    outcome = TreatmentOutcome
    judged = outcome.responder.is_not(None)
    # left out: not judged, and no check-in still open that could bring the final pain
    left_out = and_(~judged, settled())
    group = scope.group_column().label("grp")
    rows = session.execute(
        select(
            Treatment.modality,
            group,
            func.count(outcome.responder).label("n"),
            func.sum(case((outcome.responder.is_(True), 1), else_=0)).label("responders"),
            func.count(case((judged, Treatment.patient_id)).distinct()).label("patients"),
            func.sum(case((left_out, 1), else_=0)).label("excluded"),
        )
        .join(outcome, outcome.treatment_id == Treatment.id)
        .where(*scope.where())
        .group_by(Treatment.modality, *scope.split_by(group))
    ).all()
    labels = group_labels(session, scope)
    results = []
    for row in sorted(rows, key=lambda row: series_order((row.modality, row.grp))):
        group_of = series_group(scope, row.grp, labels)
        n, count = int(row.n), int(row.responders)
        excluded = int(row.excluded or 0)
        if n == 0:
            if excluded:  # every session of the series left out: shown with its count
                results.append(
                    Responders(row.modality, group_of, 0, 0, None, None, None, excluded, False)
                )
            continue
        if row.patients < scope.min_patients:
            results.append(Responders(row.modality, group_of, *(None,) * 6, True))
            continue
        low, high = wilson(count, n)
        results.append(
            Responders(row.modality, group_of, n, count, count / n, low, high, excluded, False)
        )
    return results
