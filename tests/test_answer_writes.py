"""An answer reads first and writes last, so SQLite's one write lock is held only for its
INSERTs and UPDATEs; what it worked out before the writes stays true when another answer to the
same treatment is stored in between; and it sends few statements, each a round trip."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Patient, PatientToken, Response, TreatmentOutcome
from server.services import outcomes
from server.services.answers import AnswerResult, answer_checkin
from server.transactions import commit_or_replay
from tests.factories import (
    NOW,
    checkin_for,
    enrolled_headers,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    make_treatment,
)

# what a patient's answer sends, from the device token to the outcome; each statement is a
# round trip (on PostgreSQL to a server sharing the machine's cores): lower it, never raise it
ANSWER_STATEMENTS = 8


def test_an_answer_sends_no_read_after_its_first_write(session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(
        session, clinician, patient, treated_at=NOW - timedelta(hours=7), now=NOW
    )
    session.commit()
    sent: list[str] = []

    def note(*execution: Any) -> None:  # connection, cursor, statement, ...
        sent.append(execution[2].lstrip().split()[0].upper())

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", note)
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 3, "rf_breath_chest": False},
        note=None,
        now=NOW,
    )
    event.remove(connection, "before_cursor_execute", note)

    first_write = next(at for at, verb in enumerate(sent) if verb != "SELECT")
    assert "SELECT" in sent[:first_write]
    assert "SELECT" not in sent[first_write:], sent


def test_the_outcome_counts_an_answer_stored_between_an_answers_reads_and_writes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        treated_at=NOW - timedelta(days=8),
        now=NOW - timedelta(days=8),
        baseline={"soreness": 2, "pain": 6, "mobility_activity": "reach", "mobility": 5},
    )
    session.commit()
    # the patient's 3 d answer reads the treatment's readings, then, before its writes, the
    # 7 d answer (the responder's pain) is stored by another request
    read_before = outcomes.known_readings(session, treatment)
    monkeypatch.setattr(outcomes, "known_readings", lambda *_: read_before)
    final = checkin_for(treatment, "7d")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=final.id,
        client_id=uuid.uuid4(),
        answers={"pain": 2},
        note=None,
        now=final.due_at + timedelta(hours=1),
        answered_at=final.due_at,
        offline_grace=timedelta(days=7),
    )
    session.flush()
    three_days = checkin_for(treatment, "72h")

    answer_checkin(
        session,
        patient=patient,
        checkin_id=three_days.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 1},
        note=None,
        now=final.due_at + timedelta(hours=1),
        answered_at=three_days.due_at,
        offline_grace=timedelta(days=7),
    )

    outcome = session.get_one(TreatmentOutcome, treatment.id)
    session.refresh(outcome)
    assert (outcome.pain_before, outcome.pain_after, outcome.responder) == (6, 2, True)
    assert outcome.resolved_hours is not None


def test_a_patients_checkin_list_notes_the_tokens_use_after_its_reads(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    make_open_checkin_now(session, clinician, patient)
    headers = enrolled_headers(session, clinician, patient)
    # last used long ago: this request notes its use (an UPDATE at most once a minute)
    session.execute(update(PatientToken).values(last_used_at=NOW - timedelta(days=1)))
    session.commit()
    sent: list[str] = []

    def note(*execution: Any) -> None:  # connection, cursor, statement, ...
        sent.append(execution[2].lstrip().split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.get("/api/v1/me/checkins", headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)

    assert response.status_code == 200
    assert len(response.json or []) == 1
    # on SQLite the UPDATE takes the one write lock until the commit: it goes out last
    assert sent[-1] == "UPDATE", sent
    assert "UPDATE" not in sent[:-1], sent


def test_an_answer_sends_no_more_statements_than_counted(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    checkin = make_open_checkin_now(session, clinician, patient)
    headers = enrolled_headers(session, clinician, patient)
    checkin_id = checkin.id
    # the device's last use noted once, as on every phone already in use (once a minute)
    assert client.get("/api/v1/me/checkins", headers=headers).status_code == 200
    sent: list[str] = []

    def note(*execution: Any) -> None:  # connection, cursor, statement, ...
        sent.append(" ".join(execution[2].split()[:4]))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.post(
            f"/api/v1/me/checkins/{checkin_id}/response",
            json={"client_id": str(uuid.uuid4()), "answers": {"soreness": 3}},
            headers=headers,
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", note)

    assert response.status_code == 201, response.json
    assert len(sent) == ANSWER_STATEMENTS, "\n".join(sent)


def test_an_answer_sent_twice_at_once_is_stored_once_and_replayed(
    app: Flask, session: Session
) -> None:
    # a phone back online sends its saved answer from the page and from the service worker at
    # the same moment: the twin that loses the race gets the stored answer back, never a 409
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    checkin_id = make_open_checkin_now(session, clinician, patient).id
    session.commit()
    client_id = uuid.uuid4()

    def answer(into: Session) -> AnswerResult:
        return answer_checkin(
            into,
            patient=into.get_one(Patient, patient.id),
            checkin_id=checkin_id,
            client_id=client_id,
            answers={"soreness": 3},
            note=None,
            now=datetime.now(UTC),
        )

    first = answer(session)
    session.flush()  # the first holds its locks (PostgreSQL: the check-in row; SQLite: the file)
    twin_read = threading.Event()

    def note_first_write(*execution: Any) -> None:  # connection, cursor, statement, ...
        twin = threading.current_thread() is not threading.main_thread()
        if twin and execution[2].lstrip().upper().startswith("INSERT"):
            twin_read.set()

    event.listen(db.engine, "before_cursor_execute", note_first_write)
    with ThreadPoolExecutor(max_workers=1) as pool:

        def twin() -> tuple[bool, int]:
            with app.app_context():
                result = commit_or_replay(lambda: answer(db.session()))
                return result.is_replay, result.response.id

        second = pool.submit(twin)
        if db.engine.dialect.name == "postgresql":
            _wait_until(lambda: _waiting_on_a_lock(app) == 1)  # the twin waits for the row
        else:
            assert twin_read.wait(10)  # the twin read the check-in as still open
        session.commit()
        is_replay, response_id = second.result(timeout=30)
    event.remove(db.engine, "before_cursor_execute", note_first_write)

    assert is_replay
    assert response_id == first.response.id
    assert session.scalar(select(func.count(Response.id))) == 1


def _waiting_on_a_lock(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return int(waiting or 0)


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)
