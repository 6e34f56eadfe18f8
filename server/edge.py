"""The HTTP edge: what every request meets before a view, so that no input reaches a 500.

- Path ids are bounded by the columns they look up (32-bit on PostgreSQL): a larger id matches
  no route and is 404, as any unknown id is.
- JSON nested past Python's recursion limit is malformed JSON (400), not a crash: a JSON body is
  parsed here, with Flask's parser (which the views' schemas then read) before webargs' own
  parser, which lets the RecursionError through, ever sees it.
- A URL longer than ``MAX_URL_LENGTH`` is 414; gunicorn refuses a request line over 4,094 bytes
  itself, with a plain 400, before the app sees it.
- A body sent without a length (chunked) over ``MAX_CONTENT_LENGTH`` is 413, as one with a
  length is; werkzeug alone would cut it at the limit and parse what was left.

And what every answer carries: ``nosniff``; ``no-store`` on the API, the exports and the pages,
which hold patient data (the pages add their CSP); HSTS in production, which runs behind https.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from server.errors import MalformedBody
from server.inputs import MAX_ID
from server.services.audit import from_address

MAX_URL_LENGTH = 2048


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a positive id an INTEGER column can hold."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where input nested too deeply to parse is malformed input."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; ``ValueError`` (Flask's 400) also for nesting past the recursion limit."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError as error:
            raise ValueError("JSON nested too deeply") from error


def _refuse_long_urls() -> None:
    if len(request.full_path) > MAX_URL_LENGTH:
        abort(414)


def _parse_json_body() -> None:
    if not request.is_json or not request.get_data(cache=True):
        return
    try:
        request.get_json()
    except BadRequest as error:
        raise MalformedBody("The request body is not valid JSON.", field="body") from error


def _read_streamed_body() -> None:
    environ = request.environ
    # the raw environ, not request.content_length: that would cache the length as unknown
    if "CONTENT_LENGTH" in environ or not environ.get("wsgi.input_terminated"):
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        abort(413)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


# two years, as browsers' preload lists ask; only ever sent in production, behind https
HSTS = "max-age=63072000; includeSubDomains"


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(("/api/", "/clinic")):
        response.headers.setdefault("Cache-Control", "no-store")  # hashed assets keep theirs
    if current_app.config["ENV_NAME"] == "production":
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def _note_address() -> None:
    """The audit log's "from where" for whatever this request records."""
    g.audit_address = from_address.set((request.remote_addr or "")[:64] or None)


def _forget_address(_error: BaseException | None) -> None:
    token = g.pop("audit_address", None)
    if token is not None:
        from_address.reset(token)


def install_edge(app: Flask) -> None:
    """Bound path ids, parse JSON safely, refuse long URLs and bodies (before any route)."""
    app.url_map.converters["int"] = IdConverter
    app.json = JSONProvider(app)
    app.before_request(_note_address)
    app.teardown_request(_forget_address)
    app.before_request(_refuse_long_urls)
    app.before_request(_read_streamed_body)
    app.before_request(_parse_json_body)
    app.after_request(_security_headers)
