"""PostgreSQL going away under a running app: 503 with Retry-After while it is gone, nothing
half-written, and answers stored and prompts sent again once it is back, by the same process.

The restarts happen on a cluster of the tests' own (``tests/postgres_cluster.py``), never the
shared server; a connection lost in the middle of an answer is one backend of the test's own
database, ended by ``pg_terminate_backend``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from jobs.tasks import Worker, dispatch_due_checkins
from server import create_app
from server.config import Config
from server.extensions import db
from server.models import CheckIn, Response
from server.push import EndpointPolicy, PushSender
from server.services.mail import Mailer
from tests.conftest import IsolatedClient
from tests.factories import enrolled_headers, make_clinician, make_open_checkin_now, make_patient
from tests.postgres_cluster import UNAVAILABLE, PostgresCluster, postgres_cluster
from tests.push_service import PushService
from tests.test_workers import DUE, prompted_patients

# a dry-needling 6 h check-in's answer, nothing flagged
ANSWERS = {"soreness": 4, "bruise_bleed": "none", "rf_breath_chest": False, "rf_neuro": False}


def answer(
    client: FlaskClient, checkin_id: int, headers: dict[str, str], client_id: str
) -> TestResponse:
    return client.post(
        f"/api/v1/me/checkins/{checkin_id}/response",
        json={"client_id": client_id, "answers": ANSWERS},
        headers=headers,
    )


def assert_unavailable(response: TestResponse) -> None:
    """The one JSON error shape, 503, with when to try again."""
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "2"
    assert response.json is not None
    assert (response.json["code"], response.json["status"]) == (503, "Service Unavailable")


def responses_stored(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Response)) or 0


# --- a connection lost in the middle of an answer (the shared server, the test's database) -----


def test_a_connection_lost_mid_answer_is_503_and_writes_nothing(
    app: Flask, session: Session, client: FlaskClient
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    checkin = make_open_checkin_now(session, clinician, patient)
    headers = enrolled_headers(session, clinician, patient)
    server_url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    ended: list[int] = []

    def end_backend_at_insert(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO responses") and not ended:
            ended.append(connection.connection.dbapi_connection.info.backend_pid)
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [ended[0]])

    client_id = str(uuid.uuid4())
    event.listen(db.engine, "before_cursor_execute", end_backend_at_insert)
    try:
        lost = answer(client, checkin.id, headers, client_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", end_backend_at_insert)

    assert ended, "the answer never reached its INSERT"
    assert_unavailable(lost)
    assert responses_stored(session) == 0
    assert session.get_one(CheckIn, checkin.id).status == "scheduled"  # unanswered, still open
    assert answer(client, checkin.id, headers, client_id).status_code == 201  # the outbox retries
    assert responses_stored(session) == 1


# --- a cluster of the tests' own, stopped and started ------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster these tests may restart."""
    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    with postgres_cluster() as own:
        yield own


@pytest.fixture
def restartable(cluster: PostgresCluster, tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh database of the test's own cluster, its tables created, inside its
    app context."""
    database = f"restart_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    app = create_app(Config.for_tests(cluster.url(database), tmp_path))
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def open_checkins(count: int) -> tuple[list[int], dict[str, str]]:
    """A patient with ``count`` check-ins open now; their ids and the patient's device."""
    session = db.session()
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    ids = [make_open_checkin_now(session, clinician, patient).id for _ in range(count)]
    return ids, enrolled_headers(session, clinician, patient)


@pytest.mark.postgresql
def test_answers_get_503_while_postgresql_is_down_and_201_once_it_is_back(
    restartable: Flask, cluster: PostgresCluster
) -> None:
    (first, second), headers = open_checkins(2)
    client = restartable.test_client()
    assert answer(client, first, headers, str(uuid.uuid4())).status_code == 201
    client_id = str(uuid.uuid4())

    cluster.stop()
    try:
        assert_unavailable(answer(client, second, headers, client_id))
        assert_unavailable(client.get("/readyz"))
    finally:
        cluster.start()

    assert answer(client, second, headers, client_id).status_code == 201
    assert responses_stored(db.session()) == 2


@pytest.mark.postgresql
def test_the_first_answer_after_a_restart_is_stored_on_a_new_connection(
    restartable: Flask, cluster: PostgresCluster
) -> None:
    (first, second), headers = open_checkins(2)
    client = restartable.test_client()
    assert answer(client, first, headers, str(uuid.uuid4())).status_code == 201

    cluster.stop()  # nothing asks while it is down: the pool still holds the dead connection
    cluster.start()

    assert answer(client, second, headers, str(uuid.uuid4())).status_code == 201
    assert responses_stored(db.session()) == 2


@pytest.mark.postgresql
def test_the_worker_sends_again_after_a_restart_without_a_new_process(
    restartable: Flask, cluster: PostgresCluster, push: PushService
) -> None:
    checkin_ids = sorted(prompted_patients(db.session(), push, 3))
    db.session.commit()  # the test's own connection back in the pool before the restart
    sender = PushSender(
        private_pem=restartable.config["VAPID_PRIVATE_KEY"],
        subject=restartable.config["VAPID_SUBJECT"],
        policy=EndpointPolicy(allow_local=True),
        timeout_s=2.0,
    )
    mailer = Mailer(host="", port=25, sender="clinic@example.org")
    worker = Worker(app=restartable, sender=sender, mailer=mailer, rng=random.Random(7))
    try:
        assert dispatch_due_checkins(worker, DUE - timedelta(hours=1)) == 0  # connections open

        cluster.stop()
        try:
            with pytest.raises(OperationalError):  # the scheduler logs it and runs the job again
                dispatch_due_checkins(worker, DUE)
        finally:
            cluster.start()

        assert dispatch_due_checkins(worker, DUE) == 3
    finally:
        sender.close()
    assert sorted(message.payload["checkin_id"] for message in push.received) == checkin_ids
