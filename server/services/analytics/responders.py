"""Pain responders at the protocol's last time point (CLINICAL.md §5), Wilson interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.models import Answer, CheckIn, Response, Treatment
from server.protocols import Protocol
from server.services.analytics.scope import (
    BASELINE,
    Group,
    Scope,
    group_labels,
    protocol_slots,
    series_group,
    series_order,
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
    excluded: int | None  # final check-in closed, but no baseline pain > 0 or no final pain
    suppressed: bool


def _last_slot_clause(protocols: dict[str, Protocol] | None, slot: Any) -> ColumnElement[bool]:
    last = {
        modality: [slot for slot, _, enabled in points if enabled][-1]
        for modality, points in protocol_slots(protocols).items()
    }
    return or_(*(and_(Treatment.modality == m, slot == s) for m, s in last.items()))


def responders(
    session: Session, *, scope: Scope, protocols: dict[str, Protocol] | None = None
) -> list[Responders]:
    """Pain responders per modality (CLINICAL.md §5): at the last time point, pain down by
    ≥ 2 points and ≥ 30 % of a baseline above 0. Others are excluded, and counted."""
    protocols = protocols or scope.protocols
    baseline_response, final_response = aliased(Response), aliased(Response)
    baseline_pain, final_pain = aliased(Answer), aliased(Answer)
    drop = baseline_pain.value_num - final_pain.value_num
    # integer arithmetic: drop ≥ 30 % of baseline ⇔ 10·drop ≥ 3·baseline
    is_responder = case((and_(drop >= 2, drop * 10 >= baseline_pain.value_num * 3), 1), else_=0)
    group = scope.group_column().label("grp")
    rows = session.execute(
        select(
            Treatment.modality,
            group,
            func.count().label("n"),
            func.sum(is_responder).label("responders"),
            func.count(Treatment.patient_id.distinct()).label("patients"),
        )
        .join(
            baseline_response,
            and_(
                baseline_response.treatment_id == Treatment.id, baseline_response.slot == BASELINE
            ),
        )
        .join(
            baseline_pain,
            and_(
                baseline_pain.response_id == baseline_response.id,
                baseline_pain.item_code == "pain",
            ),
        )
        .join(
            final_response,
            and_(
                final_response.treatment_id == Treatment.id,
                _last_slot_clause(protocols, final_response.slot),
            ),
        )
        .join(
            final_pain,
            and_(final_pain.response_id == final_response.id, final_pain.item_code == "pain"),
        )
        .where(baseline_pain.value_num > 0, final_pain.value_num.is_not(None), *scope.where())
        .group_by(Treatment.modality, group)
    ).all()
    closed = _closed_final_checkins(session, scope, protocols)
    labels = group_labels(session, scope)
    results = []
    included = {(row.modality, row.grp) for row in rows}
    for modality, grp in sorted(set(closed) - included, key=series_order):
        # every session of the series left out: shown with its count, not dropped
        group_of = series_group(scope, grp, labels)
        results.append(
            Responders(modality, group_of, 0, 0, None, None, None, closed[(modality, grp)], False)
        )
    for row in sorted(rows, key=lambda row: series_order((row.modality, row.grp))):
        group_of = series_group(scope, row.grp, labels)
        if row.patients < scope.min_patients:
            results.append(Responders(row.modality, group_of, *(None,) * 6, True))
            continue
        n, count = int(row.n), int(row.responders)
        low, high = wilson(count, n)
        excluded = max(0, closed.get((row.modality, row.grp), 0) - n)
        results.append(
            Responders(row.modality, group_of, n, count, count / n, low, high, excluded, False)
        )
    return sorted(
        results, key=lambda item: series_order((item.modality, item.group and item.group.id))
    )


def _closed_final_checkins(
    session: Session, scope: Scope, protocols: dict[str, Protocol] | None
) -> dict[tuple[str, Any], int]:
    group = scope.group_column().label("grp")
    rows = session.execute(
        select(Treatment.modality, group, func.count().label("n"))
        .join(CheckIn, CheckIn.treatment_id == Treatment.id)
        .where(
            _last_slot_clause(protocols, CheckIn.slot),
            CheckIn.status.in_(("answered", "missed")),
            *scope.where(),
        )
        .group_by(Treatment.modality, group)
    )
    return {(row.modality, row.grp): int(row.n) for row in rows}


def _group_id(series: Any) -> Any:
    return series.group.id if series.group else None
