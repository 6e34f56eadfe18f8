"""The one commit of a replay-safe write, shared by the API and the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from server.extensions import db

T = TypeVar("T")


def commit_or_replay(store: Callable[[], T]) -> T:
    """Run ``store`` (a service keyed by a client_id) and commit. If the same write arrived
    twice at once (a double click, a phone replaying its outbox), the other request stored it
    first: roll back and run it again, now a replay that returns the stored result."""
    try:
        result = store()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        result = store()
        db.session.commit()  # a replay writes nothing; a retried first write must land
    return result
