"""One function per periodic job: open a context, call the service, commit."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from server.extensions import db
from server.models import utcnow
from server.services.scheduling import expire_checkins


def expire_missed_checkins(app: Flask, now: datetime | None = None) -> int:
    """Mark check-ins whose window closed unanswered as missed; returns how many."""
    with app.app_context():
        missed = expire_checkins(db.session(), now=now or utcnow())
        db.session.commit()
    if missed:
        app.logger.info("marked %d check-ins missed", missed)
    return missed
