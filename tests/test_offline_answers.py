"""Answers kept on an offline phone: judged by when the patient answered, sent late."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.errors import Conflict
from server.models import Alert, CheckIn, Response
from server.services.answers import ENTRY_CLOCK_SKEW, AnswerResult, answer_checkin
from server.services.scheduling import cancel_checkin, expire_checkins
from tests.factories import (
    NOW,
    checkin_for,
    count_rows,
    delivery_ledger,
    enrolled_headers,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_error_shape, assert_rejected

# the dry-needling 6h check-in (open T0 + 6 h to T0 + 10 h) asks these
SIX_HOURS = {"soreness": 4, "bruise_bleed": "none", "rf_breath_chest": False, "rf_neuro": False}
WEEK = timedelta(days=7)


def treated(session: Session, *, hours_ago: float = 30) -> tuple[CheckIn, dict[str, str]]:
    """The 6h check-in of a dry-needling treatment ``hours_ago`` before the wall clock
    (recorded at T0, so its window was really offered), and the patient's phone's headers."""
    clinician = make_clinician(session, make_clinic(session, emergency_number="604-555-0199"))
    patient = make_patient(session, clinician, quiet_hours=None)
    treated_at = datetime.now(UTC) - timedelta(hours=hours_ago)
    treatment = make_treatment(session, clinician, patient, treated_at=treated_at)
    return checkin_for(treatment, "6h"), enrolled_headers(session, clinician, patient)


def in_window(checkin: CheckIn) -> datetime:
    """An hour after the check-in opened: when the patient answered on the phone."""
    return (checkin.due_at + timedelta(hours=1)).replace(microsecond=0)


def post_answer(
    client: FlaskClient, checkin: CheckIn, headers: dict[str, str], **fields: Any
) -> TestResponse:
    """Send the 6h answers as the phone's outbox does, with ``fields`` added or replaced."""
    body = {"client_id": str(uuid.uuid4()), "answers": SIX_HOURS, **fields}
    return client.post(f"/api/v1/me/checkins/{checkin.id}/response", headers=headers, json=body)


def stored_response(session: Session, checkin: CheckIn) -> Response:
    """The check-in's one stored response, as the database holds it now."""
    session.expire_all()
    return session.scalars(select(Response).filter_by(checkin_id=checkin.id)).one()


# --- accepted late -----------------------------------------------------------------------------


def test_answer_given_in_the_window_and_sent_after_it_closed_is_stored(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)  # the 6h window closed 20 hours ago
    answered_at = in_window(checkin)

    response = post_answer(client, checkin, headers, answered_at=answered_at.isoformat())

    assert response.status_code == 201, response.get_json()
    assert datetime.fromisoformat(response.get_json()["answered_at"]) == answered_at


def test_late_answer_keeps_when_the_patient_answered_and_when_it_arrived(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    answered_at = in_window(checkin)
    before = datetime.now(UTC)

    post_answer(client, checkin, headers, answered_at=answered_at.isoformat())

    stored = stored_response(session, checkin)
    assert stored.answered_at == answered_at  # what the curves use for the elapsed hours
    assert stored.created_at >= before  # its arrival
    assert (checkin.status, checkin.answered_at) == ("answered", answered_at)


def test_answered_at_with_another_offset_is_the_same_moment(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    answered_at = in_window(checkin)
    vancouver = answered_at.astimezone(ZoneInfo("America/Vancouver")).isoformat()

    response = post_answer(client, checkin, headers, answered_at=vancouver)

    assert response.status_code == 201, response.get_json()
    assert stored_response(session, checkin).answered_at == answered_at


def test_missed_checkin_becomes_answered_by_a_late_answer(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    expire_checkins(session, now=datetime.now(UTC))  # the worker got there first
    session.commit()
    session.expire_all()
    assert checkin.status == "missed"

    response = post_answer(client, checkin, headers, answered_at=in_window(checkin).isoformat())

    assert response.status_code == 201, response.get_json()
    session.expire_all()
    assert checkin.status == "answered"


def test_late_answer_is_recorded_in_the_delivery_ledger(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    expire_checkins(session, now=datetime.now(UTC))
    session.commit()
    answered_at = in_window(checkin)

    post_answer(client, checkin, headers, answered_at=answered_at.isoformat())

    ledger = delivery_ledger(client, session, checkin.id)
    [answered] = [event for event in ledger if event["kind"] == "answered"]
    assert answered["channel"] == "app"
    assert datetime.fromisoformat(answered["at"]) == answered_at


def test_late_red_flag_answer_still_raises_the_alert_and_the_advice(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    answers = {**SIX_HOURS, "rf_breath_chest": True}

    response = post_answer(
        client, checkin, headers, answers=answers, answered_at=in_window(checkin).isoformat()
    )

    assert response.status_code == 201, response.get_json()
    assert [alert["rule"] for alert in response.get_json()["alerts"]] == ["RF-1"]
    assert count_rows(session, Alert) == 1


def test_late_answer_sent_twice_is_stored_once(client: FlaskClient, session: Session) -> None:
    checkin, headers = treated(session)
    body = {
        "client_id": str(uuid.uuid4()),
        "answers": SIX_HOURS,
        "answered_at": in_window(checkin).isoformat(),
    }
    url = f"/api/v1/me/checkins/{checkin.id}/response"

    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count_rows(session, Response) == 1


# --- refused, naming answered_at ---------------------------------------------------------------


def test_answered_at_without_offset_is_rejected(client: FlaskClient, session: Session) -> None:
    checkin, headers = treated(session)
    naive = in_window(checkin).replace(tzinfo=None)

    response = post_answer(client, checkin, headers, answered_at=naive.isoformat())

    assert_rejected(response, "answered_at")
    [reason] = response.get_json()["errors"]["answered_at"]
    assert "with its offset" in reason


def test_answered_at_that_is_not_a_time_is_rejected(client: FlaskClient, session: Session) -> None:
    checkin, headers = treated(session, hours_ago=7)

    response = post_answer(client, checkin, headers, answered_at="yesterday")

    assert_rejected(response, "answered_at")


def test_answered_at_in_the_future_is_rejected(client: FlaskClient, session: Session) -> None:
    checkin, headers = treated(session, hours_ago=7)  # the window is open now
    later = datetime.now(UTC) + ENTRY_CLOCK_SKEW + timedelta(minutes=5)

    response = post_answer(client, checkin, headers, answered_at=later.isoformat())

    assert_rejected(response, "answered_at")
    assert "future" in response.get_json()["errors"]["answered_at"][0]
    assert count_rows(session, Response) == 0


def test_answered_at_before_the_window_opened_is_rejected(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)
    early = checkin.due_at - timedelta(minutes=1)

    response = post_answer(client, checkin, headers, answered_at=early.isoformat())

    assert_rejected(response, "answered_at")
    assert "given outside it" in response.get_json()["errors"]["answered_at"][0]


def test_answered_at_after_the_window_closed_is_rejected(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)

    response = post_answer(client, checkin, headers, answered_at=checkin.expires_at.isoformat())

    assert_rejected(response, "answered_at")
    assert count_rows(session, Response) == 0


def test_answer_arriving_after_the_grace_period_is_a_conflict(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session, hours_ago=10 + 7 * 24 + 1)  # closed 7 days 1 hour ago

    response = post_answer(client, checkin, headers, answered_at=in_window(checkin).isoformat())

    assert_rejected(response, "answered_at", status=409)
    assert_error_shape(response)
    assert "arrived later" in response.get_json()["message"]
    assert count_rows(session, Response) == 0


def test_the_grace_period_follows_the_setting(
    client: FlaskClient, session: Session, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "OFFLINE_ANSWER_GRACE_HOURS", 12)
    checkin, headers = treated(session)  # closed 20 hours ago

    response = post_answer(client, checkin, headers, answered_at=in_window(checkin).isoformat())

    assert_rejected(response, "answered_at", status=409)


def test_cancelled_checkin_refuses_a_late_answer(client: FlaskClient, session: Session) -> None:
    checkin, headers = treated(session)
    cancel_checkin(session, checkin, now=datetime.now(UTC))
    session.commit()

    response = post_answer(client, checkin, headers, answered_at=in_window(checkin).isoformat())

    assert_rejected(response, "checkin", status=409)
    assert "cancelled" in response.get_json()["message"]


def test_without_answered_at_an_answer_after_the_window_is_still_refused(
    client: FlaskClient, session: Session
) -> None:
    checkin, headers = treated(session)

    response = post_answer(client, checkin, headers)

    assert_rejected(response, "checkin", status=409)


# --- the rules at the service, with a fixed clock ----------------------------------------------


def answer_late(
    session: Session,
    checkin: CheckIn,
    answers: dict[str, object],
    *,
    answered_at: datetime,
    now: datetime,
    client_id: uuid.UUID | None = None,
) -> AnswerResult:
    """Answer as the phone's outbox does, a week of grace allowed."""
    return answer_checkin(
        session,
        patient=checkin.treatment.patient,
        checkin_id=checkin.id,
        client_id=client_id or uuid.uuid4(),
        answers=answers,
        note=None,
        now=now,
        answered_at=answered_at,
        offline_grace=WEEK,
    )


def service_checkin(session: Session, slot: str = "6h", modality: str = "dry_needling") -> CheckIn:
    """A check-in of a treatment at NOW (recorded at T0), for a patient without quiet hours."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    return checkin_for(
        make_treatment(session, clinician, patient, modality=modality, treated_at=NOW), slot
    )


def test_the_receipt_time_is_the_services_clock(session: Session) -> None:
    checkin = service_checkin(session)
    arrived = checkin.expires_at + timedelta(days=2)

    result = answer_late(session, checkin, SIX_HOURS, answered_at=checkin.due_at, now=arrived)

    assert (result.response.answered_at, result.response.created_at) == (checkin.due_at, arrived)


def test_answered_at_within_the_clock_skew_is_accepted(session: Session) -> None:
    checkin = service_checkin(session)
    now = checkin.due_at + timedelta(minutes=30)

    result = answer_late(session, checkin, SIX_HOURS, answered_at=now + ENTRY_CLOCK_SKEW, now=now)

    assert result.response.answered_at == now + ENTRY_CLOCK_SKEW


def test_answer_arriving_just_before_the_grace_ends_is_accepted(session: Session) -> None:
    checkin = service_checkin(session)
    last_moment = checkin.expires_at + WEEK - timedelta(seconds=1)

    answer_late(session, checkin, SIX_HOURS, answered_at=checkin.due_at, now=last_moment)

    assert checkin.status == "answered"


def test_answer_arriving_as_the_grace_ends_is_refused(session: Session) -> None:
    checkin = service_checkin(session)

    with pytest.raises(Conflict) as refused:
        answer_late(
            session, checkin, SIX_HOURS, answered_at=checkin.due_at, now=checkin.expires_at + WEEK
        )

    assert "answered_at" in refused.value.errors


def test_replay_after_the_grace_ended_still_returns_the_stored_response(session: Session) -> None:
    checkin = service_checkin(session)
    client_id = uuid.uuid4()
    first = answer_late(
        session,
        checkin,
        SIX_HOURS,
        answered_at=checkin.due_at,
        now=checkin.expires_at,
        client_id=client_id,
    )

    again = answer_late(
        session,
        checkin,
        SIX_HOURS,
        answered_at=checkin.due_at,
        now=checkin.expires_at + 2 * WEEK,
        client_id=client_id,
    )

    assert (again.is_replay, again.response.id) == (True, first.response.id)


def test_red_flags_go_by_the_hours_at_which_the_patient_answered(session: Session) -> None:
    """Strong soreness at 49 h is 'routine' (RF-8), even when it arrives after 72 h, where the
    same answer would be 'same day' (RF-7)."""
    checkin = service_checkin(session, slot="48h", modality="ims")
    answers: dict[str, object] = {"soreness": 9, "pain": 2, "mobility": 5}

    result = answer_late(
        session,
        checkin,
        answers,
        answered_at=NOW + timedelta(hours=49),
        now=NOW + timedelta(hours=80),
    )

    assert [flag.rule for flag in result.flags] == ["RF-8"]
