"""The patient's own endpoints over HTTP: enrol, check-ins, answers, push subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.api import me as me_api
from server.extensions import db
from server.models import Alert, CheckIn, Clinician, Patient, PushSubscription, Response
from server.services.answers import answer_checkin
from server.services.enrolment import issue_enrolment
from server.services.protocols import override_timepoints
from tests.factories import (
    b64url,
    bearer,
    browser_subscription,
    checkin_for,
    count_rows,
    enrolled_headers,
    make_clinic,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    make_treatment,
    p256dh_point,
)
from tests.http import assert_rejected

ENROL_URL = "/api/v1/enrol"
CHECKINS_URL = "/api/v1/me/checkins"
SUBSCRIPTIONS_URL = "/api/v1/me/push-subscriptions"
EMERGENCY_NUMBER = "604-555-0199"
SIX_HOURS = {"soreness": 4, "bruise_bleed": "none", "rf_breath_chest": False, "rf_neuro": False}


def response_url(checkin_id: int) -> str:
    """Where a check-in's answer is posted."""
    return f"{CHECKINS_URL}/{checkin_id}/response"


def clinic_with_patient(session: Session) -> tuple[Clinician, Patient]:
    """A clinician of a clinic with its own emergency number, and a patient without quiet hours."""
    clinic = make_clinic(session, emergency_number=EMERGENCY_NUMBER)
    clinician = make_clinician(session, clinic)
    return clinician, make_patient(session, clinician, quiet_hours=None)


def enrolled_patient(session: Session) -> tuple[Clinician, Patient, dict[str, str]]:
    """A patient with an enrolled device, and that device's headers (committed)."""
    clinician, patient = clinic_with_patient(session)
    return clinician, patient, enrolled_headers(session, clinician, patient)


def enrolment_token(
    client: FlaskClient, session: Session, clinician: Clinician, patient_id: int
) -> str:
    """A one-time enrolment token, made by the clinician through the API."""
    created = client.post(
        f"/api/v1/patients/{patient_id}/enrolment", headers=bearer(session, clinician)
    )
    assert created.status_code == 201, created.get_json()
    token = created.get_json()["token"]
    assert isinstance(token, str)
    return token


def new_answer(answers: dict[str, object] | None = None) -> dict[str, Any]:
    """A request body for a first answer."""
    return {"client_id": str(uuid.uuid4()), "answers": SIX_HOURS if answers is None else answers}


def checkin_for_slot(session: Session, slot: str) -> int:
    """The id of the (only) check-in of a slot."""
    checkin_id = session.scalar(select(CheckIn.id).filter_by(slot=slot))
    assert checkin_id is not None
    return checkin_id


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_token_is_exchanged_for_a_patient_token(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = clinic_with_patient(session)
    session.commit()
    token = enrolment_token(client, session, clinician, patient.id)

    response = client.post(ENROL_URL, json={"token": token})

    assert response.status_code == 201
    patient_token = response.get_json()["patient_token"]
    assert patient_token
    assert patient_token != token


def test_patient_token_from_enrolment_opens_my_checkins(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = clinic_with_patient(session)
    session.commit()
    token = enrolment_token(client, session, clinician, patient.id)
    patient_token = client.post(ENROL_URL, json={"token": token}).get_json()["patient_token"]

    response = client.get(CHECKINS_URL, headers={"Authorization": f"Bearer {patient_token}"})

    assert response.status_code == 200


def test_enrolment_token_used_twice_is_a_conflict(client: FlaskClient, session: Session) -> None:
    clinician, patient = clinic_with_patient(session)
    session.commit()
    token = enrolment_token(client, session, clinician, patient.id)
    client.post(ENROL_URL, json={"token": token})

    again = client.post(ENROL_URL, json={"token": token})

    assert_rejected(again, "token", status=409)


def test_expired_enrolment_token_is_gone(client: FlaskClient, session: Session) -> None:
    clinician, patient = clinic_with_patient(session)
    link = issue_enrolment(
        session,
        clinician=clinician,
        patient=patient,
        now=datetime.now(UTC) - timedelta(hours=73),
        base_url="http://testserver",
        ttl=timedelta(hours=72),
    )
    session.commit()

    response = client.post(ENROL_URL, json={"token": link.token})

    assert response.status_code == 410
    assert "expired" in response.get_json()["message"]


def test_unknown_enrolment_token_is_not_found(client: FlaskClient, session: Session) -> None:
    response = client.post(ENROL_URL, json={"token": "no-such-token"})

    assert_rejected(response, "token", status=404)


def test_new_enrolment_link_stops_the_older_unused_one(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = clinic_with_patient(session)
    session.commit()
    older = enrolment_token(client, session, clinician, patient.id)
    newer = enrolment_token(client, session, clinician, patient.id)

    assert client.post(ENROL_URL, json={"token": older}).status_code == 410
    assert client.post(ENROL_URL, json={"token": newer}).status_code == 201


@pytest.mark.parametrize("body", [{}, {"token": ""}], ids=["missing", "blank"])
def test_enrol_without_a_token_names_the_token_field(
    client: FlaskClient, session: Session, body: dict[str, str]
) -> None:
    response = client.post(ENROL_URL, json=body)

    assert_rejected(response, "token")


# --- listing check-ins -------------------------------------------------------------------------


def test_my_checkins_without_a_token_is_unauthorized(client: FlaskClient, session: Session) -> None:
    response = client.get(CHECKINS_URL)

    assert_rejected(response, "authorization", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_my_checkins_with_an_unknown_token_is_unauthorized(
    client: FlaskClient, session: Session
) -> None:
    response = client.get(CHECKINS_URL, headers={"Authorization": "Bearer not-a-real-token"})

    assert_rejected(response, "authorization", status=401)


def test_revoked_patient_token_is_unauthorized(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    revoked = client.delete(
        f"/api/v1/patients/{patient.id}/tokens", headers=bearer(session, clinician)
    )
    assert revoked.status_code == 204

    response = client.get(CHECKINS_URL, headers=headers)

    assert_rejected(response, "authorization", status=401)


def test_due_checkins_list_only_open_ones_with_their_questions(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    listed = client.get(f"{CHECKINS_URL}?status=due", headers=headers)

    assert listed.status_code == 200
    body = listed.get_json()
    assert [(item["id"], item["slot"]) for item in body] == [(checkin.id, "6h")]
    questions = body[0]["items"]
    assert [question["code"] for question in questions] == [
        "soreness",
        "bruise_bleed",
        "rf_breath_chest",
        "rf_neuro",
    ]
    assert all({"code", "kind", "text"} <= set(question) for question in questions)
    assert questions[0]["kind"] == "scale"
    assert (questions[0]["min"], questions[0]["max"]) == (0, 10)


def test_each_question_carries_the_answers_that_raise_a_red_flag_and_their_advice(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    body = client.get(f"{CHECKINS_URL}/{checkin.id}", headers=headers).get_json()

    flags = {question["code"]: question["red_flags"] for question in body["items"]}
    assert flags["soreness"] == []  # strong soreness at 6 h is expected, not a red flag
    [breathless] = flags["rf_breath_chest"]
    assert breathless == {
        "rule": "RF-1",
        "values": [True],
        "severity": "urgent",
        "advice": breathless["advice"],
        "escalate_with": [],
        "escalate_to": None,
    }
    assert f"Call {EMERGENCY_NUMBER} or go to an emergency department" in breathless["advice"]
    assert [(f["rule"], f["values"], f["severity"]) for f in flags["rf_neuro"]] == [
        ("RF-4", [True], "same_day")
    ]
    assert {(f["rule"], tuple(f["values"])) for f in flags["bruise_bleed"]} == {
        ("RF-5", ("bleeding",)),
        ("RF-6", ("large",)),
    }


def test_a_patient_abroad_gets_advice_with_their_own_countrys_number(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, make_clinic(session, emergency_number=EMERGENCY_NUMBER))
    patient = make_patient(session, clinician, quiet_hours=None, timezone="Australia/Sydney")
    headers = enrolled_headers(session, clinician, patient)
    checkin = make_open_checkin_now(session, clinician, patient, regions=["upper_back"])
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json=new_answer({"rf_breath_chest": True})
    )

    [alert] = response.get_json()["alerts"]
    assert "Call 000 or go to an emergency department now." in alert["advice"]
    assert EMERGENCY_NUMBER not in alert["advice"]
    question = client.get(f"{CHECKINS_URL}/{checkin.id}", headers=headers).get_json()["items"]
    advice = [flag["advice"] for item in question for flag in item["red_flags"]]
    assert advice
    assert all("911" not in text and EMERGENCY_NUMBER not in text for text in advice)


def test_checkins_default_to_the_due_ones(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    make_open_checkin_now(session, clinician, patient)
    session.commit()

    listed = client.get(CHECKINS_URL, headers=headers)

    assert [item["slot"] for item in listed.get_json()] == ["6h"]


def test_upcoming_checkins_list_those_still_to_open(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    make_open_checkin_now(session, clinician, patient)
    session.commit()

    listed = client.get(f"{CHECKINS_URL}?status=upcoming", headers=headers)

    assert [item["slot"] for item in listed.get_json()] == ["24h", "48h", "72h", "7d"]


def test_unknown_checkin_status_filter_names_status(client: FlaskClient, session: Session) -> None:
    _, _, headers = enrolled_patient(session)

    response = client.get(f"{CHECKINS_URL}?status=bogus", headers=headers)

    assert_rejected(response, "status")


def test_a_checkin_names_its_treatment_and_time_point_in_words(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    [listed] = client.get(CHECKINS_URL, headers=headers).get_json()

    assert (listed["modality"], listed["modality_label"]) == (
        "dry_needling",
        "Dry needling (trigger point)",
    )
    assert (listed["slot"], listed["slot_label"]) == ("6h", "6 hours")
    treated_at = checkin.treatment.treated_at
    assert datetime.fromisoformat(listed["treated_at"]) == treated_at
    assert client.get(f"{CHECKINS_URL}/{checkin.id}", headers=headers).get_json() == listed


def test_the_treatment_day_is_the_one_on_the_patients_clock(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="America/Vancouver")
    headers = enrolled_headers(session, clinician, patient)
    # 05:00 on Monday 2 March in UTC is 21:00 on Sunday 1 March in Vancouver
    treated_at = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    treatment = make_treatment(session, clinician, patient, treated_at=treated_at)
    session.commit()

    body = client.get(f"{CHECKINS_URL}/{checkin_for(treatment, '24h').id}", headers=headers)

    assert body.get_json()["treated_on"] == "2026-03-01"


def test_a_time_point_the_clinic_added_is_named_by_its_own_label(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, role="admin")
    patient = make_patient(session, clinician, quiet_hours=None)
    headers = enrolled_headers(session, clinician, patient)
    timepoints = [
        {
            "slot": "36h",
            "label": "a day and a half",
            "offset_h": 36,
            "window_h": 12,
            "items": ["pain"],
        }
    ]
    override_timepoints(
        session, clinician=clinician, modality="ims", timepoints=timepoints, now=datetime.now(UTC)
    )
    treatment = make_treatment(session, clinician, patient, modality="ims")
    session.commit()

    body = client.get(f"{CHECKINS_URL}/{checkin_for(treatment, '36h').id}", headers=headers)

    assert body.get_json()["slot_label"] == "a day and a half"
    assert body.get_json()["modality_label"] == "IMS (intramuscular stimulation)"


def test_the_openapi_document_describes_the_words_that_name_a_checkin(
    client: FlaskClient, session: Session
) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    checkin = schemas["PatientCheckIn"]["properties"]
    assert checkin["treated_on"] == {
        "type": "string",
        "format": "date",
        "description": "the day of the treatment on the patient's clock",
    }
    for name in ("slot_label", "modality_label"):
        assert checkin[name]["type"] == "string"
        assert "in words" in checkin[name]["description"]
    assert {"modality_label", "treated_on"} <= set(schemas["History"]["properties"])
    assert "slot_label" in schemas["HistoryPoint"]["properties"]


# --- answering ---------------------------------------------------------------------------------


def test_answer_is_created_with_its_result(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()
    body = new_answer()

    response = client.post(response_url(checkin.id), headers=headers, json=body)

    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert {"id", "client_id", "answers", "alerts", "next_checkin_at"} <= set(result)
    assert result["client_id"] == body["client_id"]
    assert result["answers"] == SIX_HOURS
    assert result["alerts"] == []
    next_due = session.scalar(select(CheckIn.due_at).filter_by(id=checkin_for_slot(session, "24h")))
    assert next_due is not None
    assert datetime.fromisoformat(result["next_checkin_at"]) == next_due


def test_same_client_id_again_replays_the_same_body(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()
    body = new_answer()
    first = client.post(response_url(checkin.id), headers=headers, json=body)

    again = client.post(response_url(checkin.id), headers=headers, json=body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count_rows(session, Response) == 1


def test_answer_after_expiry_is_a_conflict_with_a_message(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    # recorded back at T0, so the 6h window (5 h to 1 h ago) was really offered and has closed
    treatment = make_treatment(
        session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=11)
    )
    checkin = checkin_for(treatment, "6h")
    session.commit()

    response = client.post(response_url(checkin.id), headers=headers, json=new_answer())

    assert response.status_code == 409
    assert "the time to answer this check-in ended at" in response.get_json()["message"]
    assert count_rows(session, Response) == 0


def test_answer_to_an_item_not_asked_names_it(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json=new_answer({"soreness": 2, "pain": 5})
    )

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["answers.pain"]


def test_out_of_scale_answer_is_invalid(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json=new_answer({"soreness": 11})
    )

    assert_rejected(response, "answers.soreness")


def test_invalid_answer_writes_nothing(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    client.post(
        response_url(checkin.id), headers=headers, json=new_answer({"soreness": 2, "rf_neuro": 1})
    )

    assert count_rows(session, Response) == 0
    assert session.scalar(select(CheckIn.status).filter_by(id=checkin.id)) == "scheduled"


@pytest.mark.parametrize(
    "body",
    [{"answers": SIX_HOURS}, {"client_id": "not-a-uuid", "answers": SIX_HOURS}],
    ids=["missing", "not-a-uuid"],
)
def test_answer_without_a_valid_client_id_names_client_id(
    client: FlaskClient, session: Session, body: dict[str, Any]
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(response_url(checkin.id), headers=headers, json=body)

    assert_rejected(response, "client_id")


def test_unknown_top_level_field_is_named(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json={**new_answer(), "mood": "great"}
    )

    assert_rejected(response, "mood")


def test_answers_that_are_not_an_object_are_invalid(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json={**new_answer(), "answers": [4]}
    )

    assert_rejected(response, "answers")


def test_note_over_its_length_is_invalid(client: FlaskClient, session: Session) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()

    response = client.post(
        response_url(checkin.id), headers=headers, json={**new_answer(), "note": "x" * 1001}
    )

    assert_rejected(response, "note")


def test_red_flag_answer_returns_urgent_advice_with_the_clinics_number(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient, regions=["upper_back"])
    session.commit()

    response = client.post(
        response_url(checkin.id),
        headers=headers,
        json=new_answer({**SIX_HOURS, "rf_breath_chest": True}),
    )

    assert response.status_code == 201, response.get_json()
    alerts = response.get_json()["alerts"]
    assert [(alert["rule"], alert["severity"]) for alert in alerts] == [("RF-1", "urgent")]
    assert EMERGENCY_NUMBER in alerts[0]["advice"]


def test_red_flag_answer_raises_an_alert_for_the_clinic(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, headers = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient, regions=["upper_back"])
    session.commit()

    client.post(
        response_url(checkin.id),
        headers=headers,
        json=new_answer({**SIX_HOURS, "rf_breath_chest": True}),
    )

    stored = session.execute(select(Alert.rule, Alert.severity, Alert.patient_id)).all()
    assert [tuple(row) for row in stored] == [("RF-1", "urgent", patient.id)]


def test_answer_to_another_patients_checkin_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient, _ = enrolled_patient(session)
    checkin = make_open_checkin_now(session, clinician, patient)
    other = make_patient(session, clinician, code="P-002", quiet_hours=None)
    other_headers = enrolled_headers(session, clinician, other)

    response = client.post(response_url(checkin.id), headers=other_headers, json=new_answer())

    assert response.status_code == 404
    assert count_rows(session, Response) == 0


def test_patient_token_cannot_call_clinician_endpoints(
    client: FlaskClient, session: Session
) -> None:
    _, _, headers = enrolled_patient(session)

    response = client.get("/api/v1/patients", headers=headers)

    assert response.status_code == 401


# --- push subscriptions ------------------------------------------------------------------------


def subscription_rows(session: Session, endpoint: str) -> list[tuple[Any, ...]]:
    """(patient_id, p256dh, auth) of the rows with this endpoint."""
    rows = session.execute(
        select(
            PushSubscription.patient_id, PushSubscription.p256dh, PushSubscription.auth
        ).filter_by(endpoint=endpoint)
    ).all()
    return [tuple(row) for row in rows]


def test_browser_subscription_is_registered(client: FlaskClient, session: Session) -> None:
    _, patient, headers = enrolled_patient(session)
    subscription = browser_subscription()

    response = client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["endpoint"] == subscription["endpoint"]
    keys = subscription["keys"]
    assert subscription_rows(session, subscription["endpoint"]) == [
        (patient.id, keys["p256dh"], keys["auth"])
    ]


def test_same_endpoint_again_is_ok_and_keeps_one_row(client: FlaskClient, session: Session) -> None:
    _, _, headers = enrolled_patient(session)
    subscription = browser_subscription()
    client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    again = client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    assert again.status_code == 200
    assert len(subscription_rows(session, subscription["endpoint"])) == 1


def test_subscription_expiration_time_is_kept(client: FlaskClient, session: Session) -> None:
    _, _, headers = enrolled_patient(session)
    subscription = {**browser_subscription(), "expirationTime": 1_900_000_000_000}

    client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    expires_at = session.scalar(
        select(PushSubscription.expires_at).filter_by(endpoint=subscription["endpoint"])
    )
    assert expires_at == datetime.fromtimestamp(1_900_000_000, UTC)


def test_subscription_expiration_time_beyond_any_date_is_invalid(
    client: FlaskClient, session: Session
) -> None:
    _, _, headers = enrolled_patient(session)
    subscription = {**browser_subscription(), "expirationTime": 10**20}

    response = client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    assert_rejected(response, "expirationTime")
    assert count_rows(session, PushSubscription) == 0


def with_keys(**keys: str) -> Callable[[dict[str, Any]], None]:
    """A change to a subscription's keys."""

    def change(subscription: dict[str, Any]) -> None:
        subscription["keys"].update(keys)

    return change


def without(name: str) -> Callable[[dict[str, Any]], None]:
    """A change that drops a top-level field."""

    def change(subscription: dict[str, Any]) -> None:
        del subscription[name]

    return change


def with_endpoint(endpoint: str) -> Callable[[dict[str, Any]], None]:
    """A change to the endpoint."""

    def change(subscription: dict[str, Any]) -> None:
        subscription["endpoint"] = endpoint

    return change


MALFORMED_SUBSCRIPTIONS = [
    pytest.param(with_endpoint("not a url"), "endpoint", id="endpoint-not-a-url"),
    pytest.param(with_endpoint("/fcm/send/abc"), "endpoint", id="endpoint-relative"),
    pytest.param(without("endpoint"), "endpoint", id="endpoint-missing"),
    pytest.param(with_keys(p256dh=b64url(p256dh_point()[:33])), "keys.p256dh", id="p256dh-short"),
    pytest.param(
        with_keys(p256dh=b64url(b"\x05" + p256dh_point()[1:])), "keys.p256dh", id="p256dh-not-0x04"
    ),
    pytest.param(with_keys(p256dh="*" * 87), "keys.p256dh", id="p256dh-not-base64url"),
    pytest.param(with_keys(auth=b64url(bytes(12))), "keys.auth", id="auth-short"),
    pytest.param(
        with_keys(auth="!!!!" + b64url(bytes(16))[4:]), "keys.auth", id="auth-not-base64url"
    ),
    pytest.param(without("keys"), "keys", id="keys-missing"),
]


@pytest.mark.parametrize(("spoil", "field"), MALFORMED_SUBSCRIPTIONS)
def test_malformed_subscription_is_invalid_naming_the_field(
    client: FlaskClient,
    session: Session,
    spoil: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    _, _, headers = enrolled_patient(session)
    subscription = browser_subscription()
    spoil(subscription)

    response = client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    assert_rejected(response, field)
    assert count_rows(session, PushSubscription) == 0


def test_subscription_is_deleted_by_endpoint(client: FlaskClient, session: Session) -> None:
    _, _, headers = enrolled_patient(session)
    subscription = browser_subscription()
    client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)

    response = client.delete(
        SUBSCRIPTIONS_URL, headers=headers, json={"endpoint": subscription["endpoint"]}
    )

    assert response.status_code == 204
    assert subscription_rows(session, subscription["endpoint"]) == []


def test_deleting_an_unknown_endpoint_is_not_found(client: FlaskClient, session: Session) -> None:
    _, _, headers = enrolled_patient(session)

    response = client.delete(
        SUBSCRIPTIONS_URL,
        headers=headers,
        json={"endpoint": "https://fcm.googleapis.com/fcm/send/unknown"},
    )

    assert_rejected(response, "endpoint", status=404)


def test_deleting_another_patients_subscription_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    clinician, _, headers = enrolled_patient(session)
    subscription = browser_subscription()
    client.post(SUBSCRIPTIONS_URL, headers=headers, json=subscription)
    other = make_patient(session, clinician, code="P-002", quiet_hours=None)
    other_headers = enrolled_headers(session, clinician, other)

    response = client.delete(
        SUBSCRIPTIONS_URL, headers=other_headers, json={"endpoint": subscription["endpoint"]}
    )

    assert response.status_code == 404
    assert len(subscription_rows(session, subscription["endpoint"])) == 1


def test_subscribing_without_a_token_is_unauthorized(client: FlaskClient, session: Session) -> None:
    response = client.post(SUBSCRIPTIONS_URL, json=browser_subscription())

    assert response.status_code == 401


def test_answer_racing_its_own_replay_gets_the_stored_body(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician, patient = clinic_with_patient(session)
    headers = enrolled_headers(session, clinician, patient)
    checkin = make_open_checkin_now(session, clinician, patient)
    real = answer_checkin
    calls: list[int] = []

    def the_other_request_wins(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the twin request stores the answer first, then ours collides
            real(*args, **kwargs)
            db.session.commit()
            raise IntegrityError("INSERT INTO responses", {}, Exception("unique client_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(me_api, "answer_checkin", the_other_request_wins)
    response = client.post(response_url(checkin.id), headers=headers, json=new_answer())
    assert response.status_code == 200
    assert count_rows(session, Response) == 1


def test_subscription_key_off_the_curve_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician, patient = clinic_with_patient(session)
    headers = enrolled_headers(session, clinician, patient)
    body = browser_subscription()
    body["keys"]["p256dh"] = b64url(b"\x04" + b"\x01" * 64)  # the right size, not a point
    response = client.post("/api/v1/me/push-subscriptions", headers=headers, json=body)
    assert response.status_code == 422
    assert "keys.p256dh" in response.get_json()["errors"]


def test_answer_retried_after_a_collision_is_stored(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician, patient = clinic_with_patient(session)
    headers = enrolled_headers(session, clinician, patient)
    checkin = make_open_checkin_now(session, clinician, patient)
    calls: list[int] = []

    def collide_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # e.g. another check-in's answer raised the same alert first
            raise IntegrityError("INSERT INTO alerts", {}, Exception("unique treatment_id, rule"))
        return answer_checkin(*args, **kwargs)

    monkeypatch.setattr(me_api, "answer_checkin", collide_once)
    response = client.post(response_url(checkin.id), headers=headers, json=new_answer())
    assert response.status_code == 201
    assert count_rows(session, Response) == 1
