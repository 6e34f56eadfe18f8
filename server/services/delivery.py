"""Getting each check-in in front of the patient: claims, prompts, reminders, the ledger.

Several workers share the work through the database: a worker claims a batch (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite serialises writers) by stamping ``claimed_until``; a crashed
worker's claims lapse and another takes them over. Delivery is at least once; the notification's
tag (the check-in) and the answer's client_id make a repeat harmless.
"""

from __future__ import annotations

import json
import logging
import operator
import random
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    ColumnElement,
    Dialect,
    Table,
    Text,
    TypeDecorator,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from server.models import Base, CheckIn, DeliveryEvent, Patient, PushSubscription, Treatment
from server.services.links import checkin_link_token
from server.services.mail import Mailer
from server.services.push import Notification, PushResult, PushSender, Target
from server.services.scheduling import QuietHours, out_of_quiet, reminder_time

log = logging.getLogger(__name__)
PROMPT, REMINDER, FALLBACK = "prompt", "reminder", "fallback"
TEXTS = {
    PROMPT: (
        "Time for your check-in",
        "A few quick questions about how you feel since your visit.",
    ),
    REMINDER: ("Reminder: your check-in", "Your clinic would still like to hear how you are."),
    FALLBACK: (
        "Time for your check-in",
        "A few quick questions about how you feel since your visit.",
    ),
}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to a number of attempts."""

    max_attempts: int = 5
    base_s: float = 30.0

    def delay_s(self, attempts: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait after the given number of failed attempts (Retry-After honoured)."""
        backoff = self.base_s * 2.0 ** (attempts - 1) * rng.uniform(0.5, 1.5)
        return max(backoff, retry_after_s or 0.0)


# a row of _claimed_rows' columns (SQLAlchemy's typed Row does not survive a dict well)
ClaimedRow = Any


@dataclass(frozen=True)
class Outbound:
    """One claimed check-in, ready to send without the database."""

    checkin_id: int
    purpose: str
    notification: Notification
    targets: tuple[Target, ...]
    email: str | None
    link: str | None  # opens this check-in without the app's token; only when e-mailed
    claimed: ClaimedRow  # the check-in and its patient as claimed: its next step starts there


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
    with_email = select(Treatment.id).join(Patient).where(Patient.email.is_not(None))
    return and_(
        or_(gave_up, not_shown),
        CheckIn.emailed_at.is_(None),
        open_now,
        CheckIn.treatment_id.in_(with_email),
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
    chosen: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        # the ids as one array (computed once, then looked up by primary key): ``IN (SELECT …)``
        # may be planned as a join that reads the whole table, history and all
        locked = candidates.with_for_update(skip_locked=True).scalar_subquery()
        chosen = CheckIn.id == any_(func.array(locked))
    else:
        chosen = CheckIn.id.in_(candidates.scalar_subquery())
    claimed = session.execute(
        update(CheckIn)
        .where(chosen)
        .values(claimed_until=now + lease, claimed_by=worker)
        .returning(CheckIn.id)
        .execution_options(synchronize_session=False)
    )
    return list(claimed.scalars())


def _claimed_rows(session: Session, ids: list[int]) -> dict[int, ClaimedRow]:
    """What delivery needs of claimed check-ins and their patients: plain rows, one query
    (on the tables, not the mapped classes: a batch's rows need none of the ORM's loading)."""
    checkins, treatments, patients = _table(CheckIn), _table(Treatment), _table(Patient)
    rows = session.execute(
        select(
            checkins.c.id,
            checkins.c.status,
            checkins.c.expires_at,
            checkins.c.attempts,
            checkins.c.claimed_by,
            checkins.c.claimed_until,
            checkins.c.remind_at,
            checkins.c.reminder_after_s,
            patients.c.id.label("patient_id"),
            patients.c.email,
            patients.c.link_version,
            patients.c.timezone,
            patients.c.quiet_start,
            patients.c.quiet_end,
        )
        .join(treatments, checkins.c.treatment_id == treatments.c.id)
        .join(patients, treatments.c.patient_id == patients.c.id)
        .where(among(session, checkins.c.id, ids))
    ).all()  # one driver call for all rows: iterating makes one per row
    return {row.id: row for row in rows}


def _live_targets(
    session: Session, patient_ids: set[int], now: datetime
) -> dict[int, list[Target]]:
    """Each patient's subscriptions that are neither disabled nor expired."""
    subscriptions = _table(PushSubscription).c
    targets: dict[int, list[Target]] = {}
    for subscription_id, patient_id, endpoint, p256dh, auth in session.execute(
        select(
            subscriptions.id,
            subscriptions.patient_id,
            subscriptions.endpoint,
            subscriptions.p256dh,
            subscriptions.auth,
        ).where(
            among(session, subscriptions.patient_id, patient_ids),
            subscriptions.disabled_at.is_(None),
            or_(subscriptions.expires_at.is_(None), subscriptions.expires_at > now),
        )
    ).all():
        targets.setdefault(patient_id, []).append(Target(subscription_id, endpoint, p256dh, auth))
    return targets


def outbound(
    session: Session, ids: list[int], *, purpose: str, now: datetime, base_url: str, secret: str
) -> list[Outbound]:
    """What to send for claimed check-ins: the notification and the patient's live channels."""
    rows = _claimed_rows(session, ids).values()
    targets = (
        {} if purpose == FALLBACK else _live_targets(session, {row.patient_id for row in rows}, now)
    )
    title, body = TEXTS[purpose]
    batch = []
    for row in rows:
        note = Notification(
            checkin_id=row.id,
            title=title,
            body=body,
            url=f"/checkin/{row.id}",
            ttl_s=int((row.expires_at - now).total_seconds()),
            urgency="low" if purpose == REMINDER else "high",
        )
        live = tuple(targets.get(row.patient_id, ()))
        link = None
        if row.email and not live:  # e-mail goes only where push cannot: sign only its links
            token = checkin_link_token(
                secret,
                checkin_id=row.id,
                patient_id=row.patient_id,
                expires_at=row.expires_at,
                version=row.link_version,
            )
            link = f"{base_url}/checkin/{row.id}#link={token}"
        batch.append(Outbound(row.id, purpose, note, live, row.email, link, row))
    if batch:  # one statement, whatever the batch size: the database copies the ids
        events = _table(DeliveryEvent)
        session.execute(
            insert(events).from_select(
                ["checkin_id", "at", "kind", "purpose"],
                select(
                    CheckIn.id,
                    literal(now, events.c.at.type),
                    literal("queued", events.c.kind.type),
                    literal(purpose, events.c.purpose.type),
                ).where(among(session, CheckIn.id, [item.checkin_id for item in batch])),
            )
        )
    return batch


@dataclass(frozen=True)
class Attempt:
    """What came of one Outbound: push answers, an e-mail outcome, or no channel at all."""

    item: Outbound
    channel: str  # push | email | none | released (not tried: the lease was running out)
    results: tuple[PushResult, ...] = ()
    email_error: str | None = None

    @property
    def is_delivered(self) -> bool:
        """A push service or the mail server accepted it."""
        if self.channel == "email":
            return self.email_error is None
        return any(result.is_sent for result in self.results)

    @property
    def is_retryable(self) -> bool:
        """A failure worth another try later."""
        if self.channel == "email":
            return True
        return any(result.is_retryable for result in self.results)

    @property
    def reached_only_dead_ends(self) -> bool:
        """Every subscription is gone (404/410): try the next channel at once."""
        return bool(self.results) and all(result.is_gone for result in self.results)


def email_text(item: Outbound) -> tuple[str, str]:
    """Subject and body of a check-in e-mail: no health data, only the link."""
    if item.link is None:
        raise ValueError(f"check-in {item.checkin_id} was not prepared for e-mail")
    title, body = TEXTS[item.purpose]
    text = (
        f"{body}\n\nOpen your check-in:\n{item.link}\n\nThe link works until the check-in "
        "closes. If you think it is an emergency, call your local emergency number: "
        "this service is not watched around the clock.\n"
    )
    return title, text


def send_pushes(batch: list[Outbound], sender: PushSender) -> Future[list[PushResult]]:
    """Start sending a batch's pushes in the sender's pool; their answers, in batch order."""
    return sender.submit([(target, item.notification) for item in batch for target in item.targets])


def deliver(
    batch: list[Outbound],
    *,
    pushed: Future[list[PushResult]],
    mailer: Mailer,
    send_until: float,
) -> list[Attempt]:
    """Finish a batch: the answers to its pushes (started by ``send_pushes``), and e-mail where
    there is no push.

    E-mails go one after another through one SMTP session; none is started once
    ``time.monotonic()`` reaches ``send_until`` (set before the claim's lease ends): those are
    released unsent, so a slow mail server cannot keep a batch past its lease and so get it sent
    twice.
    """
    results = iter(pushed.result())
    attempts = []
    with mailer.session() as mail:
        for item in batch:
            if item.targets:
                answers = tuple(next(results) for _ in item.targets)
                attempts.append(Attempt(item, "push", answers))
            elif item.email and mailer.is_configured and time.monotonic() >= send_until:
                attempts.append(Attempt(item, "released"))
            elif item.email and mailer.is_configured:
                subject, text = email_text(item)
                error = mail.send(to=item.email, subject=subject, text=text)
                attempts.append(Attempt(item, "email", email_error=error))
            else:
                attempts.append(Attempt(item, "none"))
    return attempts


def record(
    session: Session,
    attempts: list[Attempt],
    *,
    now: datetime,
    worker: str,
    retry: RetryPolicy,
    rng: random.Random,
) -> None:
    """Write the ledger and each check-in's next step, then release this worker's claims.

    The next step is worked out from the check-in as claimed, and written only where it still
    stands so: this claim still holds and the status is unchanged (a patient answering, a
    clinician cancelling, a lapsed claim taken again all change that). Where it does not, the
    push services' answers are still written, and this claim, if it still holds, given back.
    """
    events: list[dict[str, Any]] = []
    steps: dict[int, dict[str, Any]] = {}  # a retry's or a giving up's ledger row, by check-in
    changes: list[dict[str, Any]] = []
    gone: list[int] = []
    for attempt in attempts:
        row = attempt.item.claimed
        events += _ledger_rows(attempt, now)
        gone += [result.subscription_id for result in attempt.results if result.is_gone]
        for result in attempt.results:
            if result.status_code == 413:  # our payloads are tiny: a 413 means a bug here
                log.error(
                    "push service answered 413 (too large) for check-in %s, subscription %s",
                    row.id,
                    result.subscription_id,
                )
        if attempt.channel == "released":
            change = {}  # not tried, so not failed: only the claim is given back
        elif attempt.is_delivered:
            change = _delivered(row, attempt, now)
        else:
            change, steps[row.id] = _next_step(row, attempt, now, retry, rng)
        changes.append(
            {
                "claimed_until": None,
                "claimed_by": None,
                **change,
                "_id": row.id,
                "_status": row.status,
                "_claimed_until": row.claimed_until,
            }
        )
    written = _apply(session, changes, worker)
    events += [step for checkin_id, step in steps.items() if checkin_id in written]
    _insert_rows(session, _table(DeliveryEvent), events)
    release(
        session,
        [attempt.item.claimed for attempt in attempts if attempt.item.checkin_id not in written],
        worker,
    )
    if gone:
        session.execute(
            update(PushSubscription)
            .where(among(session, PushSubscription.id, gone))
            .values(disabled_at=now)
        )
    session.flush()


def release(session: Session, claimed: Iterable[ClaimedRow], worker: str) -> None:
    """Give back this worker's claims of these check-ins, so another worker may take them at
    once; a claim that lapsed and was taken again since (by any worker) is left alone."""
    table = _table(CheckIn)
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
    table = _table(CheckIn)
    return and_(
        among(session, table.c.id, ids),
        table.c.claimed_by == worker,
        table.c.claimed_until == claimed_until,
    )


def _apply(session: Session, changes: list[dict[str, Any]], worker: str) -> set[int]:
    """Write each check-in's next step, but only where this worker still holds this claim of
    it (a claim is known by its worker and its lease's end) and nobody changed its status
    meanwhile: the WHERE makes that check and the write one step. Check-ins with the same next
    step (most of a batch) share one UPDATE. Returns the ids written."""
    table = _table(CheckIn)
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


class _IntegerArray(UserDefinedType[str]):
    """PostgreSQL's ``integer[]``, bound as its text form with the cast on the placeholder
    (``%(ids)s::INTEGER[]``): psycopg sends a ``str`` untyped, so the server takes the parameter
    as the array and parses it once. A cast around a parameter typed text
    (``CAST(%(ids)s::VARCHAR AS INTEGER[])``) is not folded, and is parsed again for every row
    scanned: 20 ms a query at a thousand ids, until psycopg prepares the statement."""

    cache_ok = True
    render_bind_cast = True

    def get_col_spec(self, **kw: Any) -> str:
        return "INTEGER[]"


class IdArray(TypeDecorator[list[int]]):
    """Integers bound as one PostgreSQL array literal (``'{1,2,3}'::integer[]``): psycopg
    adapts a list's items one by one in Python, a millisecond a thousand; this joins them in
    C. Only true integers are taken (``operator.index``), so nothing but digits reaches the
    literal."""

    impl = _IntegerArray
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> str | None:
        return None if value is None else "{" + ",".join(map(str, map(operator.index, value))) + "}"


def among(session: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY`` of one array parameter, so a batch's
    thousand ids make neither a thousand placeholders nor a new statement text each time."""
    values = list(ids)
    clause: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        clause = column == any_(bindparam(None, values, type_=IdArray()))
    else:
        clause = column.in_(values)
    return clause


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of the same columns; on PostgreSQL as one statement reading the rows
    from one JSON parameter (``json_to_recordset``: serialised in C, parsed by the server),
    instead of a statement per row or an array per column adapted item by item in Python."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    document = json.dumps(rows, default=_json_value, separators=(",", ":"), allow_nan=False)
    recordset = (
        func.json_to_recordset(cast(bindparam(None, document, type_=Text), JSON))
        .table_valued(*(column(name, table.c[name].type) for name in columns))
        .render_derived(with_types=True)
    )
    session.execute(insert(table).from_select(columns, select(*recordset.c)))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as UTCDateTime: a time without a zone is a bug
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a ledger value")


def _table(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements over many rows."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - a mapped class's table
    return table


def _ledger_rows(attempt: Attempt, now: datetime) -> list[dict[str, Any]]:
    common = {
        "checkin_id": attempt.item.checkin_id,
        "at": now,
        "purpose": attempt.item.purpose,
        "subscription_id": None,
        "status_code": None,
        "detail": None,
    }
    if attempt.channel == "email":
        return [
            {
                **common,
                "channel": "email",
                "detail": attempt.email_error,
                "kind": "failed" if attempt.email_error else "sent",
            }
        ]
    return [
        {
            **common,
            "channel": "push",
            "kind": "sent" if result.is_sent else "failed",
            "subscription_id": result.subscription_id,
            "status_code": result.status_code,
            # a push service's own words: PostgreSQL text holds no NUL
            "detail": result.detail[:300].replace("\x00", "") or None,
        }
        for result in attempt.results
    ]


def _delivered(row: ClaimedRow, attempt: Attempt, now: datetime) -> dict[str, Any]:
    change: dict[str, Any] = {"emailed_at": now} if attempt.channel == "email" else {}
    if attempt.item.purpose == REMINDER:
        change["reminded_at"] = now
    elif row.status == "scheduled":
        change.update(status="sent", sent_at=now, next_attempt_at=None, attempts=0)
        if row.remind_at is not None and row.remind_at < now + timedelta(
            seconds=row.reminder_after_s or 0
        ):  # a prompt that went out late: its reminder keeps its distance from it
            change["remind_at"] = reminder_time(
                now, row.expires_at, row.reminder_after_s, ZoneInfo(row.timezone), _quiet(row)
            )
    return change


def _quiet(row: ClaimedRow) -> QuietHours | None:
    return QuietHours(row.quiet_start, row.quiet_end) if row.quiet_start else None


def _next_step(
    row: ClaimedRow,
    attempt: Attempt,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """After a failure: try again later, try the next channel now, or give up; the change
    and its ledger row."""
    attempts = row.attempts + 1
    next_at: datetime | None = None
    if attempt.reached_only_dead_ends and row.email:
        next_at, reason = now, "every subscription is gone; trying e-mail"
    elif attempt.reached_only_dead_ends:
        reason = "every subscription is gone and there is no e-mail address"
    elif attempt.channel == "none":
        reason = "no live push subscription and no e-mail address"
    elif attempt.is_retryable and attempts < retry.max_attempts:
        retry_after = max((r.retry_after_s or 0.0 for r in attempt.results), default=None)
        wait = timedelta(seconds=retry.delay_s(attempts, retry_after, rng))
        next_at = out_of_quiet(now + wait, ZoneInfo(row.timezone), _quiet(row))
        reason = f"attempt {attempts} failed; next at {next_at.isoformat()}"
        if next_at >= row.expires_at:
            next_at, reason = None, "the window closes before another attempt"
    else:
        reason = f"gave up after {attempts} attempts"
    event = {
        "checkin_id": row.id,
        "at": now,
        "purpose": attempt.item.purpose,
        "kind": "gave_up" if next_at is None else "retry",
        "channel": None,
        "subscription_id": None,
        "status_code": None,
        "detail": reason,
    }
    change: dict[str, Any] = {"attempts": attempts}
    if attempt.item.purpose == PROMPT:
        change["next_attempt_at"] = next_at
    elif attempt.item.purpose == REMINDER:
        change["remind_at"] = next_at
    elif next_at is None:
        change["emailed_at"] = now  # the fallback gave up: marked so it is not claimed again
    if next_at is not None and attempt.item.purpose == FALLBACK:
        change["claimed_until"] = next_at  # the fallback waits by keeping its claim
    return change, event


def acknowledge(session: Session, *, checkin: CheckIn, event: str, now: datetime) -> None:
    """The service worker showed the notification, or the patient opened it (first time kept)."""
    if event == "shown" and checkin.shown_at is None:
        checkin.shown_at = now
    elif event == "opened" and checkin.opened_at is None:
        checkin.opened_at = now
    session.add(DeliveryEvent(checkin_id=checkin.id, at=now, kind=event, channel="push"))
    session.flush()


def ledger(session: Session, *, checkin_id: int) -> list[DeliveryEvent]:
    """A check-in's delivery ledger, oldest first."""
    return list(
        session.scalars(
            select(DeliveryEvent)
            .filter_by(checkin_id=checkin_id)
            .order_by(DeliveryEvent.at, DeliveryEvent.id)
        )
    )
