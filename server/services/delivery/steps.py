"""After a send: each check-in's next step (delivered, try again later, try the next channel,
give up) and the ledger rows that say so, written where the claim still holds."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from server.models import DeliveryEvent, Patient, PushSubscription
from server.services.audit import record_event
from server.services.scheduling import QuietHours, out_of_quiet, reminder_time
from server.services.sql import among, insert_rows, table_of

from .claims import apply_steps, release
from .outbound import (
    FALLBACK,
    NO_CHANNEL,
    PROMPT,
    REMINDER,
    Attempt,
    ClaimedRow,
    channel_order,
    is_textable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to a number of attempts.

    The jitter only lengthens a wait (up to half as long again), so the attempts span at least
    ``base_s * (2 ** (max_attempts - 1) - 1)``: 7.5 minutes by default. A push service down
    for less than that costs no prompt; jitter that could also shorten (0.5-1.5x) let the
    attempts end after 3.75 minutes, and gave up on about 2 % of the prompts a 5-minute outage
    caught.
    """

    max_attempts: int = 5
    base_s: float = 30.0

    def delay_s(self, attempts: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait after the given number of failed attempts (Retry-After honoured)."""
        backoff = self.base_s * 2.0 ** (attempts - 1) * rng.uniform(1.0, 1.5)
        return max(backoff, retry_after_s or 0.0)


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
    A push subscription gone (404/410) is disabled; a text refused as the patient opted out
    (Twilio 21610) records the opt-out.
    """
    events: list[dict[str, Any]] = []
    steps: dict[int, dict[str, Any]] = {}  # a retry's or a giving up's ledger row, by check-in
    changes: list[dict[str, Any]] = []
    gone: list[int] = []
    opted_out: set[tuple[int, int]] = set()  # (clinic, patient) of texts refused so
    for attempt in attempts:
        row = attempt.item.claimed
        events += _ledger_rows(attempt, now)
        gone += [
            result.subscription_id
            for result in attempt.results
            if result.is_gone and result.subscription_id is not None
        ]
        if attempt.channel == "sms" and attempt.reached_only_dead_ends:
            opted_out.add((row.clinic_id, row.patient_id))
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
    written = apply_steps(session, changes, worker)
    events += [step for checkin_id, step in steps.items() if checkin_id in written]
    insert_rows(session, table_of(DeliveryEvent), events)
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
    _record_opt_outs(session, opted_out, now)
    session.flush()


def _record_opt_outs(session: Session, patients: set[tuple[int, int]], now: datetime) -> None:
    """The provider refused texts to these patients as opted out: record it (and audit it)."""
    if not patients:
        return
    recorded = session.scalars(
        update(table_of(Patient))
        .where(
            among(session, table_of(Patient).c.id, [patient for _, patient in patients]),
            table_of(Patient).c.sms_opted_out_at.is_(None),
        )
        .values(sms_opted_out_at=now)
        .returning(table_of(Patient).c.id)
    ).all()
    clinics = {patient: clinic for clinic, patient in patients}
    for patient_id in recorded:
        record_event(
            session,
            clinic_id=clinics[patient_id],
            actor="provider:sms",
            action="patient.sms_opted_out",
            target=f"patient:{patient_id}",
            at=now,
            details={"why": "the provider refused a text: the recipient opted out (21610)"},
        )


def _ledger_rows(attempt: Attempt, now: datetime) -> list[dict[str, Any]]:
    """A row for each address's result: sent or failed, with what the far end said."""
    return [
        {
            "checkin_id": attempt.item.checkin_id,
            "at": now,
            "purpose": attempt.item.purpose,
            "channel": attempt.channel,
            "kind": "sent" if result.is_sent else "failed",
            "subscription_id": result.subscription_id,
            "status_code": result.status_code,
            # a far end's own words: PostgreSQL text holds no NUL
            "detail": result.detail[:300].replace("\x00", "") or None,
        }
        for result in attempt.results
    ]


# why a channel's addresses are all dead ends, as the ledger says it
DEAD_ENDS = {
    "push": "every push subscription is gone",
    "sms": "the patient opted out of texts (STOP)",
}
NO_WAY = "no live push subscription, no e-mail address, no mobile number with consent"


def _another_way(row: ClaimedRow, attempt: Attempt) -> bool:
    """Whether a channel of the patient's, other than the one that reached only dead ends, may
    reach them (push is not known here: one more pass finds out)."""
    may_reach = {"push": True, "email": bool(row.email), "sms": is_textable(row)}
    order = channel_order(row, attempt.item.purpose)
    return any(may_reach[name] for name in order if name != attempt.channel)


def _delivered(row: ClaimedRow, attempt: Attempt, now: datetime) -> dict[str, Any]:
    change: dict[str, Any] = {"messaged_at": now} if attempt.channel in ("email", "sms") else {}
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
    dead_end = DEAD_ENDS.get(attempt.channel, "every address is gone")
    if attempt.reached_only_dead_ends and _another_way(row, attempt):
        next_at, reason = now, f"{dead_end}; trying the patient's next channel"
    elif attempt.reached_only_dead_ends:
        reason = f"{dead_end}, and no other channel of the patient's reaches them"
    elif attempt.channel == NO_CHANNEL:
        reason = "no channel reaches the patient: " + NO_WAY
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
        change["messaged_at"] = now  # the fallback gave up: marked so it is not claimed again
    if next_at is not None and attempt.item.purpose == FALLBACK:
        change["claimed_until"] = next_at  # the fallback waits by keeping its claim
    return change, event
