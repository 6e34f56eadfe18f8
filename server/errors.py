"""Domain errors and the one place that maps every error to an HTTP response.

Every error body has the shape ``{"code", "status", "message", "errors": {field: [reason, ...]}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES


class DomainError(Exception):
    """A broken business rule, raised by services; ``field`` names what the caller got wrong."""

    status_code: ClassVar[int] = 422

    def __init__(
        self, message: str, *, field: str | None = None, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors if errors is not None else ({field: [message]} if field else {})


class MalformedBody(DomainError):
    """The request's body cannot be read at all (not JSON, or JSON nested past reading)."""

    status_code = 400


class InvalidInput(DomainError):
    """The request is well-formed but breaks a rule (a value off its scale, an unknown item)."""

    status_code = 422


class NotFound(DomainError):
    """No such object for this caller: another clinic's or patient's objects are 'not found' too."""

    status_code = 404


class Conflict(DomainError):
    """The object is not in a state that allows this (window closed, already answered)."""

    status_code = 409


class Gone(DomainError):
    """The thing existed but has expired (an enrolment link past its time)."""

    status_code = 410


class Unauthorized(DomainError):
    """No valid credentials."""

    status_code = 401


class Forbidden(DomainError):
    """Valid credentials, but the role does not allow this."""

    status_code = 403


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one JSON error shape."""
    return {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message,
        "errors": errors or {},
    }


def _json(
    code: int,
    message: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error_body(code, message, errors)), code, headers or {}


# clinician pages (under /clinic) get an HTML page; these codes have a page of their own
PAGE_ERROR_TEMPLATES = (403, 404, 429, 500)


def _is_page_request() -> bool:
    return request.path == "/clinic" or request.path.startswith("/clinic/")


def _page_error(code: int, message: str) -> tuple[Response, int, dict[str, str]]:
    """A clinician page's error: templates/errors/<code>.html, else errors/error.html."""
    name = f"errors/{code}.html" if code in PAGE_ERROR_TEMPLATES else "errors/error.html"
    title = HTTP_STATUS_CODES.get(code, "Error")
    page = render_template(name, code=code, title=title, message=message)
    return make_response(page), code, {}


def flatten_errors(messages: dict[Any, Any] | list[Any], prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow reasons as dotted field names: {"keys": {"auth": [..]}} -> "keys.auth"."""
    if isinstance(messages, list):  # a schema-level reason
        return {prefix or "_schema": [str(reason) for reason in messages]}
    flat: dict[str, list[str]] = {}
    for key, reasons in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(reasons, dict):
            flat.update(flatten_errors(reasons, name))
        else:
            flat[name] = [str(reason) for reason in reasons]
    return flat


def _flatten_locations(messages: dict[str, Any]) -> dict[str, list[str]]:
    """webargs nests reasons under the location ('json', 'query'); callers want field names."""
    flat: dict[str, list[str]] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(flatten_errors(fields))
        else:  # the whole body is wrong (not an object, not JSON)
            flat[{"json": "body"}.get(location, location)] = fields
    return flat


def handle_domain_error(error: DomainError) -> tuple[Response, int, dict[str, str]]:
    """Map a service's exception to its status and the JSON body."""
    if _is_page_request():
        return _page_error(error.status_code, error.message)
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if error.status_code == 401 else {}
    return _json(error.status_code, error.message, error.errors, headers)


def handle_http_exception(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
    """Werkzeug and webargs errors (404 route, 405, 413, 400 bad JSON, 422 schema) as JSON."""
    code = error.code or 500
    # 405 says which methods the address takes, 429 when to try again
    allow = {name: value for name, value in error.get_headers() if name in ("Allow", "Retry-After")}
    if _is_page_request():
        page, status, _ = _page_error(code, error.description or "")
        return page, status, allow
    data = getattr(error, "data", None) or {}
    errors: dict[str, Any] = {}
    if "messages" in data:
        errors = _flatten_locations(data["messages"])
    message = data.get("message") or {
        400: "The request body is not valid JSON." if "body" in errors else "Bad request.",
        413: f"The request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes.",
        414: "The address is too long.",
        422: "Some fields are not valid; see errors.",
        429: f"Too many attempts ({error.description}); wait Retry-After seconds and retry.",
    }.get(code, error.description or HTTP_STATUS_CODES.get(code, "Error"))
    if code == 413:
        errors = {"body": [message]}
    return _json(code, message, errors, {**allow, **dict(data.get("headers") or {})})


def handle_integrity_error(error: IntegrityError) -> tuple[Response, int, dict[str, str]]:
    """Two requests raced for the same unique thing; the loser is told to retry."""
    current_app.logger.warning("integrity conflict: %s", error.orig)
    if _is_page_request():
        return _page_error(409, "This conflicts with a change made at the same moment; retry.")
    return _json(409, "This conflicts with a change made at the same moment; please retry.")


# how long a client should wait before trying again when the database is busy or out of reach
RETRY_AFTER_S = 2


# SQLite's errors that a retry may get past: another writer held on too long; the file
# cannot grow (disk full, or max_page_count), and the transaction was rolled back whole
SQLITE_UNAVAILABLE = ("database is locked", "database or disk is full")


def _is_unavailable(error: OperationalError) -> bool:
    """The database is busy, full or out of reach (a retry may succeed), not a query gone
    wrong. psycopg's OperationalError covers PostgreSQL's DiskFull and a lost connection."""
    if error.connection_invalidated or isinstance(error.orig, psycopg.OperationalError):
        return True
    return any(reason in str(error.orig) for reason in SQLITE_UNAVAILABLE)


def handle_unavailable(error: OperationalError) -> tuple[Response, int, dict[str, str]]:
    """The database is busy or out of reach: 503 with Retry-After, nothing written; any other
    operational error is a fault of ours, a 500."""
    if not _is_unavailable(error):
        raise error
    current_app.logger.warning("database unavailable: %s (at %s)", error.orig, error.statement)
    message = "The service is busy or its database is out of reach; retry in a moment."
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if _is_page_request():
        page, status, _ = _page_error(503, message)
        return page, status, headers
    return _json(503, message, None, headers)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; registered after flask-smorest's so these win."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(OperationalError, handle_unavailable)
