"""Getting each check-in in front of the patient: claims, prompts, reminders, the ledger.

Several workers share the work through the database: a worker claims a batch (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite serialises writers) by stamping ``claimed_until``; a crashed
worker's claims lapse and another takes them over. Delivery is at least once; the notification's
tag (the check-in) and the answer's client_id make a repeat harmless.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from server.models import CheckIn, DeliveryEvent, Patient, PushSubscription, Treatment
from server.services.links import checkin_link_token
from server.services.mail import Mailer
from server.services.push import Notification, PushResult, PushSender, Target
from server.services.scheduling import out_of_quiet, quiet_hours_of

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


@dataclass(frozen=True)
class Outbound:
    """One claimed check-in, ready to send without the database."""

    checkin_id: int
    purpose: str
    notification: Notification
    targets: tuple[Target, ...]
    email: str | None
    link: str  # opens this check-in without the app's token (for e-mail)


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
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(CheckIn)
        .where(CheckIn.id.in_(candidates.scalar_subquery()))
        .values(claimed_until=now + lease, claimed_by=worker)
        .returning(CheckIn.id)
        .execution_options(synchronize_session=False)
    )
    return list(claimed.scalars())


def _with_patients(session: Session, ids: list[int]) -> list[tuple[CheckIn, Patient]]:
    """The check-ins with their patients, in one query."""
    rows = session.execute(
        select(CheckIn, Patient)
        .join(Treatment, CheckIn.treatment_id == Treatment.id)
        .join(Patient, Treatment.patient_id == Patient.id)
        .where(CheckIn.id.in_(ids))
    )
    return [(checkin, patient) for checkin, patient in rows]


def outbound(
    session: Session, ids: list[int], *, purpose: str, now: datetime, base_url: str, secret: str
) -> list[Outbound]:
    """What to send for claimed check-ins: the notification and the patient's live channels."""
    rows = _with_patients(session, ids)
    patient_ids = {patient.id for _, patient in rows}
    subscriptions: dict[int, list[Target]] = {}
    for sub in session.scalars(
        select(PushSubscription).where(
            PushSubscription.patient_id.in_(patient_ids),
            PushSubscription.disabled_at.is_(None),
            or_(PushSubscription.expires_at.is_(None), PushSubscription.expires_at > now),
        )
    ):
        subscriptions.setdefault(sub.patient_id, []).append(
            Target(sub.id, sub.endpoint, sub.p256dh, sub.auth)
        )
    title, body = TEXTS[purpose]
    batch = []
    for checkin, patient in rows:
        note = Notification(
            checkin_id=checkin.id,
            title=title,
            body=body,
            url=f"/checkin/{checkin.id}",
            ttl_s=int((checkin.expires_at - now).total_seconds()),
            urgency="low" if purpose == REMINDER else "high",
        )
        targets = () if purpose == FALLBACK else tuple(subscriptions.get(patient.id, ()))
        token = checkin_link_token(
            secret, checkin_id=checkin.id, patient_id=patient.id, expires_at=checkin.expires_at
        )
        link = f"{base_url}/checkin/{checkin.id}#link={token}"
        batch.append(Outbound(checkin.id, purpose, note, targets, patient.email, link))
    session.add_all(
        DeliveryEvent(checkin_id=item.checkin_id, at=now, kind="queued", purpose=purpose)
        for item in batch
    )
    return batch


@dataclass(frozen=True)
class Attempt:
    """What came of one Outbound: push answers, an e-mail outcome, or no channel at all."""

    item: Outbound
    channel: str  # push | email | none
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
    title, body = TEXTS[item.purpose]
    text = (
        f"{body}\n\nOpen your check-in:\n{item.link}\n\nThe link works until the check-in "
        "closes. If you think it is an emergency, call your local emergency number: "
        "this service is not watched around the clock.\n"
    )
    return title, text


def deliver(batch: list[Outbound], *, sender: PushSender, mailer: Mailer) -> list[Attempt]:
    """Send a claimed batch: pushes concurrently in the sender's pool, e-mail where no push."""
    jobs = [(target, item.notification) for item in batch for target in item.targets]
    results = iter(sender.send_all(jobs))
    attempts = []
    for item in batch:
        if item.targets:
            answers = tuple(next(results) for _ in item.targets)
            attempts.append(Attempt(item, "push", answers))
        elif item.email and mailer.is_configured:
            subject, text = email_text(item)
            attempts.append(
                Attempt(
                    item,
                    "email",
                    email_error=mailer.send(to=item.email, subject=subject, text=text),
                )
            )
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
    """Write the ledger and each check-in's next step, then release this worker's claims."""
    ids = [attempt.item.checkin_id for attempt in attempts]
    rows = {checkin.id: (checkin, patient) for checkin, patient in _with_patients(session, ids)}
    gone: list[int] = []
    for attempt in attempts:
        checkin, patient = rows[attempt.item.checkin_id]
        _write_ledger(session, attempt, now)
        gone += [result.subscription_id for result in attempt.results if result.is_gone]
        if checkin.claimed_by != worker:
            continue  # our lease lapsed and another worker holds it now: it decides
        if attempt.is_delivered:
            _mark_delivered(checkin, attempt, now)
        else:
            _plan_next(session, checkin, patient, attempt, now, retry, rng)
        checkin.claimed_until = checkin.claimed_by = None
    if gone:
        session.execute(
            update(PushSubscription).where(PushSubscription.id.in_(gone)).values(disabled_at=now)
        )
    session.flush()


def _write_ledger(session: Session, attempt: Attempt, now: datetime) -> None:
    purpose, checkin_id = attempt.item.purpose, attempt.item.checkin_id
    if attempt.channel == "email":
        session.add(
            DeliveryEvent(
                checkin_id=checkin_id,
                at=now,
                purpose=purpose,
                channel="email",
                kind="failed" if attempt.email_error else "sent",
                detail=attempt.email_error,
            )
        )
    for result in attempt.results:
        session.add(
            DeliveryEvent(
                checkin_id=checkin_id,
                at=now,
                purpose=purpose,
                channel="push",
                kind="sent" if result.is_sent else "failed",
                subscription_id=result.subscription_id,
                status_code=result.status_code,
                detail=result.detail[:300] or None,
            )
        )


def _mark_delivered(checkin: CheckIn, attempt: Attempt, now: datetime) -> None:
    if attempt.channel == "email":
        checkin.emailed_at = now
    if attempt.item.purpose == REMINDER:
        checkin.reminded_at = now
    elif checkin.status == "scheduled":
        checkin.status, checkin.sent_at = "sent", now
        checkin.next_attempt_at, checkin.attempts = None, 0


def _plan_next(
    session: Session,
    checkin: CheckIn,
    patient: Patient,
    attempt: Attempt,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random,
) -> None:
    """After a failure: try again later, try the next channel now, or give up."""
    checkin.attempts += 1
    next_at: datetime | None = None
    if attempt.reached_only_dead_ends:
        next_at, reason = now, "every subscription is gone; trying e-mail"
    elif attempt.channel == "none":
        reason = "no live push subscription and no e-mail address"
    elif attempt.is_retryable and checkin.attempts < retry.max_attempts:
        retry_after = max((r.retry_after_s or 0.0 for r in attempt.results), default=None)
        wait = timedelta(seconds=retry.delay_s(checkin.attempts, retry_after, rng))
        next_at = out_of_quiet(now + wait, ZoneInfo(patient.timezone), quiet_hours_of(patient))
        reason = f"attempt {checkin.attempts} failed"
        if next_at >= checkin.expires_at:
            next_at, reason = None, "the window closes before another attempt"
    else:
        reason = f"gave up after {checkin.attempts} attempts"
    kind = "gave_up" if next_at is None else "retry"
    session.add(
        DeliveryEvent(
            checkin_id=checkin.id, at=now, kind=kind, purpose=attempt.item.purpose, detail=reason
        )
    )
    if attempt.item.purpose == PROMPT:
        checkin.next_attempt_at = next_at
    elif attempt.item.purpose == REMINDER:
        checkin.remind_at = next_at
    elif next_at is None:
        checkin.emailed_at = now  # the fallback gave up: marked so it is not claimed again
    else:
        checkin.claimed_until = next_at  # the fallback waits by keeping its claim
        checkin.claimed_by = None


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
