"""The sign-in limit: every sign-in form (POST /api/v1/auth/token, the pages' login) draws on one
allowance per client address (``LOGIN_RATE_LIMIT``), so switching forms buys no extra guesses.

Failed attempts are counted in the database (``login_attempts``), which every web process and
machine shares. With ``RATELIMIT_STORAGE_URI`` set to a shared store (``redis://...``),
Flask-Limiter counts every attempt there instead; its ``memory://`` default counts per process,
which several gunicorn workers would each multiply, so it is never used for this.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from flask import current_app, make_response, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from server.extensions import db, limiter
from server.models import utcnow
from server.services.login_attempts import record_failure, retry_after

P = ParamSpec("P")


def counts_in_a_shared_store() -> bool:
    """Whether Flask-Limiter has a store every process shares (else: the database counts)."""
    uri: str = current_app.config["RATELIMIT_STORAGE_URI"]
    return not uri.startswith("memory://")


_shared_store_limit = limiter.shared_limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"],
    scope="login",
    exempt_when=lambda: not counts_in_a_shared_store(),
)


def login_limited(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
    """Refuse a sign-in (429, Retry-After) once its address has failed too often; count each
    failure (a malformed attempt too)."""
    limited = _shared_store_limit(view)

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        if counts_in_a_shared_store():
            return make_response(limited(*args, **kwargs))
        address, now = get_remote_address(), utcnow()
        limits = parse_many(current_app.config["LOGIN_RATE_LIMIT"])
        wait = retry_after(db.session(), address=address, now=now, limits=limits)
        if wait is not None:
            raise TooManyRequests(current_app.config["LOGIN_RATE_LIMIT"], retry_after=wait)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception:
            record_failure(db.engine, address=address, email=_email_given(), now=now)
            raise
        if response.status_code >= 400:
            record_failure(db.engine, address=address, email=_email_given(), now=now)
        return response

    return wrapper


def count_attempt(email: str | None) -> None:
    """Count a request that draws on the allowance whatever its outcome (a password-reset
    request: each may send an e-mail), where the database counts (a shared store counts
    every request itself)."""
    if not counts_in_a_shared_store():
        record_failure(
            db.engine, address=get_remote_address(), email=email, now=utcnow(), audited=False
        )


def _email_given() -> str | None:
    body: Any = request.get_json(silent=True) if request.is_json else request.form
    email = body.get("email") if hasattr(body, "get") else None
    return email if isinstance(email, str) else None
