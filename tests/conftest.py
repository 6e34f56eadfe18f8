"""Fixtures: the app on SQLite and on PostgreSQL, a clean database per test, clients, builders.

Every test that takes ``app``, ``session`` or ``client`` runs once per database. PostgreSQL is at
``TEST_POSTGRES_URL`` (default: postgres@127.0.0.1:5432). When it is unreachable the PostgreSQL
half is skipped loudly, or fails when ``REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

import contextvars
import email
import random
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher, profiles
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from jobs.tasks import Worker
from server import create_app
from server.config import Config
from server.extensions import db, limiter
from server.models import Base
from server.push import EndpointPolicy, PushSender
from server.services import credentials
from server.services.mail import Mailer
from server.services.sms import SmsProvider
from tests import push_service
from tests.browser.conftest import CHROMIUM
from tests.databases import (
    POSTGRES_UNAVAILABLE,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    drop_postgres_database,
    postgres_database,
    worker_suffix,
)
from tests.sms_service import ACCOUNT_SID, AUTH_TOKEN, FROM, SmsService


def pytest_report_header() -> list[str]:
    if POSTGRES_UNAVAILABLE:
        return ["!" * 72, f"!!! SKIPPING THE POSTGRESQL HALF: {POSTGRES_UNAVAILABLE}", "!" * 72]
    return [f"databases: sqlite and postgresql ({POSTGRES_URL})"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_POSTGRES and POSTGRES_UNAVAILABLE:
        raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but {POSTGRES_UNAVAILABLE}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CHROMIUM.exists():
        terminalreporter.write_line(
            f"!!! THE BROWSER TESTS WERE SKIPPED: {CHROMIUM} is missing "
            "(apt-get install -y chromium)",
            red=True,
            bold=True,
        )
    if POSTGRES_UNAVAILABLE:
        terminalreporter.write_line(
            f"!!! THE POSTGRESQL HALF WAS SKIPPED: {POSTGRES_UNAVAILABLE}", red=True, bold=True
        )


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


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh context, as a server would: its own app context and session.

    Without this, Flask reuses the test's app context, so a failed request's flushed rows would
    linger in the test's session instead of being rolled back at the end of the request.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        db.session.commit()  # what the test built is durable before the request, as in real life
        response: TestResponse = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.expire_all()  # the test reads what the request made durable, not a stale copy
        return response


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    """A test client whose requests run in their own app context, like real ones."""
    app.test_client_class = IsolatedClient
    limiter.reset()  # its memory storage outlives a test: each test starts with a full allowance
    return app.test_client()


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at its cheapest in tests: production cost would spend seconds on test accounts."""
    original = credentials._hasher
    credentials._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    credentials._hasher = original


PushServer = tuple[push_service.PushService, ThreadingHTTPServer]


@pytest.fixture(scope="session")
def _push_server() -> Iterator[PushServer]:
    service = push_service.PushService()
    server = push_service.start(service)
    yield service, server
    server.shutdown()
    server.server_close()


@pytest.fixture
def push(
    _push_server: tuple[push_service.PushService, ThreadingHTTPServer],
) -> push_service.PushService:
    """The local push service, emptied for this test."""
    service, _ = _push_server
    service.subscribers.clear()
    service.scripts.clear()
    service.received.clear()
    service.delay_s = 0.0
    service.most_in_flight = 0
    service.outage_status = None
    return service


@dataclass
class Mailbox:
    """What the local SMTP server received, and from which connection (client address)."""

    messages: list[email.message.Message] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        self.peers.append(session.peer)
        return "250 OK"


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check its own start
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(_smtp_server: tuple[Mailbox, int]) -> Mailbox:
    """The local SMTP server's inbox, emptied for this test."""
    _smtp_server[0].messages.clear()
    _smtp_server[0].peers.clear()
    return _smtp_server[0]


@pytest.fixture
def smtp_port(_smtp_server: tuple[Mailbox, int]) -> int:
    """The port of the local SMTP server (for a configuration that names it)."""
    return _smtp_server[1]


@pytest.fixture(scope="session")
def _sms_service() -> Iterator[SmsService]:
    service = SmsService()
    yield service
    service.close()


@pytest.fixture
def sms(_sms_service: SmsService) -> SmsService:
    """The local Messages API, emptied for this test."""
    _sms_service.reset()
    return _sms_service


@pytest.fixture
def texting_worker(worker: Worker, sms: SmsService) -> Worker:
    """The job worker, its texts sent through the local Messages API."""
    provider = SmsProvider(ACCOUNT_SID, AUTH_TOKEN, FROM, api_base=sms.url, timeout_s=2.0)
    return replace(worker, texts=provider)


@pytest.fixture
def worker(app: Flask, session: Session, _smtp_server: tuple[Mailbox, int]) -> Iterator[Worker]:
    """A job worker whose push sender may reach the local push service and mails locally."""
    sender = PushSender(
        private_pem=app.config["VAPID_PRIVATE_KEY"],
        subject=app.config["VAPID_SUBJECT"],
        policy=EndpointPolicy(allow_local=True),
        pool_size=8,
        timeout_s=1.0,
    )
    mailer = Mailer(host="127.0.0.1", port=_smtp_server[1], sender="clinic@example.org")
    job_worker = Worker(app=app, sender=sender, mailer=mailer, rng=random.Random(7))
    yield job_worker
    sender.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def migrated_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a new database of its own, built by the migrations up to their head, as an
    operator's would be."""
    from flask_migrate import upgrade

    name = f"needling_migrated_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    elif POSTGRES_UNAVAILABLE:
        pytest.skip(POSTGRES_UNAVAILABLE)
    else:
        url = postgres_database(name)
    app = create_app(Config.for_tests(url, tmp_path))
    with app.app_context():
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(name)
