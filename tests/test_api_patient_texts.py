"""A patient's mobile number, consent to texts and channel order through the patients resource:
each rule of validation, and what is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Patient
from tests.factories import bearer, make_clinician, make_patient
from tests.http import assert_rejected
from tests.test_api_patients import PATIENTS_URL, post_patient


def patient_url(session: Session) -> tuple[dict[str, str], str, Patient]:
    """Headers of a clinician and the URL of a patient of theirs in Sydney (AU)."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="Australia/Sydney")
    headers = bearer(session, clinician)
    return headers, f"{PATIENTS_URL}/{patient.id}", patient


def test_a_new_patient_is_registered_with_a_number_and_consent(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session))

    response = post_patient(
        client, headers, phone="604 555 0100", sms_consent={"source": "enrolment"}
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["phone"] == "+16045550100"  # a local number, read as one of Canada's
    assert body["sms_consent"]["source"] == "enrolment"
    assert datetime.fromisoformat(body["sms_consent"]["given_at"]).tzinfo is not None
    assert (body["sms_opted_out_at"], body["channel_order"]) == (None, ["push", "email", "sms"])


def test_a_local_number_is_read_in_the_patients_own_country(
    client: FlaskClient, session: Session
) -> None:
    headers, url, _ = patient_url(session)

    response = client.patch(url, headers=headers, json={"phone": "0491 570 006"})

    assert response.get_json()["phone"] == "+61491570006"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a number"}, "phone"),
        ({"phone": "+1 604 555 0100 ext. 12345678901234567890"}, "phone"),
        ({"phone": 61491570006}, "phone"),
        ({"sms_consent": {"source": "shouted"}}, "sms_consent.source"),
        ({"sms_consent": {}}, "sms_consent.source"),
        ({"sms_consent": "phone"}, "sms_consent._schema"),
        ({"sms_consent": {"source": "phone"}}, "sms_consent"),  # no number yet
        ({"phone": "+44 20 7946 0000", "sms_consent": {"source": "paper"}}, "sms_consent"),
        ({"channel_order": []}, "channel_order"),
        ({"channel_order": ["push", "pigeon"]}, "channel_order.1"),
        ({"channel_order": ["sms", "sms"]}, "channel_order"),
        ({"channel_order": "push,sms"}, "channel_order"),
        ({"channel_order": ["push", "email", "sms", "push"]}, "channel_order"),
    ],
    ids=[
        "too short",
        "letters",
        "too long",
        "not a string",
        "unknown source",
        "no source",
        "consent not an object",
        "consent without a number",
        "consent for a landline",
        "no channel",
        "unknown channel",
        "a channel twice",
        "order not a list",
        "too many channels",
    ],
)
def test_bad_texts_fields_are_refused_naming_the_field(
    client: FlaskClient, session: Session, change: dict[str, Any], field: str
) -> None:
    headers, url, _ = patient_url(session)

    response = client.patch(url, headers=headers, json=change)

    assert_rejected(response, field)
    session.expire_all()
    stored = session.scalars(select(Patient)).one()
    assert (stored.phone, stored.sms_consent_at, stored.channel_order) == (
        None,
        None,
        "push,email,sms",
    )  # nothing of a refused request is kept


def test_consent_is_recorded_with_its_time_and_source_and_audited(
    client: FlaskClient, session: Session
) -> None:
    headers, url, patient = patient_url(session)

    response = client.patch(
        url,
        headers=headers,
        json={"phone": "+61 491 570 006", "sms_consent": {"source": "phone"}},
    )

    assert response.status_code == 200, response.get_json()
    session.expire_all()
    stored = session.get_one(Patient, patient.id)
    assert (stored.phone, stored.sms_consent_source) == ("+61491570006", "phone")
    assert stored.sms_consent_at is not None
    event = session.scalars(select(AuditEvent).filter_by(action="patient.updated")).one()
    assert event.details is not None
    assert event.details["fields"] == ["phone", "sms_consent"]


def test_consent_is_withdrawn_with_null_and_goes_with_the_number(
    client: FlaskClient, session: Session
) -> None:
    headers, url, _ = patient_url(session)
    client.patch(
        url, headers=headers, json={"phone": "0491570006", "sms_consent": {"source": "paper"}}
    )

    withdrawn = client.patch(url, headers=headers, json={"sms_consent": None}).get_json()
    client.patch(url, headers=headers, json={"sms_consent": {"source": "paper"}})
    removed = client.patch(url, headers=headers, json={"phone": None}).get_json()

    assert (withdrawn["phone"], withdrawn["sms_consent"]) == ("+61491570006", None)
    assert (removed["phone"], removed["sms_consent"]) == (None, None)


def test_the_channel_order_is_stored_as_given(client: FlaskClient, session: Session) -> None:
    headers, url, patient = patient_url(session)

    response = client.patch(url, headers=headers, json={"channel_order": ["sms", "push"]})

    assert response.get_json()["channel_order"] == ["sms", "push"]
    session.expire_all()
    assert session.get_one(Patient, patient.id).channels == ("sms", "push")


def test_a_clinic_cannot_lift_an_opt_out(client: FlaskClient, session: Session) -> None:
    headers, url, patient = patient_url(session)
    client.patch(url, headers=headers, json={"phone": "0491570006"})
    stored = session.get_one(Patient, patient.id)
    stored.sms_opted_out_at = datetime.fromisoformat("2026-11-30T10:00:00+00:00")
    session.commit()

    body = client.patch(url, headers=headers, json={"sms_consent": {"source": "phone"}}).get_json()

    assert body["sms_consent"]["source"] == "phone"
    assert body["sms_opted_out_at"] is not None  # only the patient's START lifts it
