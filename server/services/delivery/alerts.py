"""Clinician notifications of red-flag alerts: the notices the routing made, claimed when due,
sent through the clinic-facing channels, and recorded.

As for check-ins, delivery is at least once with de-duplication: a worker claims due notices
with a lease and marks them "sending" in the same commit, before anything goes out, so several
workers never send one twice; a notice still "sending" when its lease lapses was in flight
when its worker died, and is the only kind sent again. Acknowledging an alert cancels its
pending notices; one claimed meanwhile is dropped before it is sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from server.models import Alert, AlertNotice, Clinic, Clinician, Patient
from server.services.mail import Mailer, MailSession
from server.services.sms import SmsProvider, SmsSession
from server.services.sql import among, unclaimed

from .steps import RetryPolicy

SEVERITY_WORDS = {"urgent": "Urgent", "same_day": "Same-day", "routine": "Routine"}
CHANNEL_NAMES = {"email": "E-mail", "sms": "SMS"}


@dataclass(frozen=True)
class Message:
    """One message to one address; a digest covers several notices."""

    notice_ids: tuple[int, ...]
    channel: str
    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class NotSent:
    """Why a message did not go, and whether trying again later may help."""

    why: str
    retry: bool = True
    retry_after_s: float | None = None  # as the far end asked (429)


class NoticeSender(Protocol):
    """An open connection of a channel, for a batch's messages one after another."""

    def send(self, message: Message) -> NotSent | None:
        """Send one message; None when accepted."""
        ...


class NoticeChannel(Protocol):
    """A way of reaching clinicians."""

    @property
    def name(self) -> str:
        """As routing names it ("email", "sms")."""
        ...

    def open(self) -> AbstractContextManager[NoticeSender]:
        """A connection for a batch's messages (closed when the block ends)."""
        ...


NOT_STARTED = NotSent("not started: the claim was running out")


class _MailSender:
    def __init__(self, mail: MailSession) -> None:
        self._mail = mail

    def send(self, message: Message) -> NotSent | None:
        error = self._mail.send(to=message.to, subject=message.subject, text=message.text)
        return None if error is None else NotSent(error)


class _TextSender:
    def __init__(self, texts: SmsSession) -> None:
        self._texts = texts

    def send(self, message: Message) -> NotSent | None:
        result = self._texts.send(to=message.to, body=message.text)
        if result.is_sent:
            return None
        why = f"{result.status_code or 'no answer'}: {result.detail}"
        return NotSent(why, result.is_retryable, result.retry_after_s)


@dataclass(frozen=True)
class EmailNotices:
    """Notices by e-mail, one SMTP session for a batch."""

    mailer: Mailer
    name: str = "email"

    @contextmanager
    def open(self) -> Iterator[NoticeSender]:
        with self.mailer.session() as mail:
            yield _MailSender(mail)


@dataclass(frozen=True)
class SmsNotices:
    """Notices by text (urgent alerts read on a phone at night), one HTTP session a batch."""

    provider: SmsProvider
    name: str = "sms"

    @contextmanager
    def open(self) -> Iterator[NoticeSender]:
        with self.provider.session() as texts:
            yield _TextSender(texts)


def notice_channels(mailer: Mailer, texts: SmsProvider) -> dict[str, NoticeChannel]:
    """The clinician channels these set up: e-mail with an SMTP server, texts with a provider
    (the worker sends through them; the pages warn of what is missing by the same rule)."""
    channels: dict[str, NoticeChannel] = {}
    if mailer.is_configured:
        channels["email"] = EmailNotices(mailer)
    if texts.is_configured:
        channels["sms"] = SmsNotices(texts)
    return channels


def claim_notices(
    session: Session, *, now: datetime, worker: str, limit: int, lease: timedelta
) -> list[int]:
    """Claim up to ``limit`` due notices (and any whose claim lapsed while sending), marking
    them "sending"; their ids (commit before sending)."""
    due = or_(
        and_(AlertNotice.status == "pending", AlertNotice.due_at <= now),
        and_(AlertNotice.status == "sending", AlertNotice.claimed_until < now),
    )
    candidates = select(AlertNotice.id).where(due).order_by(AlertNotice.due_at).limit(limit)
    claimed = session.execute(
        update(AlertNotice)
        .where(unclaimed(session, AlertNotice.id, candidates))
        .values(
            status="sending",
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=AlertNotice.attempts + 1,
        )
        .returning(AlertNotice.id)
        .execution_options(synchronize_session=False)
    )
    return list(claimed.scalars())


@dataclass(frozen=True)
class Batch:
    """Claimed notices: the messages to send, and those settled without sending."""

    messages: list[Message]
    settled: dict[int, tuple[str, str]]  # notice id -> (status, why)


def compose(
    session: Session,
    ids: list[int],
    *,
    channels: Mapping[str, NoticeChannel],
    base_url: str,
    max_attempts: int,
) -> Batch:
    """The messages of claimed notices; a notice of an acknowledged alert is cancelled, one to
    a clinician no longer active or by a channel not set up is skipped (with why)."""
    rows = session.execute(
        select(
            AlertNotice.id,
            AlertNotice.step,
            AlertNotice.channel,
            AlertNotice.address,
            AlertNotice.is_digest,
            AlertNotice.attempts,
            Alert.clinic_id,
            Alert.severity,
            Alert.created_at,
            Alert.acknowledged_at,
            Alert.patient_id,
            Patient.code.label("patient_code"),
            Clinic.name.label("clinic_name"),
            Clinic.timezone,
            Clinic.escalate_after_min,
            Clinician.is_active.label("is_active"),
        )
        .join(Alert, AlertNotice.alert_id == Alert.id)
        .join(Patient, Alert.patient_id == Patient.id)
        .join(Clinic, Alert.clinic_id == Clinic.id)
        .outerjoin(Clinician, AlertNotice.clinician_id == Clinician.id)
        .where(among(session, AlertNotice.id, ids))
        .order_by(AlertNotice.id)
    ).all()
    settled: dict[int, tuple[str, str]] = {}
    single: list[Message] = []
    digests: dict[tuple[int, str, str], list[Any]] = {}
    for row in rows:
        if row.acknowledged_at is not None:
            settled[row.id] = ("cancelled", "the alert was acknowledged")
        elif row.attempts > max_attempts:  # claimed again and again, never recorded
            settled[row.id] = ("failed", f"gave up after {max_attempts} attempts")
        elif row.is_active is False:
            settled[row.id] = ("skipped", "the clinician is no longer active")
        elif row.channel not in channels:
            settled[row.id] = ("skipped", f"{CHANNEL_NAMES[row.channel]} is not set up")
        elif row.is_digest:
            digests.setdefault((row.clinic_id, row.channel, row.address), []).append(row)
        else:
            single.append(_message(row, base_url))
    messages = single + [_digest(rows, base_url) for rows in digests.values()]
    return Batch(messages, settled)


def one_line(text: str) -> str:
    """A header's text: line breaks and other control characters become spaces."""
    return "".join(" " if not character.isprintable() else character for character in text)


def _when(row: Any) -> str:
    local = row.created_at.astimezone(ZoneInfo(row.timezone))
    return f"{local:%H:%M} on {local.day} {local:%b %Y}"


def _patient_link(row: Any, base_url: str) -> str:
    return f"{base_url}/clinic/patients/{row.patient_id}"


def _message(row: Any, base_url: str) -> Message:
    """One alert's notice: the clinic, the severity, the patient's code and a link behind the
    clinician's sign-in; never the answers or the rule's wording."""
    severity = SEVERITY_WORDS[row.severity]
    later = row.step > 1
    if row.channel == "sms":  # read on a phone's lock screen: one line, the link last
        still = ", not acknowledged yet" if later else ""
        text = one_line(
            f"{severity} red flag{still}: patient {row.patient_code} ({row.clinic_name}), "
            f"raised {_when(row)}. {_patient_link(row, base_url)}"
        )
        return Message((row.id,), row.channel, row.address, text, text)
    subject = (
        f"{severity} red flag{', not yet acknowledged' if later else ''}: patient "
        f"{row.patient_code} ({row.clinic_name})"
    )
    lines = [
        f"{severity} red flag raised for patient {row.patient_code} at {_when(row)} "
        f"({row.clinic_name}, {row.timezone} time).",
    ]
    if later:
        lines.append(
            f"Nobody has acknowledged it for {row.escalate_after_min * (row.step - 1)} minutes; "
            "you are the next contact."
        )
    lines += [
        "",
        "Open the patient's page to see it and acknowledge it (sign-in required):",
        _patient_link(row, base_url),
    ]
    return Message((row.id,), row.channel, row.address, one_line(subject), "\n".join(lines) + "\n")


def _digest(rows: list[Any], base_url: str) -> Message:
    """Routine alerts due together, as one message to one address."""
    first = rows[0]
    count = f"{len(rows)} routine red flag{'s' if len(rows) > 1 else ''}"
    if first.channel == "sms":
        text = one_line(f"{count} to review at {first.clinic_name}: {base_url}/clinic/")
        return Message(tuple(row.id for row in rows), first.channel, first.address, text, text)
    lines = [f"{count} to review at {first.clinic_name}:", ""]
    lines += [
        f"- patient {row.patient_code}, raised {_when(row)}: {_patient_link(row, base_url)}"
        for row in rows
    ]
    lines += ["", "Each link opens the patient's page (sign-in required)."]
    subject = one_line(f"{count} to review ({first.clinic_name})")
    return Message(
        tuple(row.id for row in rows),
        first.channel,
        first.address,
        subject,
        "\n".join(lines) + "\n",
    )


def record_notices(
    session: Session,
    *,
    outcomes: Mapping[int, NotSent | None],
    settled: Mapping[int, tuple[str, str]],
    worker: str,
    claimed_until: datetime,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random,
) -> None:
    """Write each claimed notice's outcome where this claim still holds: sent, settled, tried
    again later (with back-off) or failed after the last attempt."""
    if not outcomes and not settled:
        return
    attempts = dict(
        session.execute(
            select(AlertNotice.id, AlertNotice.attempts).where(
                among(session, AlertNotice.id, [*outcomes, *settled])
            )
        ).all()
    )
    for notice_id, (status, why) in settled.items():
        _write(session, notice_id, worker, claimed_until, status=status, detail=why)
    for notice_id, error in outcomes.items():
        if error is None:
            _write(session, notice_id, worker, claimed_until, status="sent", sent_at=now)
        elif error is NOT_STARTED:
            _write(session, notice_id, worker, claimed_until, status="pending", detail=error.why)
        elif error.retry and attempts[notice_id] < retry.max_attempts:
            wait = timedelta(seconds=retry.delay_s(attempts[notice_id], error.retry_after_s, rng))
            _write(
                session,
                notice_id,
                worker,
                claimed_until,
                status="pending",
                due_at=now + wait,
                detail=error.why[:300],
            )
        else:
            why = error.why if error.retry else f"refused, not retried: {error.why}"
            _write(session, notice_id, worker, claimed_until, status="failed", detail=why[:300])


def _write(
    session: Session, notice_id: int, worker: str, claimed_until: datetime, **values: Any
) -> None:
    session.execute(
        update(AlertNotice)
        .where(
            AlertNotice.id == notice_id,
            AlertNotice.claimed_by == worker,
            AlertNotice.claimed_until == claimed_until,
        )
        .values(claimed_by=None, claimed_until=None, **values)
    )


def still_wanted(
    session: Session, notice_ids: tuple[int, ...], worker: str, claimed_until: datetime
) -> bool:
    """Whether these notices are still this claim's to send: an acknowledgement since they
    were claimed cancels them (and takes the claim), so nothing goes out after it."""
    held = session.scalar(
        select(func.count())
        .select_from(AlertNotice)
        .where(
            among(session, AlertNotice.id, list(notice_ids)),
            AlertNotice.status == "sending",
            AlertNotice.claimed_by == worker,
            AlertNotice.claimed_until == claimed_until,
        )
    )
    session.commit()  # a fresh snapshot for the next look
    return held == len(notice_ids)


@dataclass(frozen=True)
class Notifier:
    """One worker's way of notifying clinicians: ``run`` is the call its job makes."""

    worker: str
    channels: Mapping[str, NoticeChannel]
    base_url: str
    lease: timedelta
    retry: RetryPolicy
    rng: random.Random
    limit: int = 100

    def run(self, session: Session, *, now: Callable[[], datetime]) -> int:
        """Send every notice due, batch by batch; returns how many were claimed."""
        handled = 0
        while True:
            lease_start, moment = time.monotonic(), now()
            ids = claim_notices(
                session, now=moment, worker=self.worker, limit=self.limit, lease=self.lease
            )
            if not ids:
                session.commit()
                return handled
            batch = compose(
                session,
                ids,
                channels=self.channels,
                base_url=self.base_url,
                max_attempts=self.retry.max_attempts,
            )
            claimed_until = moment + self.lease
            self._record(session, {}, batch.settled, claimed_until, now())
            session.commit()  # "sending", durably, before anything goes out
            send_until = lease_start + self.lease.total_seconds() * 0.75
            for name, channel in self.channels.items():
                mine = [message for message in batch.messages if message.channel == name]
                if mine:
                    self._send(session, channel, mine, send_until, claimed_until, now)
            handled += len(ids)
            if len(ids) < self.limit:
                return handled

    def _send(
        self,
        session: Session,
        channel: NoticeChannel,
        messages: list[Message],
        send_until: float,
        claimed_until: datetime,
        now: Callable[[], datetime],
    ) -> None:
        """Send one channel's messages in turn, each recorded (and committed) as soon as it is
        sent: a worker killed mid-batch can repeat only the message it had in flight."""
        with channel.open() as sender:
            for message in messages:
                if not still_wanted(session, message.notice_ids, self.worker, claimed_until):
                    continue  # acknowledged meanwhile: the acknowledgement cancelled it
                if time.monotonic() >= send_until:
                    error: NotSent | None = NOT_STARTED
                else:
                    try:
                        error = sender.send(message)
                    except Exception as failure:  # one bad message must not stop the others
                        error = NotSent(f"could not be sent: {failure}"[:300])
                outcome = dict.fromkeys(message.notice_ids, error)
                self._record(session, outcome, {}, claimed_until, now())
                session.commit()

    def _record(
        self,
        session: Session,
        outcomes: Mapping[int, NotSent | None],
        settled: Mapping[int, tuple[str, str]],
        claimed_until: datetime,
        moment: datetime,
    ) -> None:
        record_notices(
            session,
            outcomes=outcomes,
            settled=settled,
            worker=self.worker,
            claimed_until=claimed_until,
            now=moment,
            retry=self.retry,
            rng=self.rng,
        )
