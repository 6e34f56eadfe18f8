"""A patient's path costs the same whatever the database holds: every statement an answer, the
check-in list, the device-token and the link look-ups send is bounded by the patient's or the
treatment's own rows, on both databases (as test_dispatch asserts for the worker's claim).

The network around the patient is bulk-loaded: thousands of other patients' check-ins, all
still to come, the worst case for a walk of the global ``(status, due_at)`` index. Each
statement the requests send is captured as sent, with its parameters, and its plan read:
- SQLite: ``EXPLAIN QUERY PLAN`` after ANALYZE; no ``SCAN`` of a table (a full scan) and no
  search of an index every clinic's check-ins share.
- PostgreSQL: ``EXPLAIN`` after ANALYZE with ``enable_seqscan = off``. Test tables are small
  enough for a sequential scan to be the cheaper plan whatever the indexes; priced out of
  reach, a ``Seq Scan`` still in the plan means no index could serve the statement, and an
  index scan without an ``Index Cond`` reads the whole index: both fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import (
    Answer,
    CheckIn,
    Clinician,
    Patient,
    PatientToken,
    Response,
    Treatment,
)
from tests.factories import enrolled_headers, make_clinician, make_open_checkin_now, make_patient

OTHER_TREATMENTS = 2_000
SLOTS = ("6h", "1d", "2d", "3d", "7d")
# the indexes every clinic's check-ins share: the worker's queues, never a patient's path
GLOBAL_INDEXES = (
    "ix_checkins_status_due_at",
    "ix_checkins_status_next_attempt_at",
    "ix_checkins_status_remind_at",
)
TABLES = (
    "checkins",
    "treatments",
    "responses",
    "answers",
    "patients",
    "patient_tokens",
    "alerts",
    "delivery_events",
    "treatment_outcomes",
)


def load_the_network(session: Session, clinician: Clinician) -> None:
    """Other patients of the clinic, each enrolled and treated once: one check-in answered,
    one open, the rest to come."""
    now = datetime.now(UTC)
    session.execute(
        insert(Patient),
        [
            {"clinic_id": clinician.clinic_id, "code": f"N-{n}", "timezone": "UTC"}
            for n in range(OTHER_TREATMENTS)
        ],
    )
    patient_ids = session.scalars(select(Patient.id).where(Patient.code.like("N-%"))).all()
    # each with an enrolled phone: the planner sees the tokens table as big as it gets
    session.execute(
        insert(PatientToken),
        [
            {"patient_id": patient_id, "token_hash": f"other-{patient_id}", "created_at": now}
            for patient_id in patient_ids
        ],
    )
    session.execute(
        insert(Treatment),
        [
            {
                "clinic_id": clinician.clinic_id,
                "patient_id": patient_id,
                "modality": "dry_needling",
                "treated_at": now,
                "regions": [],
                "protocol": [],
            }
            for patient_id in patient_ids
        ],
    )
    treatment_ids = session.scalars(
        select(Treatment.id).where(Treatment.patient_id.in_(patient_ids))
    ).all()
    session.execute(
        insert(CheckIn),
        [
            {
                "treatment_id": treatment_id,
                "slot": slot,
                "nominal_hours": 6.0 * (n + 1),
                "items": ["soreness"],
                # the first open now and prompted (08:00, a network's prompts all out), the
                # rest still to come
                "due_at": now + timedelta(hours=6 * n - 1),
                "expires_at": now + timedelta(hours=6 * n + 12),
                "next_attempt_at": now + timedelta(hours=6 * n - 1),
                "status": ("answered", "sent")[n] if n < 2 else "scheduled",
            }
            for treatment_id in treatment_ids
            for n, slot in enumerate(SLOTS)
        ],
    )
    answered = session.execute(
        select(CheckIn.id, CheckIn.treatment_id).where(CheckIn.status == "answered")
    ).all()
    session.execute(
        insert(Response),
        [
            {
                "client_id": uuid.uuid4(),
                "treatment_id": row.treatment_id,
                "checkin_id": row.id,
                "slot": SLOTS[0],
                "answered_at": now,
                "flagged_rules": [],
            }
            for row in answered
        ],
    )
    responses = session.execute(select(Response.id, Response.treatment_id)).all()
    session.execute(
        insert(Answer),
        [
            {
                "response_id": row.id,
                "item_code": item,
                "value_num": 3,
                "treatment_id": row.treatment_id,
                "clinic_id": clinician.clinic_id,
                "modality": "dry_needling",
                "slot": SLOTS[0],
                "elapsed_hours": 6.0,
            }
            for row in responses
            for item in ("soreness", "pain")
        ],
    )
    session.commit()


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Each statement sent meanwhile on any of the engine's connections, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def listener(*execution: Any) -> None:  # connection, cursor, statement, parameters, ...
        if not execution[5]:  # executemany: bulk INSERTs, nothing to plan
            sent.append((execution[2], execution[3]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def unbounded_steps(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The steps of the statement's plan that read rows beyond what its conditions name."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            steps = [row[3] for row in rows]
            return [
                step
                for step in steps
                if any(step.startswith(f"SCAN {table}") for table in TABLES)
                or any(index in step for index in GLOBAL_INDEXES)
            ]
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", parameters)
        lines = list(plan.scalars())
        connection.rollback()
    bad = [line for line in lines if "Seq Scan" in line or any(i in line for i in GLOBAL_INDEXES)]
    for at, line in enumerate(lines):
        if "Index Scan" in line or "Index Only Scan" in line:
            details = []
            for detail in lines[at + 1 :]:
                if "->" in detail:
                    break
                details.append(detail)
            if not any("Index Cond" in detail for detail in details):
                bad.append(line)
    return bad


def planned(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The statements that read or change existing rows (INSERTs only add)."""
    return [
        (statement, parameters)
        for statement, parameters in statements
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))
    ]


@pytest.fixture(params=["analyzed", "never analyzed"])
def network(
    request: pytest.FixtureRequest, app: Flask, session: Session
) -> Iterator[tuple[Clinician, Patient, CheckIn, dict[str, str]]]:
    """A patient with an open check-in and an enrolled phone, among thousands of others; the
    planner with the statistics of ANALYZE, and (SQLite) without, as a file nobody analyzed."""
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    if request.param == "never analyzed" and not is_sqlite:
        pytest.skip("PostgreSQL's autovacuum analyzes by itself, whenever it likes")
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    checkin = make_open_checkin_now(session, clinician, patient)
    headers = enrolled_headers(session, clinician, patient)
    load_the_network(session, clinician)
    if request.param == "analyzed":
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    yield clinician, patient, checkin, headers
    if is_sqlite:  # the statistics outlive the emptied tables: leave the file as it was
        with db.engine.begin() as connection:
            if connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first():
                connection.exec_driver_sql("DELETE FROM sqlite_stat1")
        db.engine.dispose()  # each connection reads the statistics once, when it opens


def assert_bounded(statements: list[tuple[str, Any]]) -> None:
    engine = db.engine
    found = {
        statement: steps
        for statement, parameters in planned(statements)
        if (steps := unbounded_steps(engine, statement, parameters))
    }
    assert not found, "\n\n".join(f"{s}\n  {steps}" for s, steps in found.items())


def test_an_answer_reads_and_writes_only_its_patients_rows(
    client: FlaskClient,
    network: tuple[Clinician, Patient, CheckIn, dict[str, str]],
) -> None:
    _, _, checkin, headers = network
    body = {"client_id": str(uuid.uuid4()), "answers": {"soreness": 3}}

    with statements_sent(db.engine) as sent:
        response = client.post(
            f"/api/v1/me/checkins/{checkin.id}/response", json=body, headers=headers
        )

    assert response.status_code == 201, response.json
    assert planned(sent)
    assert_bounded(sent)


@pytest.mark.parametrize("status", ["due", "upcoming", "all"])
def test_the_checkin_list_reads_only_its_patients_rows(
    client: FlaskClient,
    network: tuple[Clinician, Patient, CheckIn, dict[str, str]],
    status: str,
) -> None:
    _, _, _, headers = network

    with statements_sent(db.engine) as sent:
        response = client.get(f"/api/v1/me/checkins?status={status}", headers=headers)

    assert response.status_code == 200
    assert_bounded(sent)


def test_who_the_patient_is_reads_only_their_rows(
    client: FlaskClient,
    network: tuple[Clinician, Patient, CheckIn, dict[str, str]],
) -> None:
    _, _, _, headers = network

    with statements_sent(db.engine) as sent:
        response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 200
    assert_bounded(sent)
