"""Claims: which worker sends which check-in, for how long.

Several workers share the work through the database: a worker claims a batch (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite serialises writers) by stamping ``claimed_until``; a
crashed worker's claims lapse and another takes them over. A claim is known by its worker and
its lease's end, so a step is written only where the claim it was worked out under still holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from server.models import CheckIn, Patient, Treatment
from server.services.sql import among, table_of, unclaimed

from .outbound import PROMPT, REMINDER, ClaimedRow


def _due(purpose: str, now: datetime, fallback_delay: timedelta) -> ColumnElement[bool]:
    open_now = CheckIn.expires_at > now
    if purpose == PROMPT:
        return and_(CheckIn.status == "scheduled", CheckIn.next_attempt_at <= now, open_now)
    if purpose == REMINDER:
        return and_(
            CheckIn.status == "sent",
            CheckIn.remind_at <= now,
            CheckIn.reminded_at.is_(None),
            open_now,
        )
    gave_up = and_(
        CheckIn.status == "scheduled", CheckIn.next_attempt_at.is_(None), CheckIn.due_at <= now
    )
    not_shown = and_(
        CheckIn.status == "sent",
        CheckIn.shown_at.is_(None),
        CheckIn.opened_at.is_(None),
        CheckIn.sent_at <= now - fallback_delay,
    )
    textable = and_(
        Patient.phone.is_not(None),
        Patient.sms_consent_at.is_not(None),
        Patient.sms_opted_out_at.is_(None),
    )
    messageable = (
        select(Treatment.id).join(Patient).where(or_(Patient.email.is_not(None), textable))
    )
    return and_(
        or_(gave_up, not_shown),
        CheckIn.messaged_at.is_(None),
        open_now,
        CheckIn.treatment_id.in_(messageable),
    )


def claim(
    session: Session,
    *,
    purpose: str,
    now: datetime,
    worker: str,
    limit: int,
    lease: timedelta,
    fallback_delay: timedelta = timedelta(minutes=15),
) -> list[int]:
    """Claim up to ``limit`` check-ins due for this purpose; returns their ids (commit next)."""
    free = or_(CheckIn.claimed_until.is_(None), CheckIn.claimed_until < now)
    candidates = (
        select(CheckIn.id)
        .where(_due(purpose, now, fallback_delay), free)
        .order_by(CheckIn.due_at)
        .limit(limit)
    )
    claimed = session.execute(
        update(CheckIn)
        .where(unclaimed(session, CheckIn.id, candidates))
        .values(claimed_until=now + lease, claimed_by=worker)
        .returning(CheckIn.id)
        .execution_options(synchronize_session=False)
    )
    return list(claimed.scalars())


def release(session: Session, claimed: Iterable[ClaimedRow], worker: str) -> None:
    """Give back this worker's claims of these check-ins, so another worker may take them at
    once; a claim that lapsed and was taken again since (by any worker) is left alone."""
    table = table_of(CheckIn)
    leases: dict[datetime, list[int]] = {}
    for row in claimed:
        leases.setdefault(row.claimed_until, []).append(row.id)
    for claimed_until, ids in leases.items():
        session.execute(
            update(table)
            .where(_still_held(session, ids, worker, claimed_until))
            .values(claimed_until=None, claimed_by=None)
        )


def _still_held(
    session: Session, ids: list[int], worker: str, claimed_until: datetime
) -> ColumnElement[bool]:
    """These check-ins, where this claim of them still holds (a claim is known by its worker
    and its lease's end)."""
    table = table_of(CheckIn)
    return and_(
        among(session, table.c.id, ids),
        table.c.claimed_by == worker,
        table.c.claimed_until == claimed_until,
    )


def apply_steps(session: Session, changes: list[dict[str, Any]], worker: str) -> set[int]:
    """Write each check-in's next step, but only where this worker still holds this claim of
    it (a claim is known by its worker and its lease's end) and nobody changed its status
    meanwhile: the WHERE makes that check and the write one step. Check-ins with the same next
    step (most of a batch) share one UPDATE. Returns the ids written."""
    table = table_of(CheckIn)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for change in changes:
        values = tuple(sorted((key, value) for key, value in change.items() if key[0] != "_"))
        key = (change["_status"], change["_claimed_until"], values)
        groups.setdefault(key, []).append(change["_id"])
    written: set[int] = set()
    for (status, claimed_until, values), ids in groups.items():
        written.update(
            session.scalars(
                update(table)
                .where(_still_held(session, ids, worker, claimed_until), table.c.status == status)
                .values(dict(values))
                .returning(table.c.id)
            )
        )
    return written
