"""A request's transaction: one commit, in one place, whole or not at all.

Views and services only add and flush. When a request has answered below 400, its changes are
committed here, after the view and before the first byte of the body goes out (so an export's
audit event is durable before the export leaves); an error answer rolls everything back. A
commit that loses a race for a unique value is a 409, as if the view had raised it.

The one other commit is ``commit_or_replay``'s: a write keyed by a client_id must commit inside
the view, to run again as a replay when its twin, arriving at the same moment, committed first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, make_response
from sqlalchemy.exc import IntegrityError, OperationalError

from server.errors import handle_integrity_error, handle_unavailable
from server.extensions import db

T = TypeVar("T")


def finish_transaction(response: Response) -> Response:
    """Commit what a successful request changed; roll back after an error answer."""
    session = db.session()
    if response.status_code >= 400:
        session.rollback()
        return response
    try:
        session.commit()
    except IntegrityError as error:
        session.rollback()
        return make_response(handle_integrity_error(error))
    except OperationalError as error:  # busy or out of reach: 503 (any other error re-raises)
        session.rollback()
        return make_response(handle_unavailable(error))
    return response


def commit_once_per_request(app: Flask) -> None:
    """Install the request's one commit."""
    app.after_request(finish_transaction)


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
