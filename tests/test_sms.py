"""Texts to patients: who may be texted, in which order of channels, what a text says, and what
comes of the provider's answers (retries, refusals, opt-outs).

Texts go to a local stand-in of Twilio's Messages API (``sms``) that checks the account's
path, basic auth and the form; worker passes run at fixed times.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, channels_off, dispatch_due_checkins, send_email_fallbacks
from server.models import AuditEvent, CheckIn, DeliveryEvent, Patient, Treatment
from server.services.delivery import sms_text
from server.services.delivery.channels.sms import SmsAddress
from server.services.delivery.outbound import PROMPT, REMINDER, Outbound
from server.services.links import checkin_link_token, read_checkin_link
from server.services.sms import SmsProvider, segments
from tests.conftest import Mailbox
from tests.factories import NOW, make_treated_patient
from tests.push_service import PushService
from tests.sms_service import ACCOUNT_SID, AUTH_TOKEN, FROM, SmsService, refused
from tests.test_dispatch import checkin, subscribe_local

MOBILE = "+16045550100"  # Vancouver, where the factories' patients live
DUE = NOW + timedelta(hours=2)  # the IMS '2h' check-in opens at T0 + 2 h
HEALTH_WORDS = ("pain", "sore", "needl", "ims", "acupuncture", "red flag", "bruis")


def texted_patient(session: Session, **fields: Any) -> Treatment:
    """A patient with a mobile number who consented to texts on the enrolment form, no push
    subscription and no e-mail, treated (IMS) at NOW."""
    treatment = make_treated_patient(
        session, **({"phone": MOBILE, "sms_consent": "enrolment"} | fields)
    )
    session.commit()
    return treatment


def ledger(session: Session, checkin_id: int) -> list[tuple[str, str | None, str | None]]:
    """(kind, channel, detail) of the check-in's ledger rows, oldest first."""
    session.expire_all()
    rows = session.scalars(
        select(DeliveryEvent).filter_by(checkin_id=checkin_id).order_by(DeliveryEvent.id)
    )
    return [(row.kind, row.channel, row.detail) for row in rows]


# --- who is texted ----------------------------------------------------------------------------


def test_a_consenting_patient_without_push_or_email_is_texted_at_due_time(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    texted_patient(session)

    assert dispatch_due_checkins(texting_worker, DUE - timedelta(seconds=1)) == 0
    dispatch_due_checkins(texting_worker, DUE)

    assert [text.to for text in sms.texts] == [MOBILE]


def test_a_text_is_sent_as_the_account_from_the_configured_sender(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    texted_patient(session)

    dispatch_due_checkins(texting_worker, DUE)

    [text] = sms.texts  # the stand-in refuses a wrong path, auth or form (see sms_service)
    assert (text.form["From"], text.form["To"], sms.refusals) == (FROM, MOBILE, [])


def test_a_messaging_service_sid_is_sent_as_such(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    texted_patient(session)
    service_sid = "MG" + "0" * 31 + "2"
    by_service = replace(texting_worker, texts=replace(texting_worker.texts, sender=service_sid))

    dispatch_due_checkins(by_service, DUE)

    [text] = sms.texts
    assert text.form.get("MessagingServiceSid") == service_sid
    assert "From" not in text.form


def test_wrong_credentials_are_refused_and_the_prompt_is_tried_again(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    wrong = replace(texting_worker, texts=replace(texting_worker.texts, auth_token="wrong"))

    dispatch_due_checkins(wrong, DUE)

    assert (sms.texts, sms.refusals) == ([], [(401, "Authenticate")])
    assert ledger(session, checkin(session, treatment, "2h").id)[-1][0] == "gave_up"


@pytest.mark.parametrize(
    "fields",
    [
        {"sms_consent": None},
        {"phone": None, "sms_consent": None},
        {"channel_order": ["push", "email"]},
    ],
    ids=["no consent", "no number", "texts left out of the patient's channels"],
)
def test_a_patient_is_not_texted_without_a_number_consent_and_the_channel(
    texting_worker: Worker, session: Session, sms: SmsService, fields: dict[str, object]
) -> None:
    treatment = texted_patient(session, **fields)

    dispatch_due_checkins(texting_worker, DUE)

    assert sms.texts == []
    [*_, (kind, _, detail)] = ledger(session, checkin(session, treatment, "2h").id)
    assert kind == "gave_up"
    assert detail is not None
    assert detail.startswith("no channel reaches the patient")


def test_an_opted_out_patient_is_not_texted(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    treatment.patient.sms_opted_out_at = NOW
    session.commit()

    dispatch_due_checkins(texting_worker, DUE)

    assert sms.texts == []


def test_without_a_provider_texts_are_off_and_the_worker_says_so(
    worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)

    dispatch_due_checkins(worker, DUE)

    assert sms.texts == []
    assert ledger(session, checkin(session, treatment, "2h").id)[-1][0] == "gave_up"
    assert any(line.startswith("texts are off") for line in channels_off(worker))


def test_a_worker_with_a_provider_does_not_say_texts_are_off(texting_worker: Worker) -> None:
    assert not any(line.startswith("texts are off") for line in channels_off(texting_worker))


# --- the order of channels --------------------------------------------------------------------


def test_push_comes_before_texts_by_default(
    texting_worker: Worker, session: Session, sms: SmsService, push: PushService
) -> None:
    treatment = texted_patient(session)
    subscribe_local(session, treatment.patient, push.subscribe())
    session.commit()

    dispatch_due_checkins(texting_worker, DUE)

    assert (len(push.received), sms.texts) == (1, [])


def test_a_patient_whose_order_puts_texts_first_is_texted_though_subscribed(
    texting_worker: Worker, session: Session, sms: SmsService, push: PushService
) -> None:
    treatment = texted_patient(session, channel_order=["sms", "push"])
    subscribe_local(session, treatment.patient, push.subscribe())
    session.commit()

    dispatch_due_checkins(texting_worker, DUE)

    assert (len(push.received), [text.to for text in sms.texts]) == (0, [MOBILE])


def test_email_comes_before_texts_by_default(
    texting_worker: Worker, session: Session, sms: SmsService, mailbox: Mailbox
) -> None:
    texted_patient(session, email="pat@example.org")

    dispatch_due_checkins(texting_worker, DUE)

    assert ([m["To"] for m in mailbox.messages], sms.texts) == (["pat@example.org"], [])


def test_an_unshown_push_is_texted_by_the_fallback(
    texting_worker: Worker, session: Session, sms: SmsService, push: PushService
) -> None:
    treatment = texted_patient(session)
    subscribe_local(session, treatment.patient, push.subscribe())
    session.commit()
    dispatch_due_checkins(texting_worker, DUE)
    delay = timedelta(seconds=texting_worker.app.config["EMAIL_FALLBACK_DELAY_S"])

    send_email_fallbacks(texting_worker, DUE + delay)
    send_email_fallbacks(texting_worker, DUE + delay * 2)  # and only once

    assert [text.to for text in sms.texts] == [MOBILE]
    assert checkin(session, treatment, "2h").messaged_at == DUE + delay


# --- what a text says ------------------------------------------------------------------------


def link_in(app: Flask, body: str, checkin_id: int) -> str:
    """The link token a text carries for a check-in."""
    link = f"{app.config['PUBLIC_BASE_URL']}/checkin/{checkin_id}#link="
    found = re.search(re.escape(link) + r"(\S+)", body)
    assert found is not None, body
    return found.group(1)


def test_a_text_links_to_its_checkin_and_fits_one_segment(
    texting_worker: Worker, session: Session, sms: SmsService, app: Flask
) -> None:
    treatment = texted_patient(session)
    two_hours = checkin(session, treatment, "2h")

    dispatch_due_checkins(texting_worker, DUE)

    [text] = sms.texts
    token = link_in(app, text.body, two_hours.id)
    claims = read_checkin_link(app.config["SECRET_KEY"], token, now=DUE)
    assert (claims.checkin_id, claims.patient_id) == (two_hours.id, treatment.patient_id)
    assert segments(text.body) == 1
    assert "Reply STOP" in text.body


def test_a_text_carries_no_health_data(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    texted_patient(session)

    dispatch_due_checkins(texting_worker, DUE)

    [text] = sms.texts
    body = text.body.split("http")[0].lower()
    assert not [word for word in HEALTH_WORDS if word in body]


def test_a_texted_prompt_is_recorded_as_sent_with_the_message_sid(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)

    dispatch_due_checkins(texting_worker, DUE)

    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.messaged_at) == ("sent", DUE)
    [queued, sent] = ledger(session, two_hours.id)
    assert queued[0] == "queued"
    assert sent[:2] == ("sent", "sms")
    assert sent[2] is not None
    assert re.fullmatch(r"message SM[0-9a-f]{32}", sent[2])


def outbound_to(base_url: str, purpose: str = PROMPT) -> Outbound:
    """A check-in text of this purpose whose link starts with ``base_url``."""
    token = checkin_link_token("s", checkin_id=123456, patient_id=9876, expires_at=DUE, version=3)
    link = f"{base_url}/checkin/123456#link={token}"
    return Outbound(123456, purpose, "sms", (SmsAddress(MOBILE, link),), claimed=None)


@pytest.mark.parametrize("purpose", [PROMPT, REMINDER])
@pytest.mark.parametrize(
    "base_url",
    ["https://c.example", "https://checkins.harbour-physio.example.org", "https://x" * 3],
)
def test_a_text_takes_the_longest_wording_that_fits_one_segment(
    base_url: str, purpose: str
) -> None:
    item = outbound_to(base_url, purpose)

    text = sms_text(item)

    assert item.addresses[0].link in text
    fits = segments(text) == 1
    assert fits or len(item.addresses[0].link) > 140  # only a link that long cannot fit
    if fits and len(base_url) < 20:
        assert len(text) > 100  # a short address leaves room for the fuller wording


def test_a_link_token_is_short_enough_for_a_text() -> None:
    token = checkin_link_token(
        "secret", checkin_id=10**9, patient_id=10**8, expires_at=DUE, version=99
    )
    assert len(token) <= 45


def test_a_link_token_of_the_earlier_form_is_still_read() -> None:
    from itsdangerous import URLSafeSerializer

    expires = int((DUE + timedelta(hours=2)).timestamp())
    earlier = "link." + URLSafeSerializer("secret", salt="checkin-link").dumps(
        {"c": 5, "p": 7, "e": expires, "v": 2}
    )
    claims = read_checkin_link("secret", earlier, now=DUE)
    assert (claims.checkin_id, claims.patient_id, claims.version) == (5, 7, 2)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # the extension table's characters take two places
        ("{" * 81, 2),
        ("é" * 160, 1),  # é is in the GSM alphabet
        ("ê" * 70, 1),  # ê is not: the text goes as UCS-2
        ("ê" * 71, 2),
        ("😀" * 35, 1),  # two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_segments_are_counted_as_the_networks_count_them(text: str, count: int) -> None:
    assert segments(text) == count


# --- the provider's answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        refused(500, 20500, "Internal Server Error"),
        refused(503, 20503, "Service Unavailable"),
        refused(429, 20429, "Too Many Requests"),
    ],
    ids=["500", "503", "429"],
)
def test_a_failure_worth_retrying_is_tried_again_later_then_sent(
    texting_worker: Worker, session: Session, sms: SmsService, answer: object
) -> None:
    treatment = texted_patient(session)
    sms.answer(MOBILE, answer)  # type: ignore[arg-type]

    dispatch_due_checkins(texting_worker, DUE)

    two_hours = checkin(session, treatment, "2h")
    assert two_hours.status == "scheduled"
    assert two_hours.next_attempt_at is not None
    assert two_hours.next_attempt_at > DUE
    assert [kind for kind, *_ in ledger(session, two_hours.id)] == ["queued", "failed", "retry"]

    dispatch_due_checkins(texting_worker, two_hours.next_attempt_at)

    assert [text.answered for text in sms.texts] == [answer.status, 201]  # type: ignore[attr-defined]
    assert checkin(session, treatment, "2h").status == "sent"


def test_a_retry_after_is_honoured(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    sms.answer(MOBILE, refused(429, 20429, "Too Many Requests", **{"Retry-After": "600"}))

    dispatch_due_checkins(texting_worker, DUE)

    next_attempt = checkin(session, treatment, "2h").next_attempt_at
    assert next_attempt is not None
    assert next_attempt >= DUE + timedelta(seconds=600)


def test_no_answer_from_the_provider_is_tried_again_later(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    unreachable = replace(
        texting_worker, texts=replace(texting_worker.texts, api_base="http://127.0.0.1:9")
    )

    dispatch_due_checkins(unreachable, DUE)

    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.next_attempt_at is not None) == ("scheduled", True)
    assert ledger(session, two_hours.id)[1][:2] == ("failed", "sms")


@pytest.mark.parametrize(
    "answer",
    [
        refused(400, 21211, "The 'To' number is not a valid phone number."),
        refused(400, 21614, "'To' number is not a valid mobile number"),
        refused(403, 21408, "Permission to send an SMS has not been enabled for the region"),
    ],
    ids=["invalid number", "not a mobile", "region not enabled"],
)
def test_a_refusal_is_not_retried(
    texting_worker: Worker, session: Session, sms: SmsService, answer: object
) -> None:
    treatment = texted_patient(session)
    sms.answer(MOBILE, answer)  # type: ignore[arg-type]

    dispatch_due_checkins(texting_worker, DUE)
    dispatch_due_checkins(texting_worker, DUE + timedelta(hours=1))

    assert len(sms.texts) == 1
    two_hours = checkin(session, treatment, "2h")
    assert two_hours.next_attempt_at is None
    [_, failed, gave_up] = ledger(session, two_hours.id)
    assert failed[0] == "failed"
    assert failed[2] is not None
    assert failed[2].startswith(str(answer.body["code"]))  # type: ignore[attr-defined]
    assert gave_up[0] == "gave_up"


def test_an_unsubscribed_recipient_is_recorded_as_opted_out_and_not_texted_again(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    sms.answer(MOBILE, refused(400, 21610, "Attempt to send to unsubscribed recipient"))

    dispatch_due_checkins(texting_worker, DUE)
    dispatch_due_checkins(texting_worker, NOW + timedelta(hours=24))  # the next check-in

    assert len(sms.texts) == 1
    session.expire_all()
    patient = session.get_one(Patient, treatment.patient_id)
    assert patient.sms_opted_out_at == DUE
    audit = session.scalars(select(AuditEvent).filter_by(action="patient.sms_opted_out")).one()
    assert audit.target == f"patient:{patient.id}"


def test_an_opted_out_recipient_is_reached_by_the_next_channel_on_the_next_pass(
    texting_worker: Worker, session: Session, sms: SmsService, mailbox: Mailbox
) -> None:
    treatment = texted_patient(session, email="pat@example.org", channel_order=["sms", "email"])
    sms.answer(MOBILE, refused(400, 21610, "Attempt to send to unsubscribed recipient"))

    dispatch_due_checkins(texting_worker, DUE)
    assert checkin(session, treatment, "2h").next_attempt_at == DUE  # no back-off
    dispatch_due_checkins(texting_worker, DUE)

    assert [message["To"] for message in mailbox.messages] == ["pat@example.org"]
    assert checkin(session, treatment, "2h").status == "sent"


def test_a_text_that_fails_past_its_last_attempt_gives_up(
    texting_worker: Worker, session: Session, sms: SmsService
) -> None:
    treatment = texted_patient(session)
    attempts = texting_worker.app.config["RETRY_MAX_ATTEMPTS"]
    sms.answer(MOBILE, *[refused(500, 20500, "Internal Server Error")] * attempts)

    moment = DUE
    for _ in range(attempts):
        dispatch_due_checkins(texting_worker, moment)
        moment = checkin(session, treatment, "2h").next_attempt_at or moment

    two_hours: CheckIn = checkin(session, treatment, "2h")
    assert len(sms.texts) == attempts
    assert (two_hours.status, two_hours.next_attempt_at) == ("scheduled", None)


def test_the_provider_adapter_is_configured_only_with_an_account() -> None:
    assert not SmsProvider("", "", "").is_configured
    assert not SmsProvider(ACCOUNT_SID, "", FROM).is_configured
    assert SmsProvider(ACCOUNT_SID, AUTH_TOKEN, FROM).is_configured
