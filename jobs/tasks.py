"""One function per periodic job; each calls one service (delivery runs as one pipeline).

Each takes the worker's ``Worker`` (the app, its push sender and mailer) and an optional ``now``
so ``python -m jobs tick --now ...`` can step through a protocol.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update

from server.extensions import db
from server.models import Clinic, PushSubscription, utcnow
from server.push import PushSender, endpoint_policy
from server.services import delivery
from server.services.adjusted import store as adjusted
from server.services.alerting.notices import urgent_route_problems
from server.services.delivery import alerts
from server.services.mail import Mailer
from server.services.scheduling import expire_checkins
from server.services.sms import SmsProvider


@dataclass
class Worker:
    """What one worker process keeps between job runs."""

    app: Flask
    sender: PushSender
    mailer: Mailer
    texts: SmsProvider = field(default_factory=lambda: SmsProvider("", "", ""))
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    rng: random.Random = field(default_factory=random.Random)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def pipeline(self) -> delivery.Pipeline:
        """The delivery pipeline over this worker's channels (web push, e-mail, texts)."""
        config = self.app.config
        base_url, secret = config["PUBLIC_BASE_URL"], config["SECRET_KEY"]
        channels: list[delivery.Channel] = [
            delivery.WebPushChannel(self.sender),
            delivery.EmailChannel(self.mailer, base_url, secret),
            delivery.SmsChannel(self.texts, base_url, secret),
        ]
        return delivery.Pipeline(
            worker=self.name,
            channels={channel.name: channel for channel in channels},
            settings=delivery.Settings.from_config(config),
            rng=self.rng,
            stopping=self.stopping,
        )

    @property
    def notifier(self) -> alerts.Notifier:
        """Clinician notifications of red flags, over the channels this worker has set up."""
        config = self.app.config
        return alerts.Notifier(
            worker=self.name,
            channels=alerts.notice_channels(self.mailer, self.texts),
            base_url=config["PUBLIC_BASE_URL"],
            lease=timedelta(seconds=config["CLAIM_LEASE_S"]),
            retry=delivery.Settings.from_config(config).retry,
            rng=self.rng,
            limit=config["DISPATCH_BATCH"],
        )

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
        return cls(
            app=app,
            sender=sender,
            mailer=Mailer.from_config(config),
            texts=SmsProvider.from_config(config),
        )


def _deliver(worker: Worker, purpose: str, now: datetime | None) -> int:
    """Run the delivery pipeline for one purpose until nothing more is due."""
    with worker.app.app_context():
        return worker.pipeline.run(
            db.session(), purpose=purpose, now=(lambda: now) if now else utcnow
        )


def dispatch_due_checkins(worker: Worker, now: datetime | None = None) -> int:
    """Send the prompt of every check-in whose window has opened."""
    return _deliver(worker, delivery.PROMPT, now)


def send_reminders(worker: Worker, now: datetime | None = None) -> int:
    """Send the one reminder of prompted, unanswered, still open check-ins when it is due."""
    return _deliver(worker, delivery.REMINDER, now)


def send_email_fallbacks(worker: Worker, now: datetime | None = None) -> int:
    """E-mail the check-in when push gave up or the notification was not shown in time."""
    return _deliver(worker, delivery.FALLBACK, now)


def notify_clinicians(worker: Worker, now: datetime | None = None) -> int:
    """Send the red-flag notices due to clinicians (first steps, escalations, digests)."""
    with worker.app.app_context():
        return worker.notifier.run(db.session(), now=(lambda: now) if now else utcnow)


def channels_off(worker: Worker) -> list[str]:
    """The channels this worker cannot send through, and what would set each up (said at
    start: a clinic must not learn of it from a patient who never got a text)."""
    off = []
    if not worker.mailer.is_configured:
        off.append("e-mail is off: no mail server (set SMTP_HOST)")
    if not worker.texts.is_configured:
        off.append("texts are off: no SMS provider (set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM)")
    return off


def route_problems(worker: Worker) -> dict[str, list[str]]:
    """Each clinic whose urgent alerts have no working way out, and why (said at start)."""
    channels_on = set(worker.notifier.channels)
    with worker.app.app_context():
        session = db.session()
        found = {
            clinic.name: problems
            for clinic in session.scalars(select(Clinic).order_by(Clinic.id))
            if (problems := urgent_route_problems(session, clinic=clinic, channels_on=channels_on))
        }
        session.rollback()
    return found


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


def fit_adjusted_comparisons(worker: Worker, now: datetime | None = None) -> int:
    """Fit again the adjusted comparisons whose clinic's answers changed (and new scopes a page
    asked for); returns how many were fitted. Each commits as it is done."""
    with worker.app.app_context():
        fitted = adjusted.refit_stale(db.session(), now=now or utcnow())
    if fitted:
        worker.app.logger.info("fitted %d adjusted comparisons", fitted)
    return fitted


# every periodic job, in the order one pass (tick) runs them, with its interval setting
JOBS = (
    (notify_clinicians, "ALERT_INTERVAL_S"),
    (expire_missed_checkins, "EXPIRE_INTERVAL_S"),
    (disable_expired_subscriptions, "EXPIRE_INTERVAL_S"),
    (dispatch_due_checkins, "DISPATCH_INTERVAL_S"),
    (send_reminders, "DISPATCH_INTERVAL_S"),
    (send_email_fallbacks, "DISPATCH_INTERVAL_S"),
    (fit_adjusted_comparisons, "ADJUSTED_INTERVAL_S"),  # last: seconds of model fits
)
