"""A request commits once, after its view, whole when it succeeds and not at all when it fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import ApiToken, AuditEvent, Patient, PatientToken, Treatment
from tests.factories import (
    bearer,
    count_rows,
    enrolled_headers,
    make_clinician,
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
