"""Each treatment's outcomes (CLINICAL.md §5), kept beside it for the analytics.

Time to soreness resolution and pain response are per-treatment facts: working them out once,
when a treatment or one of its answers is stored, lets the modality comparison group some
thousands of treatment rows instead of reading every answer again on each page view.
``refresh`` is called by every service that stores a treatment or a response; ``rebuild``
recomputes them all (a migration, bulk-loaded data).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from server.models import Answer, Response, Treatment, TreatmentOutcome
from server.protocols import Value, item_bank
from server.services.sql import table_of

BASELINE = "baseline"
ITEMS = ("soreness", "pain")
CHUNK = 2_000  # treatments per round trip (SQLite allows 32,766 bound values)


@dataclass(frozen=True)
class Reading:
    """One soreness or pain answer of a treatment."""

    slot: str
    item_code: str
    value: int
    hours: float  # since T0


def final_slot(protocol: Sequence[dict[str, Any]]) -> str | None:
    """The last enabled time point of a protocol snapshot: where responders are judged."""
    enabled = [point["slot"] for point in protocol if point.get("enabled", True)]
    return enabled[-1] if enabled else None


def outcome(treatment_id: int, final: str | None, readings: list[Reading]) -> dict[str, Any]:
    """A treatment's outcome row from its soreness and pain answers (CLINICAL.md §5)."""
    before = {r.item_code: r.value for r in readings if r.slot == BASELINE}
    # resolved: soreness <= max(1, baseline soreness); no baseline soreness: <= 1
    threshold = max(1, before.get("soreness", 1))
    soreness_hours = [
        (r.hours, r.value)
        for r in readings
        if r.item_code == "soreness" and r.slot != BASELINE and r.hours >= 0
    ]
    resolved = [hours for hours, value in soreness_hours if value <= threshold]
    pain_before = before.get("pain")
    pain_after = next(
        (r.value for r in readings if r.item_code == "pain" and r.slot == final), None
    )
    return {
        "treatment_id": treatment_id,
        "resolved_hours": min(resolved, default=None),
        "last_soreness_hours": max((hours for hours, _ in soreness_hours), default=None),
        "pain_before": pain_before,
        "pain_after": pain_after,
        "responder": is_responder(pain_before, pain_after),
    }


def is_responder(before: int | None, after: int | None) -> bool | None:
    """Pain down by >= 2 points and >= 30 % of a baseline above 0; None when not judged."""
    if before is None or after is None or before <= 0:
        return None
    drop = before - after
    return drop >= 2 and drop * 10 >= before * 3


def refresh(session: Session, treatment_ids: Iterable[int]) -> None:
    """Recompute the outcome rows of these treatments from what is stored now."""
    ids = sorted(set(treatment_ids))
    for start in range(0, len(ids), CHUNK):
        _refresh_chunk(session, ids[start : start + CHUNK])


@dataclass(frozen=True)
class Known:
    """A treatment's answers as read before an answer's writes: its soreness and pain
    readings, how many responses (baseline included) they were read from, and the baseline's
    answers (which red flags compare with)."""

    responses: int
    readings: list[Reading]
    baseline: dict[str, Value]


def known_readings(session: Session, treatment: Treatment) -> Known:
    """Read a treatment's answers so far, in one statement (before an answer's writes; a
    treatment has a few dozen answers at most).

    From the answers alone, which carry their response's time point and hours since T0, by
    their ``(treatment_id, …)`` index: joined to the responses, PostgreSQL planned a hash join
    over every answer of every clinic whenever its statistics were older than the table (a
    table analyzed while nearly empty), and the cost of an answer grew with the network's."""
    answered = session.execute(_answered_statement(), {"treatment_id": treatment.id}).all()
    readings = [
        Reading(row.slot, row.item_code, row.value_num, row.elapsed_hours)
        for row in answered
        if row.item_code in ITEMS and row.value_num is not None
    ]
    bank = item_bank()
    baseline = {
        row.item_code: value
        for row in answered
        if row.slot == BASELINE
        and (value := bank[row.item_code].from_columns(row.value_num, row.value_text)) is not None
    }
    # every response holds an answer (at least one is required); one that held none would only
    # make refresh_with's guard fail, and the outcome be worked out afresh
    return Known(len({row.response_id for row in answered}), readings, baseline)


@cache
def _answered_statement() -> Select[int, str, float, str, int | None, str | None]:
    # built once, the treatment bound at each call: building it cost more than running it
    return select(
        Answer.response_id,
        Answer.slot,
        Answer.elapsed_hours,
        Answer.item_code,
        Answer.value_num,
        Answer.value_text,
    ).where(Answer.treatment_id == bindparam("treatment_id"))


def refresh_with(
    session: Session, *, treatment: Treatment, known: Known, added: list[Reading]
) -> None:
    """Store the treatment's outcome from the readings read before (``known``) and those of
    the one response just flushed (``added``), without reading again: the row is updated only
    while the treatment still has exactly one response more than when ``known`` was read.
    Another answer to it stored meanwhile (a clinician's, a phone's outbox sent twice at once)
    fails that test, and the outcome is worked out afresh from what is stored now (as it is
    for a treatment that has no outcome row yet)."""
    row = outcome(treatment.id, final_slot(treatment.protocol), known.readings + added)
    del row["treatment_id"]
    updated = session.execute(
        _update_statement(), {**row, "outcome_of": treatment.id, "responses": known.responses + 1}
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult has rowcount
        refresh(session, [treatment.id])


@cache
def _update_statement() -> Update:
    # built once, a Core UPDATE whose SET is the outcome's columns given at each call: building
    # the ORM statement cost more than running it
    outcomes, responses = table_of(TreatmentOutcome), table_of(Response)
    stored = (
        select(func.count())
        .where(responses.c.treatment_id == bindparam("outcome_of"))
        .scalar_subquery()
    )
    return update(outcomes).where(
        outcomes.c.treatment_id == bindparam("outcome_of"), stored == bindparam("responses")
    )


def rebuild(session: Session) -> int:
    """Recompute every treatment's outcome row; the number of treatments."""
    ids = list(session.scalars(select(Treatment.id)))
    refresh(session, ids)
    return len(ids)


def _refresh_chunk(session: Session, ids: list[int]) -> None:
    # locked first: two answers to one treatment stored at once (a patient's and a clinician's)
    # must not each recompute from a view lacking the other's
    treatments = session.execute(
        select(Treatment.id, Treatment.treated_at, Treatment.protocol)
        .where(Treatment.id.in_(ids))
        .with_for_update()
    ).all()
    answered = session.execute(
        select(
            Response.treatment_id,
            Response.slot,
            Response.answered_at,
            Answer.item_code,
            Answer.value_num,
        )
        .join(Answer, Answer.response_id == Response.id)
        .where(
            Response.treatment_id.in_(ids),
            Answer.item_code.in_(ITEMS),
            Answer.value_num.is_not(None),
        )
    ).all()
    treated_at: dict[int, datetime] = {row.id: row.treated_at for row in treatments}
    readings: dict[int, list[Reading]] = {row.id: [] for row in treatments}
    for row in answered:
        hours = (row.answered_at - treated_at[row.treatment_id]).total_seconds() / 3600
        readings[row.treatment_id].append(Reading(row.slot, row.item_code, row.value_num, hours))
    rows = [outcome(row.id, final_slot(row.protocol), readings[row.id]) for row in treatments]
    session.execute(delete(TreatmentOutcome).where(TreatmentOutcome.treatment_id.in_(ids)))
    if rows:  # one multi-row INSERT (executemany would be a round trip per row)
        session.execute(insert(TreatmentOutcome).values(rows))
