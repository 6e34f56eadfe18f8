"""The floor for any write, for ``bench/load.py`` only: one INSERT, one commit.

Registered only when the configuration's ``BENCH_ENDPOINTS`` is set, which ``bench/load.py``
does for the servers it starts; ``Config.from_env`` refuses it in production, and
``tests/test_health.py`` checks the route is absent by default. The row is a failed sign-in
from a documentation address (RFC 5737), the smallest row with no foreign key to satisfy.
"""

from __future__ import annotations

from flask import Blueprint

from server.extensions import db
from server.models import LoginAttempt, utcnow

bp = Blueprint("bench_floor", __name__)


@bp.post("/bench/write")
def minimal_write() -> tuple[str, int]:
    """One INSERT, committed by the request's one commit (``server.transactions``)."""
    db.session.add(LoginAttempt(at=utcnow(), address="192.0.2.1"))
    return "", 204
