"""Web Push to the patient's live subscriptions, through the push adapter's sender."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.models import PushSubscription
from server.push import Notification, PushResult, PushSender, Target
from server.services.sql import among, table_of

from ..outbound import REMINDER, TEXTS, Attempt, ClaimedRow, Outbound


@dataclass(frozen=True)
class WebPushChannel:
    """Push notifications: no health data, only where to fetch the check-in."""

    sender: PushSender
    name: str = "push"

    def addresses(
        self, session: Session, rows: Sequence[ClaimedRow], *, now: datetime
    ) -> dict[int, tuple[Any, ...]]:
        """Each patient's subscriptions that are neither disabled nor expired."""
        subscriptions = table_of(PushSubscription).c
        targets: dict[int, list[Target]] = {}
        for subscription_id, patient_id, endpoint, p256dh, auth in session.execute(
            select(
                subscriptions.id,
                subscriptions.patient_id,
                subscriptions.endpoint,
                subscriptions.p256dh,
                subscriptions.auth,
            ).where(
                among(session, subscriptions.patient_id, {row.patient_id for row in rows}),
                subscriptions.disabled_at.is_(None),
                or_(subscriptions.expires_at.is_(None), subscriptions.expires_at > now),
            )
        ).all():
            targets.setdefault(patient_id, []).append(
                Target(subscription_id, endpoint, p256dh, auth)
            )
        return {row.id: tuple(targets[row.patient_id]) for row in rows if row.patient_id in targets}

    def start(self, items: Sequence[Outbound], *, now: datetime) -> PushSending:
        """Hand the items' messages to the sender's thread: they go out while the caller goes
        on with the database."""
        jobs = [(target, notification(item, now)) for item in items for target in item.addresses]
        return PushSending(list(items), self.sender.submit(jobs))


def notification(item: Outbound, now: datetime) -> Notification:
    """The push message of a check-in: its texts, its link, alive while its window is open."""
    title, body = TEXTS[item.purpose]
    return Notification(
        checkin_id=item.checkin_id,
        title=title,
        body=body,
        url=f"/checkin/{item.checkin_id}",
        ttl_s=int((item.claimed.expires_at - now).total_seconds()),
        urgency="low" if item.purpose == REMINDER else "high",
    )


@dataclass
class PushSending:
    """A batch's pushes in the sender's stream."""

    items: list[Outbound]
    pushed: Future[list[PushResult]]

    def finish(self, send_until: float) -> list[Attempt]:
        """The push services' answers, each item's in its own attempt (every push already
        started: the deadline does not apply)."""
        results = iter(self.pushed.result())
        return [
            Attempt(item, "push", tuple(next(results) for _ in item.addresses))
            for item in self.items
        ]

    def cancel(self) -> None:
        """Not sent at all if the sender has not started it yet; nothing of it in flight
        once this returns."""
        self.pushed.cancel()
        wait([self.pushed])
