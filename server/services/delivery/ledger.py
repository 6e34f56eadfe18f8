"""A check-in's delivery ledger: what the phone reported, and reading it back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import CheckIn, DeliveryEvent


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
