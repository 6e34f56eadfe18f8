"""The patient's own profile and recovery history, as the app shows them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.services.answers import answer_checkin
from tests.factories import (
    checkin_for,
    enrolled_headers,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)


def test_me_tells_the_app_whom_to_call_and_the_email_fallback(
    client: FlaskClient, session: Session
) -> None:
    clinic = make_clinic(session, phone="+1 604 555 0142")
    clinician = make_clinician(session, clinic)
    patient = make_patient(session, clinician, display_name="Sam", email="sam@example.org")
    headers = enrolled_headers(session, clinician, patient)
    body = client.get("/api/v1/me", headers=headers).get_json()
    assert body == {
        "display_name": "Sam",
        "clinic": "Harbour Physio",
        "emergency_number": "911",
        "emergency": {"display": "911", "tel": "911"},
        "clinic_phone": {"display": "(604) 555-0142", "tel": "+16045550142"},
        "has_email": True,
        "next_checkin_at": None,
    }


def test_a_patient_in_sydney_is_told_000_and_the_clinics_number_from_abroad(
    client: FlaskClient, session: Session
) -> None:
    clinic = make_clinic(session, phone="+1 604 555 0142", emergency_number="604-555-0199")
    clinician = make_clinician(session, clinic)
    patient = make_patient(session, clinician, timezone="Australia/Sydney")
    headers = enrolled_headers(session, clinician, patient)
    body = client.get("/api/v1/me", headers=headers).get_json()
    assert body["emergency_number"] == "000"
    assert body["emergency"] == {"display": "000", "tel": "000"}
    assert body["clinic_phone"] == {"display": "+1 604-555-0142", "tel": "+16045550142"}


def test_with_no_number_known_me_says_null_rather_than_another_countrys(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, make_clinic(session, timezone="UTC"))
    patient = make_patient(session, clinician, timezone="Etc/GMT-3")
    headers = enrolled_headers(session, clinician, patient)
    body = client.get("/api/v1/me", headers=headers).get_json()
    assert (body["emergency_number"], body["emergency"], body["clinic_phone"]) == (None, None, None)


def test_me_needs_a_patient_token(client: FlaskClient, session: Session) -> None:
    assert client.get("/api/v1/me").status_code == 401


def test_history_gives_soreness_and_pain_by_hours_since_treatment(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treated_at = datetime.now(UTC) - timedelta(hours=30)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        treated_at=treated_at,
        now=treated_at,
        baseline={"soreness": 1, "pain": 6},
    )
    day_one = checkin_for(treatment, "24h")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=day_one.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4, "pain": 5},
        note=None,
        now=treated_at + timedelta(hours=25),
    )
    headers = enrolled_headers(session, clinician, patient)
    [course] = client.get("/api/v1/me/history", headers=headers).get_json()
    assert (course["modality"], course["modality_label"]) == (
        "dry_needling",
        "Dry needling (trigger point)",
    )
    assert course["baseline"] == {"soreness": 1, "pain": 6}
    assert course["points"] == [{"hours": 25.0, "slot_label": "1 day", "soreness": 4, "pain": 5}]


def test_history_shows_only_the_patients_own_treatments(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    other = make_patient(session, clinician, code="P-002")
    make_treatment(session, clinician, other)
    headers = enrolled_headers(session, clinician, patient)
    assert client.get("/api/v1/me/history", headers=headers).get_json() == []
