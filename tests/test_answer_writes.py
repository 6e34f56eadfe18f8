"""An answer reads first and writes last, so SQLite's one write lock is held only for its
INSERTs and UPDATEs; what it worked out before the writes stays true when another answer to the
same treatment is stored in between; and it sends few statements, each a round trip."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import PatientToken, TreatmentOutcome
from server.services import outcomes
from server.services.answers import answer_checkin
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
