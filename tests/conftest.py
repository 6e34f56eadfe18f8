"""Fixtures: the app on SQLite and on PostgreSQL, a clean database per test, clients, builders.

Every test that takes ``app``, ``session`` or ``client`` runs once per database. PostgreSQL is at
``TEST_POSTGRES_URL`` (default: postgres@127.0.0.1:5432). When it is unreachable the PostgreSQL
half is skipped loudly, or fails when ``REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import Base

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_reason() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(error).strip()}"


POSTGRES_UNAVAILABLE = _postgres_reason()


def pytest_report_header() -> list[str]:
    if POSTGRES_UNAVAILABLE:
        return ["!" * 72, f"!!! SKIPPING THE POSTGRESQL HALF: {POSTGRES_UNAVAILABLE}", "!" * 72]
    return [f"databases: sqlite and postgresql ({POSTGRES_URL})"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_POSTGRES and POSTGRES_UNAVAILABLE:
        raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but {POSTGRES_UNAVAILABLE}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if POSTGRES_UNAVAILABLE:
        terminalreporter.write_line(
            f"!!! THE POSTGRESQL HALF WAS SKIPPED: {POSTGRES_UNAVAILABLE}", red=True, bold=True
        )


def postgres_database(name: str) -> str:
    """Create a fresh, empty PostgreSQL database and return its URL."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(name: str) -> None:
    """Drop a database made by ``postgres_database``."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_suffix() -> str:
    """Distinct per run and xdist worker, so parallel runs never share a database."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of each kind, for the whole test session."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
        return
    if POSTGRES_UNAVAILABLE:
        pytest.skip(POSTGRES_UNAVAILABLE)
    name = f"needling_test_{worker_suffix()}"
    yield postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app with its tables created once per database."""
    instance: Path = tmp_path_factory.mktemp("instance")
    application = create_app(Config.for_tests(database_url, instance))
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The request session inside an app context; every table is emptied after the test.

    Views commit for real, so a test sees exactly what a request made durable; emptying the
    tables afterwards (not a wrapping rollback) keeps that honest.
    """
    with app.app_context():
        yield db.session()
        db.session.remove()
        tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - model table names


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    """A test client; requests run in their own app context, like real ones."""
    return app.test_client()
