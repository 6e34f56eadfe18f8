"""What a load balancer asks: is the process up (``/healthz``), can it serve (``/readyz``).

Both answer anyone, without signing in: a load balancer has no token, and neither answer says
anything about patients or clinics. Neither is audited nor rate limited (no limit applies
unless a route asks for one; only the sign-in routes do), so a probe every few seconds costs
one ``SELECT 1`` and one read of ``alembic_version`` (on PostgreSQL, on a connection of its own,
see ``probe_engine``), and writes nothing.

They are left out of the API's OpenAPI document on purpose: they sit beside the API, not
under ``/api/v1``, and are for the operator's load balancer and monitoring, not for the
integrators the document is written for (docs/production.md describes them).
"""

from __future__ import annotations

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from server.config import REPO_ROOT
from server.errors import RETRY_AFTER_S, error_body
from server.extensions import db

bp = Blueprint("health", __name__)
MIGRATIONS = REPO_ROOT / "migrations"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and answering; the database is not asked (see ``/readyz``)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int, dict[str, str]]:
    """The database answers and its schema is the one this code expects (the head of
    migrations/); else 503 with the reason, and Retry-After for the load balancer."""
    expected = migrations_head(current_app)
    try:
        with probe_engine(current_app).connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as error:
        current_app.logger.warning("not ready: database unreachable: %s", error)
        return _not_ready("the database is out of reach", database="unreachable")
    if current != (expected,):
        found = ", ".join(current) or "none"
        return _not_ready(
            f"the database's migrations are at {found}; this code needs {expected}",
            migrations="behind" if current else "none",
        )
    return jsonify({"status": "ready", "migration": expected})


def probe_engine(app: Flask) -> Engine:
    """What ``/readyz`` connects with. On PostgreSQL, an engine without a pool: each probe opens
    a connection of its own, bounded by DATABASE_CONNECT_TIMEOUT_S, where a pooled connection
    to a host cut off by the network would hold the probe until TCP gave up (minutes). One
    connection per probe costs a few milliseconds of the server's time. SQLite has no network:
    the app's own engine."""
    engine: Engine | None = app.extensions.get("probe_engine")
    if engine is None:
        engine = db.engine
        if engine.dialect.name == "postgresql":
            connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
            engine = create_engine(engine.url, poolclass=NullPool, connect_args=connect_args)
        app.extensions["probe_engine"] = engine
    return engine


def migrations_head(app: Flask) -> str:
    """The newest revision in migrations/, read once per process (the files do not change
    under a running process; a deploy starts new ones)."""
    head: str | None = app.extensions.get("migrations_head")
    if head is None:
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        if head is None:  # pragma: no cover - the repo always ships its migrations
            raise RuntimeError(f"no migrations in {MIGRATIONS}")
        app.extensions["migrations_head"] = head
    return head


def _not_ready(message: str, **reason: str) -> tuple[Response, int, dict[str, str]]:
    body = error_body(503, message, {key: [value] for key, value in reason.items()})
    return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_S)}
