"""The load balancer's probes: the process is up; the database answers at the right schema."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade

from server import create_app
from server.config import Config
from server.extensions import db
from server.health import migrations_head
from tests.databases import POSTGRES_UNAVAILABLE, drop_postgres_database, postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def migrated_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a new database of each kind, built by the migrations up to their head."""
    name = f"needling_health_{id(request)}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'health.db'}"
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


def test_probes_are_not_in_the_api_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]  # type: ignore[index]

    assert not {"/healthz", "/readyz"} & set(paths)
