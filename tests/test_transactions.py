"""A request commits once, after its view, whole when it succeeds and not at all when it fails."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import (
    Alert,
    Answer,
    ApiToken,
    AuditEvent,
    CheckIn,
    Patient,
    PatientToken,
    Response,
    Treatment,
)
from tests.factories import (
    bearer,
    count_rows,
    enrolled_headers,
    make_clinician,
    make_open_checkin_now,
    make_patient,
)
from tests.http import assert_error_shape


@pytest.mark.parametrize(
    "path",
    ["/api/v1/patients", "/api/v1/alerts", "/api/v1/protocols", "/api/v1/analytics/recovery"],
)
def test_a_read_stores_when_the_token_was_last_used(
    client: FlaskClient, session: Session, path: str
) -> None:
    headers = bearer(session, make_clinician(session))
    assert client.get(path, headers=headers).status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiToken.last_used_at)).one() is not None


@pytest.mark.parametrize("path", ["/api/v1/me/history", "/api/v1/me/checkins?status=all"])
def test_a_patients_read_stores_when_the_device_was_last_used(
    client: FlaskClient, session: Session, path: str
) -> None:
    clinician = make_clinician(session)
    headers = enrolled_headers(session, clinician, make_patient(session, clinician))
    session.execute(update(PatientToken).values(last_used_at=None))
    session.commit()
    assert client.get(path, headers=headers).status_code == 200
    session.expire_all()
    assert session.scalars(select(PatientToken.last_used_at)).one() is not None


def test_a_request_that_fails_after_writing_leaves_nothing(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)
    events = count_rows(session, AuditEvent)
    # the treatment and its check-ins are written and flushed before the baseline is checked
    response = client.post(
        f"/api/v1/patients/{patient.id}/treatments",
        headers=headers,
        json={
            "modality": "ims",
            "treated_at": "2026-11-24T10:00:00Z",
            "regions": ["neck"],
            "baseline": {"pain": 11},
        },
    )
    assert response.status_code == 422
    assert count_rows(session, Treatment) == 0
    assert count_rows(session, AuditEvent) == events


@pytest.fixture
def impatient(database_url: str, tmp_path: Path, session: Session) -> Iterator[FlaskClient]:
    """A client of the app on SQLite whose writers wait 50 ms for another's lock."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer: PostgreSQL locks rows, not the database")
    config = Config.for_tests(database_url, tmp_path).with_overrides(SQLITE_BUSY_MS=50)
    app = create_app(config)
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_a_write_that_waits_too_long_for_the_database_is_503_with_retry_after(
    impatient: FlaskClient, session: Session, database_url: str
) -> None:
    headers = bearer(session, make_clinician(session))
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        busy = impatient.post(
            "/api/v1/patients", headers=headers, json={"code": "P-1", "timezone": "UTC"}
        )
    finally:
        holder.rollback()
        holder.close()

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "2"
    assert_error_shape(busy)
    assert count_rows(session, Patient) == 0
    again = impatient.post(
        "/api/v1/patients", headers=headers, json={"code": "P-1", "timezone": "UTC"}
    )
    assert again.status_code == 201


@dataclass
class PageLimit:
    """The most pages the app's SQLite connections may grow the database file to."""

    pages: int = 1_073_741_823  # SQLite's default

    def apply(self, connection: Any, *_: Any) -> None:
        """Set on each connection as the pool hands it out (the pragma is per connection)."""
        connection.execute(f"PRAGMA max_page_count = {self.pages}")

    def pages_now(self, app: Flask) -> tuple[int, int]:
        """The database's size and its free pages, as the app sees them."""
        with app.app_context(), db.engine.connect() as connection:
            size = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        return size, free


@pytest.fixture
def cramped(database_url: str, tmp_path: Path) -> Iterator[tuple[Flask, PageLimit]]:
    """An app on a SQLite file of its own with 512-byte pages, its size capped by a PageLimit."""
    if not database_url.startswith("sqlite"):
        pytest.skip("max_page_count is SQLite's; a full PostgreSQL disk is psycopg's DiskFull")
    path = tmp_path / "cramped.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA page_size = 512")  # a 1,000-character note needs overflow pages
        setup.execute("PRAGMA journal_mode = WAL")  # writes the header: the page size sticks
    app = create_app(Config.for_tests(f"sqlite:///{path}", tmp_path))
    limit = PageLimit()
    with app.app_context():
        event.listen(db.engine, "checkout", limit.apply)
        db.create_all()
    yield app, limit
    with app.app_context():
        db.engine.dispose()


def test_an_answer_to_a_full_sqlite_database_is_503_and_writes_nothing(
    cramped: tuple[Flask, PageLimit],
) -> None:
    app, limit = cramped
    with app.app_context():
        session = db.session()
        clinician = make_clinician(session)
        patient = make_patient(session, clinician, quiet_hours=None)
        headers = enrolled_headers(session, clinician, patient)
        checkin = make_open_checkin_now(session, clinician, patient, regions=["upper_back"])
        session.commit()
        checkin_id, status_before = checkin.id, checkin.status
        db.session.remove()
    size, free = limit.pages_now(app)
    assert free == 0  # every page the answer needs must come from growing the file
    limit.pages = size  # full: not one page more
    # a red flag (an alert to write) and a note too long for one 512-byte page
    answer = {
        "client_id": str(uuid.uuid4()),
        "answers": {"soreness": 8, "rf_breath_chest": True},
        "note": "sore " * 200,
    }
    url = f"/api/v1/me/checkins/{checkin_id}/response"

    full = app.test_client().post(url, headers=headers, json=answer)

    assert full.status_code == 503
    assert full.headers["Retry-After"] == "2"
    assert_error_shape(full)
    with app.app_context():
        session = db.session()
        assert session.get_one(CheckIn, checkin_id).status == status_before  # still open
        assert [count_rows(session, model) for model in (Response, Answer, Alert)] == [0, 0, 0]
        db.session.remove()
    limit.pages *= 2  # room again, as after an operator freed disk or raised the cap

    again = app.test_client().post(url, headers=headers, json=answer)

    assert again.status_code == 201
    assert len(again.get_json()["alerts"]) == 1
