"""The sign-in rate limit on POST /api/v1/auth/token (LOGIN_RATE_LIMIT, per client address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server import create_app
from server.config import Config
from server.extensions import db, limiter
from tests.factories import PASSWORD, bearer, make_clinician
from tests.http import assert_error_shape

TOKEN_URL = "/api/v1/auth/token"
PER_MINUTE = 10  # the default LOGIN_RATE_LIMIT: "10 per minute;50 per hour"
WRONG_PASSWORD = "wrong-one-123"


def sign_in(
    client: FlaskClient, *, password: str = WRONG_PASSWORD, address: str = "127.0.0.1"
) -> TestResponse:
    """One sign-in attempt from ``address`` (a wrong password unless one is given)."""
    return client.post(
        TOKEN_URL,
        json={"email": "lee@example.org", "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def use_up_the_allowance(client: FlaskClient, address: str = "127.0.0.1") -> None:
    """The attempts a minute allows, all refused for a wrong password."""
    for _ in range(PER_MINUTE):
        assert sign_in(client, address=address).status_code == 401


def test_eleventh_attempt_in_a_minute_is_too_many(client: FlaskClient, session: Session) -> None:
    use_up_the_allowance(client)

    response = sign_in(client)

    assert response.status_code == 429
    assert_error_shape(response)


def test_too_many_attempts_say_when_to_retry(client: FlaskClient, session: Session) -> None:
    use_up_the_allowance(client)

    response = sign_in(client)

    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_right_password_is_refused_too_once_over_the_limit(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")
    use_up_the_allowance(client)

    response = sign_in(client, password=PASSWORD)

    assert response.status_code == 429
    assert "token" not in response.get_json()


def test_limit_is_per_client_address(client: FlaskClient, session: Session) -> None:
    use_up_the_allowance(client, address="203.0.113.7")

    response = sign_in(client, address="198.51.100.20")

    assert response.status_code == 401


def test_limit_is_read_from_the_config(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    sign_in(client)
    sign_in(client)

    response = sign_in(client)

    assert response.status_code == 429


def test_other_endpoints_are_not_limited(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    statuses = {client.get("/api/v1/patients", headers=headers).status_code for _ in range(12)}

    assert statuses == {200}


@pytest.fixture
def behind_a_proxy(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    """A client of the app configured to sit behind one reverse proxy (PROXY_HOPS=1)."""
    app = create_app(Config.for_tests(database_url, tmp_path).with_overrides(PROXY_HOPS=1))
    with app.app_context():
        db.create_all()
    limiter.reset()
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def sign_in_through_proxy(client: FlaskClient, forwarded_for: str) -> TestResponse:
    """A sign-in the proxy at 10.0.0.2 passed on for the client at ``forwarded_for``."""
    return client.post(
        TOKEN_URL,
        json={"email": "lee@example.org", "password": WRONG_PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )


def test_behind_a_proxy_the_limit_is_per_forwarded_client(
    behind_a_proxy: FlaskClient,
) -> None:
    for _ in range(PER_MINUTE):
        assert sign_in_through_proxy(behind_a_proxy, "203.0.113.7").status_code == 401

    other_clinician = sign_in_through_proxy(behind_a_proxy, "198.51.100.20")
    same_one = sign_in_through_proxy(behind_a_proxy, "203.0.113.7")

    assert (other_clinician.status_code, same_one.status_code) == (401, 429)


def test_without_a_proxy_a_forged_forwarded_for_does_not_dodge_the_limit(
    client: FlaskClient, session: Session
) -> None:
    for number in range(PER_MINUTE):
        assert sign_in_through_proxy(client, f"192.0.2.{number}").status_code == 401

    response = sign_in_through_proxy(client, "192.0.2.99")

    assert response.status_code == 429
