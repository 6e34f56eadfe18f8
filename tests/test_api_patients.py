"""The patients resource: register, validate, list, read, change (re-planning), enrol."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import Patient
from tests.factories import (
    bearer,
    checkin_for,
    latest_utc,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_rejected

PATIENTS_URL = "/api/v1/patients"


def post_patient(client: FlaskClient, headers: dict[str, str], **fields: Any) -> TestResponse:
    """POST a patient: code P-100 in Vancouver unless the fields say otherwise."""
    body: dict[str, Any] = {"code": "P-100", "timezone": "America/Vancouver", **fields}
    return client.post(PATIENTS_URL, headers=headers, json=body)


def checkin_due_at(
    client: FlaskClient, headers: dict[str, str], treatment_id: int
) -> dict[str, Any]:
    """{slot: (status, due_at, expires_at)} of a treatment, read through the API."""
    treatment = client.get(f"/api/v1/treatments/{treatment_id}", headers=headers).get_json()
    return {
        checkin["slot"]: (
            checkin["status"],
            datetime.fromisoformat(checkin["due_at"]),
            datetime.fromisoformat(checkin["expires_at"]),
        )
        for checkin in treatment["checkins"]
    }


# --- registering ---------------------------------------------------------------------------


def test_create_patient_returns_it_with_default_quiet_hours(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers)

    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body["code"] == "P-100"
    assert body["timezone"] == "America/Vancouver"
    assert body["quiet_hours"] == {"start": "22:00", "end": "08:00"}


def test_create_patient_keeps_display_name_and_email(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, display_name="Sam", email="sam@example.org")

    assert response.status_code == 201
    assert response.get_json()["display_name"] == "Sam"
    assert response.get_json()["email"] == "sam@example.org"


def test_create_patient_with_given_quiet_hours(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, quiet_hours={"start": "21:30", "end": "07:15"})

    assert response.status_code == 201
    assert response.get_json()["quiet_hours"] == {"start": "21:30", "end": "07:15"}


def test_null_quiet_hours_are_stored_as_none(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, quiet_hours=None)

    assert response.status_code == 201
    assert response.get_json()["quiet_hours"] is None
    session.expire_all()
    patient = session.get(Patient, response.get_json()["id"])
    assert patient is not None
    assert (patient.quiet_start, patient.quiet_end) == (None, None)


def test_a_patients_country_defaults_to_their_time_zones(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    body = post_patient(client, headers, timezone="Australia/Sydney").get_json()

    assert (body["country"], body["emergency_number"]) == (None, None)  # none of their own
    assert (body["effective_country"], body["effective_emergency_number"]) == ("AU", "000")


def test_a_country_given_at_registration_names_the_number(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    body = post_patient(client, headers, timezone="Europe/Berlin", country="GB").get_json()

    assert (body["country"], body["effective_emergency_number"]) == ("GB", "999")


def test_a_patients_own_number_and_country_can_be_changed_and_cleared(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="Europe/Berlin")
    headers, url = bearer(session, clinician), f"{PATIENTS_URL}/{patient.id}"

    own = client.patch(url, headers=headers, json={"country": "CH", "emergency_number": "112"})
    assert (own.get_json()["country"], own.get_json()["emergency_number"]) == ("CH", "112")
    assert own.get_json()["effective_emergency_number"] == "112"
    cleared = client.patch(url, headers=headers, json={"emergency_number": None})
    assert cleared.get_json()["emergency_number"] is None
    assert cleared.get_json()["effective_emergency_number"] == "144"  # Switzerland's ambulance
    from_zone = client.patch(url, headers=headers, json={"country": None}).get_json()
    assert (from_zone["country"], from_zone["effective_country"]) == (None, "DE")
    assert from_zone["effective_emergency_number"] == "112"


def test_a_country_that_is_not_an_iso_code_is_rejected(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))
    assert_rejected(post_patient(client, headers, country="XX"), "country")
    assert_rejected(post_patient(client, headers, country="Australia"), "country")
    assert_rejected(post_patient(client, headers, country="au"), "country")  # as documented


def test_an_emergency_number_that_cannot_be_dialled_is_rejected(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))
    assert_rejected(post_patient(client, headers, emergency_number="call 000"), "emergency_number")
    assert session.scalars(select(Patient)).all() == []


def test_missing_code_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.post(PATIENTS_URL, headers=headers, json={"timezone": "Europe/London"})

    assert_rejected(response, "code")


def test_code_with_bad_characters_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, code="P 1/2")

    assert_rejected(response, "code")


def test_code_longer_than_64_characters_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, code="P" * 65)

    assert_rejected(response, "code")


def test_code_of_64_characters_is_accepted(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, code="P" * 64)

    assert response.status_code == 201


def test_missing_timezone_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.post(PATIENTS_URL, headers=headers, json={"code": "P-100"})

    assert_rejected(response, "timezone")


def test_unknown_timezone_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, timezone="Mars/Olympus")

    assert_rejected(response, "timezone")
    assert session.scalar(select(Patient)) is None


def test_quiet_hours_with_impossible_time_are_rejected(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, quiet_hours={"start": "25:00", "end": "08:00"})

    assert_rejected(response, "quiet_hours.start")


def test_quiet_hours_starting_when_they_end_are_rejected(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, quiet_hours={"start": "22:00", "end": "22:00"})

    assert_rejected(response, "quiet_hours")


def test_bad_email_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, email="not-an-address")

    assert_rejected(response, "email")


def test_unknown_field_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(client, headers, date_of_birth="1970-01-01")

    assert_rejected(response, "date_of_birth")


def test_duplicate_code_in_the_same_clinic_is_a_conflict(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    make_patient(session, clinician, code="P-100")
    headers = bearer(session, clinician)

    response = post_patient(client, headers, code="P-100")

    assert_rejected(response, "code", status=409)


def test_same_code_in_another_clinic_is_allowed(client: FlaskClient, session: Session) -> None:
    other_clinician = make_clinician(session, make_clinic(session, "Other Clinic"))
    make_patient(session, other_clinician, code="P-100")
    headers = bearer(session, make_clinician(session, make_clinic(session, "Own Clinic")))

    response = post_patient(client, headers, code="P-100")

    assert response.status_code == 201


# --- listing and reading -------------------------------------------------------------------


def test_list_filters_by_code_prefix(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for code in ("AB-2", "AB-1", "C-1"):
        make_patient(session, clinician, code=code)
    headers = bearer(session, clinician)

    response = client.get(PATIENTS_URL, headers=headers, query_string={"code": "ab"})

    assert response.status_code == 200
    assert [patient["code"] for patient in response.get_json()] == ["AB-1", "AB-2"]


def test_list_prefix_treats_underscore_literally(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for code in ("A_1", "AB1"):
        make_patient(session, clinician, code=code)
    headers = bearer(session, clinician)

    response = client.get(PATIENTS_URL, headers=headers, query_string={"code": "A_"})

    assert [patient["code"] for patient in response.get_json()] == ["A_1"]


def test_list_is_paginated_with_x_pagination_header(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for number in range(3):
        make_patient(session, clinician, code=f"P-{number}")
    headers = bearer(session, clinician)

    response = client.get(PATIENTS_URL, headers=headers, query_string={"page": 2, "page_size": 2})

    assert response.status_code == 200
    assert [patient["code"] for patient in response.get_json()] == ["P-2"]
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 3
    assert pagination["total_pages"] == 2
    assert pagination["page"] == 2


def test_get_one_patient(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="P-7", display_name="Ana")
    headers = bearer(session, clinician)

    response = client.get(f"{PATIENTS_URL}/{patient.id}", headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["code"], body["display_name"]) == (patient.id, "P-7", "Ana")
    assert body["timezone"] == "America/Vancouver"


def test_get_unknown_patient_is_not_found(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.get(f"{PATIENTS_URL}/999999", headers=headers)

    assert response.status_code == 404


# --- changing ------------------------------------------------------------------------------


def test_patch_timezone_moves_scheduled_checkins(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    # UTC with quiet hours 22:00-08:00: a check-in due at 03:00 UTC waits until 08:00 UTC;
    # in Vancouver 03:00 UTC is the evening before, outside quiet hours, so it opens at 03:00
    patient = make_patient(session, clinician, timezone="UTC")
    treatment = make_treatment(
        session, clinician, patient, treated_at=latest_utc(3), now=datetime.now(UTC)
    )
    headers = bearer(session, clinician)
    before = checkin_due_at(client, headers, treatment.id)

    response = client.patch(
        f"{PATIENTS_URL}/{patient.id}", headers=headers, json={"timezone": "America/Vancouver"}
    )

    assert response.status_code == 200
    assert response.get_json()["timezone"] == "America/Vancouver"
    after = checkin_due_at(client, headers, treatment.id)
    status, due_before, expires_before = before["7d"]
    assert status == "scheduled"
    assert due_before.time() == time(8, 0)
    assert after["7d"] == (
        "scheduled",
        due_before - timedelta(hours=5),
        expires_before - timedelta(hours=5),
    )


def test_patch_timezone_leaves_cancelled_checkins_alone(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC")
    treatment = make_treatment(
        session, clinician, patient, treated_at=latest_utc(3), now=datetime.now(UTC)
    )
    headers = bearer(session, clinician)
    week = checkin_for(treatment, "7d")
    client.patch(f"/api/v1/checkins/{week.id}", headers=headers, json={"status": "cancelled"})
    before = checkin_due_at(client, headers, treatment.id)

    client.patch(
        f"{PATIENTS_URL}/{patient.id}", headers=headers, json={"timezone": "America/Vancouver"}
    )

    assert checkin_due_at(client, headers, treatment.id)["7d"] == before["7d"]
    assert before["7d"][0] == "cancelled"


def test_patch_quiet_hours_to_null_stores_none(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)

    response = client.patch(
        f"{PATIENTS_URL}/{patient.id}", headers=headers, json={"quiet_hours": None}
    )

    assert response.status_code == 200
    assert response.get_json()["quiet_hours"] is None


def test_patch_with_empty_body_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)

    response = client.patch(f"{PATIENTS_URL}/{patient.id}", headers=headers, json={})

    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_patch_with_unknown_timezone_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)

    response = client.patch(
        f"{PATIENTS_URL}/{patient.id}", headers=headers, json={"timezone": "Mars/Olympus"}
    )

    assert_rejected(response, "timezone")


# --- enrolment -----------------------------------------------------------------------------


def test_enrolment_link_is_created(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)

    response = client.post(f"{PATIENTS_URL}/{patient.id}/enrolment", headers=headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "url", "expires_at", "qr_svg"}
    assert body["url"].endswith(body["token"])
    assert "<svg" in body["qr_svg"]
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at > datetime.now(UTC) + timedelta(hours=71)
