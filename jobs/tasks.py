"""One function per periodic job: claim a batch, call the services, commit.

Each takes the worker's ``Worker`` (the app, its push sender and mailer) and an optional ``now``
so ``python -m jobs tick --now ...`` can step through a protocol.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import CheckIn, PushSubscription, utcnow
from server.services import delivery
from server.services.mail import Mailer
from server.services.push import PushSender, endpoint_policy
from server.services.scheduling import expire_checkins


@dataclass
class Worker:
    """What one worker process keeps between job runs."""

    app: Flask
    sender: PushSender
    mailer: Mailer
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    rng: random.Random = field(default_factory=random.Random)
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def for_app(cls, app: Flask) -> Worker:
        """A worker configured from the app's settings."""
        config = app.config
        sender = PushSender(
            private_pem=config["VAPID_PRIVATE_KEY"],
            subject=config["VAPID_SUBJECT"],
            policy=endpoint_policy(config),
            pool_size=config["PUSH_POOL_SIZE"],
            timeout_s=config["PUSH_TIMEOUT_S"],
        )
        mailer = Mailer(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            sender=config["SMTP_FROM"],
            user=config["SMTP_USER"],
            password=config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"],
        )
        return cls(app=app, sender=sender, mailer=mailer)


# stop sending with a quarter of the lease left: time for the message in hand and the record
LEASE_SAFETY = 0.25


def _run(worker: Worker, purpose: str, now: datetime | None) -> int:
    """Claim and deliver batches until nothing more is due (or the worker is stopping)."""
    config = worker.app.config
    handled = 0
    with worker.app.app_context():
        session = db.session()
        while not worker.stopping.is_set():
            lease_start = time.monotonic()  # the lease runs from before the claim
            moment = now or utcnow()
            ids = delivery.claim(
                session,
                purpose=purpose,
                now=moment,
                worker=worker.name,
                limit=config["DISPATCH_BATCH"],
                lease=timedelta(seconds=config["CLAIM_LEASE_S"]),
                fallback_delay=timedelta(seconds=config["EMAIL_FALLBACK_DELAY_S"]),
            )
            session.commit()  # the claim is durable before anything is sent
            if not ids:
                break
            send_until = lease_start + config["CLAIM_LEASE_S"] * (1 - LEASE_SAFETY)
            try:
                attempts = _send_batch(
                    worker, session, ids, purpose=purpose, now=now, send_until=send_until
                )
            except Exception:
                session.rollback()
                _release(session, ids, worker.name)
                raise
            released = sum(attempt.channel == "released" for attempt in attempts)
            handled += len(ids) - released
            if released or len(ids) < config["DISPATCH_BATCH"]:
                break  # out of time (the next pass sends the rest) or nothing more is due
    return handled


def _send_batch(
    worker: Worker,
    session: Session,
    ids: list[int],
    *,
    purpose: str,
    now: datetime | None,
    send_until: float,
) -> list[delivery.Attempt]:
    """Deliver one claimed batch and record the outcome, committing each step."""
    config = worker.app.config
    batch = delivery.outbound(
        session,
        ids,
        purpose=purpose,
        now=now or utcnow(),
        base_url=config["PUBLIC_BASE_URL"],
        secret=config["SECRET_KEY"],
    )
    session.commit()
    attempts = delivery.deliver(
        batch, sender=worker.sender, mailer=worker.mailer, send_until=send_until
    )
    delivery.record(
        session,
        attempts,
        now=now or utcnow(),
        worker=worker.name,
        retry=delivery.RetryPolicy(config["RETRY_MAX_ATTEMPTS"], config["RETRY_BASE_S"]),
        rng=worker.rng,
    )
    session.commit()
    return attempts


def _release(session: Session, ids: list[int], worker_name: str) -> None:
    """Give back claims this worker could not finish, so another takes them at once."""
    session.execute(
        update(CheckIn)
        .where(CheckIn.id.in_(ids), CheckIn.claimed_by == worker_name)
        .values(claimed_until=None, claimed_by=None)
    )
    session.commit()


def dispatch_due_checkins(worker: Worker, now: datetime | None = None) -> int:
    """Send the prompt of every check-in whose window has opened."""
    return _run(worker, delivery.PROMPT, now)


def send_reminders(worker: Worker, now: datetime | None = None) -> int:
    """Send the one reminder of prompted, unanswered, still open check-ins when it is due."""
    return _run(worker, delivery.REMINDER, now)


def send_email_fallbacks(worker: Worker, now: datetime | None = None) -> int:
    """E-mail the check-in when push gave up or the notification was not shown in time."""
    return _run(worker, delivery.FALLBACK, now)


def expire_missed_checkins(worker: Worker, now: datetime | None = None) -> int:
    """Mark check-ins whose window closed unanswered as missed; returns how many."""
    with worker.app.app_context():
        missed = expire_checkins(db.session(), now=now or utcnow())
        db.session.commit()
    if missed:
        worker.app.logger.info("marked %d check-ins missed", missed)
    return missed


def disable_expired_subscriptions(worker: Worker, now: datetime | None = None) -> int:
    """Stop using subscriptions past the expirationTime their browser gave."""
    moment = now or utcnow()
    with worker.app.app_context():
        result = db.session.execute(
            update(PushSubscription)
            .where(PushSubscription.disabled_at.is_(None), PushSubscription.expires_at <= moment)
            .values(disabled_at=moment)
        )
        db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


# every periodic job, in the order one pass (tick) runs them, with its interval setting
JOBS = (
    (expire_missed_checkins, "EXPIRE_INTERVAL_S"),
    (disable_expired_subscriptions, "EXPIRE_INTERVAL_S"),
    (dispatch_due_checkins, "DISPATCH_INTERVAL_S"),
    (send_reminders, "DISPATCH_INTERVAL_S"),
    (send_email_fallbacks, "DISPATCH_INTERVAL_S"),
)
