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
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import PushSubscription, utcnow
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


@dataclass
class _Batch:
    """A claimed batch, prepared for sending."""

    ids: list[int]
    items: list[delivery.Outbound]
    send_until: float  # no e-mail is started after this time.monotonic()


def _run(worker: Worker, purpose: str, now: datetime | None) -> int:
    """Claim and deliver batches until nothing more is due (or the worker is stopping).

    Batches overlap: while one batch's pushes are in flight (on the sender's thread), the next
    batch is claimed, prepared and handed to the sender (its pushes start as soon as the last
    of this batch's are out), and the previous batch's outcome is recorded, so neither the
    database work nor the push services' answers leave the sender waiting."""
    config = worker.app.config
    handled = 0
    with worker.app.app_context():
        session = db.session()
        current = _claim(worker, session, purpose, now)
        # claimed and not yet recorded, oldest first: given back if anything fails
        held = [current] if current is not None else []
        out_of_time = False
        pushed = following_pushed = None
        try:
            pushed = delivery.send_pushes(current.items, worker.sender) if current else None
            while current is not None and pushed is not None:
                following, following_pushed = None, None
                more = len(current.ids) == config["DISPATCH_BATCH"]
                if more and not out_of_time and not worker.stopping.is_set():  # SIGTERM: no more
                    following = _claim(worker, session, purpose, now)
                if following is not None:
                    held.append(following)
                    following_pushed = delivery.send_pushes(following.items, worker.sender)
                delivered = delivery.deliver(
                    current.items,
                    pushed=pushed,
                    mailer=worker.mailer,
                    send_until=current.send_until,
                )
                # out of time: the e-mails left were released, the next pass sends them
                out_of_time = any(attempt.channel == "released" for attempt in delivered)
                handled += _record(worker, session, delivered, now)
                held.pop(0)
                current, pushed = following, following_pushed
        except Exception:
            session.rollback()
            in_hand = [future for future in (pushed, following_pushed) if future is not None]
            for future in in_hand:
                future.cancel()  # not sent at all if the sender has not started it yet
            wait(in_hand)  # nothing of ours in flight any more when the claims are given back
            claimed = [item.claimed for batch in held for item in batch.items]
            delivery.release(session, claimed, worker.name)
            session.commit()
            raise
    return handled


def _claim(worker: Worker, session: Session, purpose: str, now: datetime | None) -> _Batch | None:
    """Claim a batch (durably, before anything is sent) and prepare it; None if none is due."""
    config = worker.app.config
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
    if not ids:
        session.commit()
        return None
    items = delivery.outbound(
        session,
        ids,
        purpose=purpose,
        now=now or utcnow(),
        base_url=config["PUBLIC_BASE_URL"],
        secret=config["SECRET_KEY"],
    )
    # the claim and its queued ledger rows at once, before anything is sent (the rows stay
    # locked while they are prepared: a patient's answer may wait those few milliseconds)
    session.commit()
    send_until = lease_start + config["CLAIM_LEASE_S"] * (1 - LEASE_SAFETY)
    return _Batch(ids, items, send_until)


def _record(
    worker: Worker, session: Session, attempts: list[delivery.Attempt], now: datetime | None
) -> int:
    """Record a delivered batch's outcome; returns how many were handled (not released)."""
    config = worker.app.config
    delivery.record(
        session,
        attempts,
        now=now or utcnow(),
        worker=worker.name,
        retry=delivery.RetryPolicy(config["RETRY_MAX_ATTEMPTS"], config["RETRY_BASE_S"]),
        rng=worker.rng,
    )
    session.commit()
    return sum(attempt.channel != "released" for attempt in attempts)


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
