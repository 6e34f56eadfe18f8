"""The Flask application factory: the only place things are wired together."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from server import bench_floor, health, pages
from server.api import (
    adjusted,
    alerts,
    analytics,
    audit,
    auth,
    clinic,
    clinicians,
    exports,
    me,
    patients,
    protocols,
    push,
    treatments,
)
from server.api.spec import SchemaKeywordsPlugin, storable_text_pattern
from server.cli import bp as cli_bp
from server.compression import install_compression
from server.config import REPO_ROOT, Config
from server.edge import install_edge
from server.errors import register_error_handlers
from server.extensions import api, csrf, db, limiter, migrate
from server.pwa import bp as pwa_bp
from server.pwa import load_bundle
from server.transactions import commit_once_per_request
from server.webhooks import bp as webhooks_bp


def create_app(config: Config | None = None) -> Flask:
    """Build the app from a Config (default: from the environment)."""
    config = config or Config.from_env()
    # static_folder=None: every file is served by the PWA or the pages, hashed and cached
    app = Flask(__name__, instance_path=config.INSTANCE_PATH, static_folder=None)
    app.config.from_object(config)
    install_edge(app)
    install_compression(app)
    app.config["API_SPEC_OPTIONS"] = {
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    }
    Path(config.INSTANCE_PATH).mkdir(parents=True, exist_ok=True)
    if config.PROXY_HOPS:  # the client's address and scheme as the proxies in front saw them
        hops = config.PROXY_HOPS
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(config)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", partial(_sqlite_pragmas, config.SQLITE_BUSY_MS))
    migrate.init_app(app, db, directory=str(REPO_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    api.init_app(app, spec_kwargs={"extra_plugins": [SchemaKeywordsPlugin()]})
    api.ma_plugin.converter.add_attribute_function(storable_text_pattern)
    for blueprint in (
        auth.blp,
        clinic.blp,
        patients.blp,
        treatments.blp,
        alerts.blp,
        protocols.blp,
        me.blp,
        push.blp,
        analytics.blp,
        adjusted.blp,
        exports.blp,
        clinicians.blp,
        audit.blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(cli_bp)
    app.extensions["pwa_bundle"] = load_bundle()
    app.register_blueprint(pwa_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health.bp)
    if config.BENCH_ENDPOINTS:  # bench/load.py's servers only
        app.register_blueprint(bench_floor.bp)
    register_error_handlers(app)
    commit_once_per_request(app)
    return app


def _engine_options(config: Config) -> dict[str, Any]:
    """The engine's options: PostgreSQL connections are opened within a bounded time."""
    options = dict(config.SQLALCHEMY_ENGINE_OPTIONS)
    if config.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
        connect_args = {"connect_timeout": config.DATABASE_CONNECT_TIMEOUT_S}
        options["connect_args"] = connect_args | options.get("connect_args", {})
    return options


def _sqlite_pragmas(busy_ms: int, connection: Any, _record: Any) -> None:
    """WAL lets the worker write while pages read; SQLite leaves foreign keys off unless asked;
    a writer waits ``busy_ms`` for another to finish before the request answers 503."""
    cursor = connection.cursor()
    # the wait first: a new connection's first statements may meet another process's writer
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # set once, kept in the file
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
