"""Texts patients send back (the provider's inbound webhook): signed by the provider or refused,
STOP and its synonyms recorded as opt-outs, START as opting in again, anything else answered
with whom to call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import AuditEvent, Clinic, Patient
from server.services.text_replies import OPT_IN, OPT_OUT
from tests.factories import NOW, make_clinician, make_patient
from tests.http import assert_error_shape, assert_rejected
from tests.sms_service import AUTH_TOKEN, SmsService
from tests.test_sms import DUE, MOBILE, texted_patient

URL = "/sms/inbound"


@pytest.fixture
def texts_on(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app with the provider's auth token set, as when texts are configured."""
    monkeypatch.setitem(app.config, "SMS_AUTH_TOKEN", AUTH_TOKEN)


def signed(app: Flask, form: dict[str, str], *, token: str = AUTH_TOKEN, path: str = URL) -> str:
    """The X-Twilio-Signature the provider would send for this form to this path."""
    url = app.config["PUBLIC_BASE_URL"] + path
    return str(RequestValidator(token).compute_signature(url, form))


def inbound(
    client: FlaskClient, app: Flask, body: str, *, sender: str = MOBILE, **extra: str
) -> TestResponse:
    """A text from ``sender``, posted and signed as the provider posts it."""
    form = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "AC" + "0" * 31 + "1",
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        **extra,
    }
    return client.post(URL, data=form, headers={"X-Twilio-Signature": signed(app, form)})


def stored(session: Session, patient_id: int) -> Patient:
    session.expire_all()
    return session.get_one(Patient, patient_id)


# --- the signature ----------------------------------------------------------------------------


def test_a_text_without_a_signature_is_refused(
    client: FlaskClient, session: Session, texts_on: None
) -> None:
    response = client.post(URL, data={"From": MOBILE, "Body": "STOP"})

    assert_rejected(response, "X-Twilio-Signature", 403)
    assert_error_shape(response)


@pytest.mark.parametrize(
    "forgery",
    ["another token", "another path", "another body"],
)
def test_a_text_with_a_wrong_signature_is_refused_and_changes_nothing(
    client: FlaskClient, session: Session, app: Flask, texts_on: None, forgery: str
) -> None:
    treatment = texted_patient(session)
    form = {"From": MOBILE, "Body": "STOP"}
    signature = {
        "another token": signed(app, form, token="not-the-token"),
        "another path": signed(app, form, path="/sms/other"),
        "another body": signed(app, {"From": MOBILE, "Body": "HELLO"}),
    }[forgery]

    response = client.post(URL, data=form, headers={"X-Twilio-Signature": signature})

    assert_rejected(response, "X-Twilio-Signature", 403)
    assert stored(session, treatment.patient_id).sms_opted_out_at is None


def test_texts_not_set_up_refuse_every_text(
    client: FlaskClient, session: Session, app: Flask
) -> None:
    response = inbound(client, app, "STOP")

    assert_rejected(response, "X-Twilio-Signature", 403)
    assert "SMS_AUTH_TOKEN" in response.get_json()["errors"]["X-Twilio-Signature"][0]


@pytest.mark.parametrize("sender", ["", "12345", "not a number"])
def test_a_text_without_a_usable_sender_is_refused(
    client: FlaskClient, session: Session, app: Flask, texts_on: None, sender: str
) -> None:
    assert_rejected(inbound(client, app, "STOP", sender=sender), "From")


# --- opting out and in -------------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(OPT_OUT))
def test_stop_and_its_synonyms_opt_the_patient_out(
    client: FlaskClient, session: Session, app: Flask, texts_on: None, word: str
) -> None:
    treatment = texted_patient(session)

    response = inbound(client, app, f" {word.lower()}. ")

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert "<Message>" not in response.text  # the provider confirms it itself
    assert stored(session, treatment.patient_id).sms_opted_out_at is not None


def test_an_opt_out_is_audited_without_the_text(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    treatment = texted_patient(session)

    inbound(client, app, "STOP")

    event = session.scalars(select(AuditEvent).filter_by(action="patient.sms_opted_out")).one()
    assert (event.actor, event.target) == (
        f"patient:{treatment.patient_id}",
        f"patient:{treatment.patient_id}",
    )


def test_an_opted_out_patient_is_not_texted_until_they_text_start(
    client: FlaskClient,
    session: Session,
    app: Flask,
    texts_on: None,
    texting_worker: Worker,
    sms: SmsService,
) -> None:
    texted_patient(session)
    inbound(client, app, "STOP")

    dispatch_due_checkins(texting_worker, DUE)
    assert sms.texts == []

    inbound(client, app, "Start")
    dispatch_due_checkins(texting_worker, NOW + timedelta(hours=24))  # the next check-in
    assert [text.to for text in sms.texts] == [MOBILE]


@pytest.mark.parametrize("word", sorted(OPT_IN))
def test_start_and_its_synonyms_opt_the_patient_in_again(
    client: FlaskClient, session: Session, app: Flask, texts_on: None, word: str
) -> None:
    treatment = texted_patient(session)
    inbound(client, app, "STOP")

    inbound(client, app, word)

    assert stored(session, treatment.patient_id).sms_opted_out_at is None


def test_the_providers_own_reading_of_a_keyword_is_taken(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    treatment = texted_patient(session)

    inbound(client, app, "Arrêt", OptOutType="STOP")  # a keyword set up at the provider

    assert stored(session, treatment.patient_id).sms_opted_out_at is not None


def test_every_patient_sharing_the_number_is_opted_out(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    clinician = make_clinician(session)
    parent = make_patient(session, clinician, code="P-1", phone=MOBILE)
    child = make_patient(session, clinician, code="P-2", phone="604-555-0100")
    other = make_patient(session, clinician, code="P-3", phone="+16045550199")
    session.commit()

    inbound(client, app, "STOP")

    assert [stored(session, p.id).sms_opted_out_at is not None for p in (parent, child, other)] == [
        True,
        True,
        False,
    ]


def test_a_word_inside_a_sentence_is_not_a_keyword(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    treatment = texted_patient(session)

    inbound(client, app, "please don't stop the check-ins")

    assert stored(session, treatment.patient_id).sms_opted_out_at is None


# --- anything else ----------------------------------------------------------------------------


def test_any_other_text_is_answered_with_whom_to_call(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    treatment = texted_patient(session)
    clinic = session.get_one(Clinic, treatment.patient.clinic_id)
    clinic.phone = "+16045550142"
    session.commit()

    response = inbound(client, app, "my leg is numb since the needling")

    assert response.status_code == 200
    text = response.text
    assert "not read" in text
    assert "(604) 555-0142" in text  # the clinic's phone, as dialled in Canada
    assert "911" in text


def test_a_text_from_an_unknown_number_is_answered_without_any_clinic(
    client: FlaskClient, session: Session, app: Flask, texts_on: None
) -> None:
    response = inbound(client, app, "hello?", sender="+61491570006")

    assert response.status_code == 200
    assert "your local emergency number" in response.text
