"""The load balancer's probes: the process is up; the database answers at the right schema."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade

from server import create_app
from server.config import Config
from server.extensions import db
from server.health import migrations_head
from tests.databases import (
    POSTGRES_UNAVAILABLE,
    POSTGRES_URL,
)


def unreachable_app(tmp_path: Path, url: str) -> FlaskClient:
    return create_app(Config.for_tests(url, tmp_path)).test_client()


def test_healthz_answers_without_asking_the_database(tmp_path: Path) -> None:
    client = unreachable_app(tmp_path, f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_when_the_database_answers_at_the_migrations_head(migrated_app: Flask) -> None:
    response = migrated_app.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "migration": migrations_head(migrated_app)}


def test_not_ready_while_the_migrations_are_behind(migrated_app: Flask) -> None:
    with migrated_app.app_context():
        downgrade(revision="0018")
        db.session.remove()

    response = migrated_app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json is not None
    assert response.json["errors"] == {"migrations": ["behind"]}
    assert "0018" in response.json["message"]


def test_not_ready_before_any_migration_ran(app: Flask, client: FlaskClient) -> None:
    # the test database is built by create_all: no revision recorded at all
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json is not None
    assert response.json["errors"] == {"migrations": ["none"]}


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_not_ready_when_the_database_is_out_of_reach(tmp_path: Path, kind: str) -> None:
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}",
        "postgresql": "postgresql://postgres@127.0.0.1:1/needling_nowhere",  # nothing listens
    }[kind]
    client = unreachable_app(tmp_path, url)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json is not None
    assert response.json["code"] == 503
    assert response.json["errors"] == {"database": ["unreachable"]}


def test_not_ready_within_the_connect_timeout_when_postgresql_never_answers(
    tmp_path: Path,
) -> None:
    # a listening socket nobody accepts from: the kernel completes the TCP handshake, and the
    # server's first byte never comes, as from a PostgreSQL host that hangs
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = Config.for_tests(
            f"postgresql://postgres@127.0.0.1:{port}/needling_silent", tmp_path
        ).with_overrides(DATABASE_CONNECT_TIMEOUT_S=2)
        client = create_app(config).test_client()
        started = time.monotonic()

        response = client.get("/readyz")

        waited_s = time.monotonic() - started
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["errors"] == {"database": ["unreachable"]}
    assert waited_s < 10  # libpq's default would wait 130 s


class Relay:
    """A TCP relay on 127.0.0.1 to PostgreSQL that can fall silent: every connection, old and
    new, stays open and no byte passes, as with a database host cut off by the network."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def fall_silent(self) -> None:
        self.flowing.clear()

    def close(self) -> None:
        self.flowing.set()  # the pipes waiting to pass a chunk find their sockets closed
        for held in self.sockets:
            # shutdown first: it wakes a thread blocked on the socket, which close alone does not
            with contextlib.suppress(OSError):
                held.shutdown(socket.SHUT_RDWR)
            held.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.sockets.append(client)
            if not self.flowing.is_set():
                continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                self.flowing.wait()
                sink.sendall(chunk)
        except OSError:
            return


@pytest.mark.postgresql
def test_not_ready_within_the_connect_timeout_when_postgresql_falls_silent(
    tmp_path: Path,
) -> None:
    if POSTGRES_UNAVAILABLE:
        pytest.skip(POSTGRES_UNAVAILABLE)
    server = urlsplit(POSTGRES_URL)
    relay = Relay((server.hostname or "127.0.0.1", server.port or 5432))
    config = Config.for_tests(
        f"postgresql://{server.username}@127.0.0.1:{relay.port}{server.path}", tmp_path
    ).with_overrides(DATABASE_CONNECT_TIMEOUT_S=2)
    app = create_app(config)
    client = app.test_client()
    probes = ThreadPoolExecutor(max_workers=1)
    try:
        reached = client.get("/readyz")  # the database answers (its tables are not migrated)
        relay.fall_silent()  # with a connection of the app's pool open through the relay
        started = time.monotonic()

        silent = probes.submit(client.get, "/readyz").result(timeout=30)

        waited_s = time.monotonic() - started
    finally:
        relay.close()  # a probe stuck on the silent connection gets an error, and ends
        probes.shutdown()
        with app.app_context():
            db.engine.dispose()
    assert reached.json is not None
    assert "database" not in reached.json.get("errors", {})
    assert silent.status_code == 503
    assert silent.json is not None
    assert silent.json["errors"] == {"database": ["unreachable"]}
    assert waited_s < 10


def test_probes_are_not_in_the_api_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]  # type: ignore[index]

    assert not {"/healthz", "/readyz"} & set(paths)
