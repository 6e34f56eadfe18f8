"""The sign-in limit on POST /api/v1/auth/token and the pages' login (LOGIN_RATE_LIMIT, per
client address), counted in the database across processes, or in Redis when configured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server import create_app
from server.config import Config
from server.extensions import db, limiter
from server.models import AuditEvent, LoginAttempt
from tests.factories import PASSWORD, bearer, count_rows, make_clinician, post_form
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
def behind_a_proxy(database_url: str, tmp_path: Path, session: Session) -> Iterator[FlaskClient]:
    """A client of the app configured to sit behind one reverse proxy (PROXY_HOPS=1); its
    attempts are emptied with the test's session."""
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


# --- where attempts are counted ------------------------------------------------------------------


def test_each_failure_is_kept_with_its_address_and_the_email_tried(
    client: FlaskClient, session: Session
) -> None:
    sign_in(client, address="203.0.113.7")
    client.post(TOKEN_URL, json={"email": "x\x00y"}, environ_base={"REMOTE_ADDR": "203.0.113.7"})

    rows = session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [(row.address, row.email) for row in rows] == [
        ("203.0.113.7", "lee@example.org"),
        ("203.0.113.7", "xy"),  # a malformed attempt counts too, kept as what can be stored
    ]


def test_a_failure_naming_a_clinician_is_in_their_clinics_audit_log(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="lee@example.org")
    sign_in(client, address="203.0.113.7")

    event = session.scalars(select(AuditEvent).filter_by(action="clinician.sign_in_failed")).one()
    assert (event.clinic_id, event.target, event.actor) == (
        clinician.clinic_id,
        f"clinician:{clinician.id}",
        "address:203.0.113.7",
    )


def test_signing_in_rightly_does_not_use_up_the_allowance(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")  # a clinic's staff behind one address

    statuses = {sign_in(client, password=PASSWORD).status_code for _ in range(PER_MINUTE + 2)}

    assert statuses == {201}


def test_the_pages_login_and_the_api_share_the_allowance(
    client: FlaskClient, session: Session
) -> None:
    wrong = {"email": "lee@example.org", "password": "wrong-1234"}
    for _ in range(PER_MINUTE // 2):
        assert sign_in(client).status_code == 401
        assert post_form(client, "/clinic/login", "/clinic/login", wrong).status_code == 422

    assert sign_in(client).status_code == 429
    page = post_form(client, "/clinic/login", "/clinic/login", wrong)
    assert page.status_code == 429
    assert 0 < int(page.headers["Retry-After"]) <= 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path, session: Session) -> Iterator[list[str]]:
    """Two web processes of the app, each its own gunicorn, on one database (as two machines
    behind a load balancer would be)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "two-processes-test-secret",
    }
    env.pop("RATELIMIT_STORAGE_URI", None)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "server:create_app()",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            wait_until_serving(base)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still booting: TERM waits for its worker
                process.kill()
                process.wait()


def wait_until_serving(base: str) -> None:
    # a gunicorn's start took over 30 s on a loaded 2-core machine (the app's imports)
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/v1/push/key", timeout=2).close()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def attempt(base: str) -> int:
    """One wrong-password sign-in at this process; its status."""
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"{base}{TOKEN_URL}",
        data=json.dumps({"email": "lee@example.org", "password": WRONG_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_limit_holds_across_web_processes(two_processes: list[str]) -> None:
    first, second = two_processes
    statuses = [attempt(first if number % 2 else second) for number in range(PER_MINUTE)]
    assert statuses == [401] * PER_MINUTE  # five at each process: ten in all

    # with a count per process, each would allow five more
    assert (attempt(first), attempt(second)) == (429, 429)


@pytest.fixture
def redis_store(
    app: Flask, database_url: str, tmp_path: Path, session: Session
) -> Iterator[FlaskClient]:
    """A client of the app counting attempts with Flask-Limiter in Redis (127.0.0.1:6379)."""
    uri = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(uri).ping()
    except redis.RedisError as error:
        pytest.skip(f"!!! no Redis at {uri}: {error}")
    config = Config.for_tests(database_url, tmp_path).with_overrides(RATELIMIT_STORAGE_URI=uri)
    with_redis = create_app(config)
    limiter.reset()
    yield with_redis.test_client()
    limiter.reset()
    limiter.init_app(app)  # the limiter is one object: back to the suite's own store
    with with_redis.app_context():
        db.engine.dispose()


def test_with_a_shared_store_flask_limiter_counts_there(
    redis_store: FlaskClient, session: Session
) -> None:
    for _ in range(PER_MINUTE):
        assert sign_in(redis_store).status_code == 401

    refused = sign_in(redis_store)

    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert count_rows(session, LoginAttempt) == 0  # not in the database
