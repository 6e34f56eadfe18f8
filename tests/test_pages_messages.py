"""How a patient is reached, from the pages: a mobile and consent to texts at enrolment, and
the patient page's panel for the mobile, consent and the channels' order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Clinician, Patient
from tests.factories import make_clinician, make_patient, post_form, sign_in_pages


@pytest.fixture
def clinician(client: FlaskClient, session: Session) -> Clinician:
    signed_in = make_clinician(session)
    sign_in_pages(client, signed_in)
    return signed_in


def enrol(client: FlaskClient, **fields: str) -> tuple[int, str]:
    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "KNEE-42", "timezone": "Australia/Sydney", **fields},
    )
    return response.status_code, response.get_data(as_text=True)


def test_enrolment_records_a_mobile_and_consent_given_on_the_form(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    status, _ = enrol(client, phone="0491 570 006", sms_consent="yes")

    patient = session.scalars(select(Patient)).one()
    assert status == 201
    assert (patient.phone, patient.sms_consent_source) == ("+61491570006", "enrolment")
    assert patient.sms_consent_at is not None


def test_enrolment_without_the_box_ticked_records_no_consent(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    enrol(client, phone="0491 570 006")

    patient = session.scalars(select(Patient)).one()
    assert (patient.phone, patient.sms_consent_at) == ("+61491570006", None)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"phone": "12345"}, "not a phone number that can be dialled"),
        ({"sms_consent": "yes"}, "give the patient&#39;s mobile number first"),
    ],
)
def test_enrolment_with_a_bad_mobile_or_consent_says_what_to_do(
    client: FlaskClient, session: Session, clinician: Clinician, fields: dict[str, str], says: str
) -> None:
    status, page = enrol(client, **fields)

    assert status == 422
    assert says in page
    assert session.scalars(select(Patient)).all() == []


def patient_of(session: Session, clinician: Clinician, **fields: Any) -> Patient:
    patient = make_patient(session, clinician, timezone="Australia/Sydney", **fields)
    session.commit()
    return patient


def save(client: FlaskClient, patient: Patient, fields: dict[str, object]) -> tuple[int, str]:
    url = f"/clinic/patients/{patient.id}"
    response = post_form(client, url, f"{url}/messages", fields)
    return response.status_code, response.get_data(as_text=True)


def test_the_panel_saves_a_mobile_consent_and_order(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    patient = patient_of(session, clinician)

    status, _ = save(
        client,
        patient,
        {"phone": "0491570006", "sms_consent": "phone", "channel_order": ["sms", "push", ""]},
    )

    assert status == 302
    session.expire_all()
    saved = session.get_one(Patient, patient.id)
    assert (saved.phone, saved.sms_consent_source, saved.channels) == (
        "+61491570006",
        "phone",
        ("sms", "push"),
    )
    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)
    assert "Check-ins try text message, then app notification:" in page
    assert "Texts allowed: consent given to a clinician on the phone" in page


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"channel_order": ["sms", "sms"]}, "channel_order", "name each channel once"),
        ({"channel_order": ["", ""]}, "channel_order", "name each channel once"),
        ({"phone": "+44 20 7946 0000", "sms_consent": "paper"}, "sms_consent", "landline"),
        ({"phone": "call me"}, "phone", "not a phone number"),
    ],
    ids=["a channel twice", "no channel", "a landline", "not a number"],
)
def test_the_panel_refuses_bad_input_naming_the_field_and_keeps_nothing(
    client: FlaskClient,
    session: Session,
    clinician: Clinician,
    fields: dict[str, object],
    field: str,
    says: str,
) -> None:
    patient = patient_of(session, clinician)

    status, page = save(client, patient, {"channel_order": ["push"], **fields})

    assert status == 422
    assert f'id="{field}-error"' in page
    assert says in page
    assert '<details class="edit" open>' in page
    session.expire_all()
    saved = session.get_one(Patient, patient.id)
    assert (saved.phone, saved.channel_order) == (None, "push,email,sms")


def test_an_opted_out_patient_page_says_only_they_can_lift_it(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    patient = patient_of(session, clinician, phone="0491570006", sms_consent="paper")
    patient.sms_opted_out_at = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    session.commit()

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert "The patient replied STOP on" in page
    assert "until they text START" in page


def test_the_page_says_when_the_server_has_no_sms_provider(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    patient = patient_of(session, clinician)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert "no SMS provider set up" in page
