"""What a claimed batch is on its way out: each check-in with the channel that reaches its
patient and that channel's addresses, and what came of sending it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from server.models import CheckIn, DeliveryEvent, Patient, Treatment
from server.models.patients import CHANNELS as ALL_CHANNELS
from server.services.sql import among, table_of

if TYPE_CHECKING:
    from .channels import Channel

PROMPT, REMINDER, FALLBACK = "prompt", "reminder", "fallback"
# the channels each purpose may use; they are tried in the patient's order (channel_order) and
# the first that reaches the patient is used. The fallback is for when push did not reach
CHANNELS = {PROMPT: ALL_CHANNELS, REMINDER: ALL_CHANNELS, FALLBACK: ("email", "sms")}
# what the patient reads: a push notification's title and body, an e-mail's subject and opening
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
NO_CHANNEL = "none"

# a row of claimed_rows' columns (SQLAlchemy's typed Row does not survive a dict well)
ClaimedRow = Any


@dataclass(frozen=True)
class Outbound:
    """One claimed check-in, ready to send without the database."""

    checkin_id: int
    purpose: str
    channel: str  # the channel that reaches the patient, or NO_CHANNEL
    addresses: tuple[Any, ...]  # that channel's: push subscriptions, an e-mail address
    claimed: ClaimedRow  # the check-in and its patient as claimed: its next step starts there


class Result(Protocol):
    """What one address said about one message (a push service, the mail server)."""

    @property
    def subscription_id(self) -> int | None: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def detail(self) -> str: ...
    @property
    def retry_after_s(self) -> float | None: ...
    @property
    def is_sent(self) -> bool: ...
    @property
    def is_gone(self) -> bool: ...
    @property
    def is_retryable(self) -> bool: ...


@dataclass(frozen=True)
class Attempt:
    """What came of one Outbound: each address's result, or no channel at all."""

    item: Outbound
    channel: str  # a channel's name | none | released (not tried: the lease was running out)
    results: tuple[Result, ...] = ()

    @property
    def is_delivered(self) -> bool:
        """A push service or the mail server accepted it."""
        return any(result.is_sent for result in self.results)

    @property
    def is_retryable(self) -> bool:
        """A failure worth another try later."""
        return any(result.is_retryable for result in self.results)

    @property
    def reached_only_dead_ends(self) -> bool:
        """Every address is gone (a push subscription's 404/410): try the next channel now."""
        return bool(self.results) and all(result.is_gone for result in self.results)


def claimed_rows(session: Session, ids: list[int]) -> dict[int, ClaimedRow]:
    """What delivery needs of claimed check-ins and their patients: plain rows, one query
    (on the tables, not the mapped classes: a batch's rows need none of the ORM's loading)."""
    checkins, treatments, patients = table_of(CheckIn), table_of(Treatment), table_of(Patient)
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
            patients.c.clinic_id,
            patients.c.email,
            patients.c.phone,
            patients.c.sms_consent_at,
            patients.c.sms_opted_out_at,
            patients.c.channel_order,
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


def channel_order(row: ClaimedRow, purpose: str) -> tuple[str, ...]:
    """The channels a claimed check-in tries for this purpose, in its patient's order."""
    allowed = CHANNELS[purpose]
    return tuple(name for name in row.channel_order.split(",") if name in allowed)


def is_textable(row: ClaimedRow) -> bool:
    """Whether a text may go to the claimed check-in's patient (as ``Patient.is_textable``)."""
    return bool(row.phone and row.sms_consent_at and row.sms_opted_out_at is None)


def outbound(
    session: Session,
    ids: list[int],
    *,
    purpose: str,
    now: datetime,
    channels: Mapping[str, Channel],
) -> list[Outbound]:
    """What to send for claimed check-ins: for each, the first channel in its patient's order
    (of those its purpose may use) that reaches the patient, with that channel's addresses; a
    "queued" ledger row for each. Each round asks every check-in's next channel in its order,
    each channel once for all the check-ins it is asked for."""
    by_id = claimed_rows(session, ids)
    rows: Sequence[ClaimedRow] = list(by_id.values())
    orders = {row.id: channel_order(row, purpose) for row in rows}
    reached: dict[int, Outbound] = {}
    for position in range(len(ALL_CHANNELS)):
        asked: dict[str, list[ClaimedRow]] = {}
        for row in rows:
            order = orders[row.id]
            if row.id not in reached and position < len(order) and order[position] in channels:
                asked.setdefault(order[position], []).append(row)
        for name, waiting in asked.items():
            found = channels[name].addresses(session, waiting, now=now)
            for checkin_id, addresses in found.items():
                reached[checkin_id] = Outbound(
                    checkin_id, purpose, name, addresses, claimed=by_id[checkin_id]
                )
    batch = [
        reached.get(row.id) or Outbound(row.id, purpose, NO_CHANNEL, (), claimed=row)
        for row in rows
    ]
    if batch:  # one statement, whatever the batch size: the database copies the ids
        events = table_of(DeliveryEvent)
        session.execute(
            events.insert().from_select(
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
