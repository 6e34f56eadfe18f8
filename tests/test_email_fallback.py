"""E-mail when push cannot reach: no subscription, a push not shown in time, and the signed link.

Mail goes to a local SMTP server (``mailbox``); worker passes run at fixed times, except where a
link must be used through the API, whose clock is the wall clock.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from jobs.tasks import Worker, dispatch_due_checkins, send_email_fallbacks
from server.errors import Unauthorized
from server.models import CheckIn, Clinician, Treatment
from server.services.answers import answer_checkin
from server.services.links import LinkClaims, checkin_link_token, read_checkin_link
from server.services.mail import Mailer
from server.services.questions import questions_for
from tests.conftest import Mailbox
from tests.factories import (
    NOW,
    browser_subscription,
    checkin_for,
    delivery_ledger,
    enrolled_headers,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    make_treated_patient,
    make_treatment,
)
from tests.http import assert_rejected
from tests.push_service import PushService, Subscriber
from tests.test_dispatch import checkin, subscribe_local

EMAIL = "pat@example.org"
DUE = NOW + timedelta(hours=2)  # the IMS '2h' check-in opens at T0 + 2 h and closes at T0 + 4 h
SECRET = "a-secret-for-link-tests"
SIX_HOURS = {"soreness": 4, "bruise_bleed": "none", "rf_breath_chest": False, "rf_neuro": False}


def text_of(message: Message) -> str:
    """The plain-text body of a received message, transfer encoding undone."""
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_token(app: Flask, message: Message, checkin_id: int) -> str:
    """The link token an e-mail carries for a check-in."""
    link = f"{app.config['PUBLIC_BASE_URL']}/checkin/{checkin_id}#link="
    found = re.search(re.escape(link) + r"(\S+)", text_of(message))
    assert found is not None, text_of(message)
    return found.group(1)


def fallback_delay(worker: Worker) -> timedelta:
    """How long a shown acknowledgement may take before the prompt is e-mailed."""
    return timedelta(seconds=worker.app.config["EMAIL_FALLBACK_DELAY_S"])


def unsubscribed_patient(session: Session) -> Treatment:
    """A patient with an e-mail address and no push subscription, treated (IMS) at NOW."""
    treatment = make_treated_patient(session, email=EMAIL)
    session.commit()
    return treatment


def pushed_prompt(
    worker: Worker, session: Session, push: PushService, *, email: str | None = EMAIL
) -> tuple[Treatment, Subscriber]:
    """A subscribed patient whose '2h' prompt the push service accepted at DUE."""
    treatment = make_treated_patient(session, email=email)
    browser = push.subscribe()
    subscribe_local(session, treatment.patient, browser)
    session.commit()
    dispatch_due_checkins(worker, DUE)
    return treatment, browser


# --- no subscription: e-mail at due time -------------------------------------------------------


def test_patient_without_subscription_is_emailed_at_due_time(
    worker: Worker, session: Session, mailbox: Mailbox
) -> None:
    unsubscribed_patient(session)

    assert dispatch_due_checkins(worker, DUE - timedelta(seconds=1)) == 0
    dispatch_due_checkins(worker, DUE)

    assert [message["To"] for message in mailbox.messages] == [EMAIL]


def test_prompt_email_has_a_checkin_subject(
    worker: Worker, session: Session, mailbox: Mailbox
) -> None:
    unsubscribed_patient(session)

    dispatch_due_checkins(worker, DUE)

    [message] = mailbox.messages
    assert message["Subject"] == "Time for your check-in"


def test_prompt_email_links_to_the_checkin_with_a_link_token(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask
) -> None:
    treatment = unsubscribed_patient(session)

    dispatch_due_checkins(worker, DUE)

    [message] = mailbox.messages
    token = link_token(app, message, checkin(session, treatment, "2h").id)
    assert token.startswith("link.")


def test_prompt_email_carries_no_health_data(
    worker: Worker, session: Session, mailbox: Mailbox
) -> None:
    treatment = unsubscribed_patient(session)

    dispatch_due_checkins(worker, DUE)

    [message] = mailbox.messages
    text = f"{message['Subject']}\n{text_of(message)}"
    two_hours = checkin(session, treatment, "2h")
    questions = questions_for(session, two_hours)
    assert [item["code"] for item in questions if item["code"] in text] == []
    assert [item["text"] for item in questions if item["text"] in text] == []
    assert "IMS" not in text
    assert "intramuscular" not in text.lower()


def test_emailed_prompt_marks_the_checkin_sent(worker: Worker, session: Session) -> None:
    treatment = unsubscribed_patient(session)

    dispatch_due_checkins(worker, DUE)

    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.sent_at, two_hours.messaged_at) == ("sent", DUE, DUE)


def test_emailed_prompt_is_recorded_in_the_ledger(
    worker: Worker, session: Session, client: FlaskClient
) -> None:
    treatment = unsubscribed_patient(session)

    dispatch_due_checkins(worker, DUE)

    ledger = delivery_ledger(client, session, checkin(session, treatment, "2h").id)
    assert [(event["kind"], event["channel"]) for event in ledger] == [
        ("queued", None),
        ("sent", "email"),
    ]


# --- pushed but not shown: the fallback --------------------------------------------------------


def test_unshown_push_is_emailed_after_the_fallback_delay(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    pushed_prompt(worker, session, push)

    assert send_email_fallbacks(worker, DUE + fallback_delay(worker)) == 1

    assert [message["To"] for message in mailbox.messages] == [EMAIL]


def test_fallback_email_links_to_the_pushed_checkin(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox, app: Flask
) -> None:
    treatment, _ = pushed_prompt(worker, session, push)

    send_email_fallbacks(worker, DUE + fallback_delay(worker))

    [message] = mailbox.messages
    assert link_token(app, message, checkin(session, treatment, "2h").id)


def test_fallback_email_is_recorded_as_emailed(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, _ = pushed_prompt(worker, session, push)
    emailed_at = DUE + fallback_delay(worker)

    send_email_fallbacks(worker, emailed_at)

    assert checkin(session, treatment, "2h").messaged_at == emailed_at


def test_unshown_push_is_not_emailed_before_the_delay(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    pushed_prompt(worker, session, push)

    assert send_email_fallbacks(worker, DUE + fallback_delay(worker) - timedelta(seconds=1)) == 0
    assert mailbox.messages == []


def test_shown_push_is_not_emailed(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox, client: FlaskClient
) -> None:
    treatment, _ = pushed_prompt(worker, session, push)
    clinician = session.scalar(select(Clinician))
    assert clinician is not None
    headers = enrolled_headers(session, clinician, treatment.patient)
    two_hours_id = checkin(session, treatment, "2h").id
    shown = client.post(
        f"/api/v1/me/checkins/{two_hours_id}/delivery", headers=headers, json={"event": "shown"}
    )
    assert shown.status_code == 204

    assert send_email_fallbacks(worker, DUE + fallback_delay(worker)) == 0
    assert mailbox.messages == []


def test_answered_push_is_not_emailed(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    treatment, _ = pushed_prompt(worker, session, push)
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin(session, treatment, "2h").id,
        client_id=uuid4(),
        answers={"soreness": 2, "rf_faint": False, "rf_breath_chest": False, "rf_neuro": False},
        note=None,
        now=DUE + timedelta(minutes=5),
    )
    session.commit()

    assert send_email_fallbacks(worker, DUE + fallback_delay(worker)) == 0
    assert mailbox.messages == []


def test_fallback_email_is_sent_only_once(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    pushed_prompt(worker, session, push)

    send_email_fallbacks(worker, DUE + fallback_delay(worker))
    send_email_fallbacks(worker, DUE + fallback_delay(worker) + timedelta(minutes=30))

    assert len(mailbox.messages) == 1


def test_unshown_push_without_email_address_is_not_emailed(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    pushed_prompt(worker, session, push, email=None)

    assert send_email_fallbacks(worker, DUE + fallback_delay(worker)) == 0
    assert mailbox.messages == []


def test_checkin_push_gave_up_on_is_emailed_by_the_fallback(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox
) -> None:
    treatment = make_treated_patient(session, email=EMAIL)
    browser = push.subscribe()
    subscribe_local(session, treatment.patient, browser)
    session.commit()
    push.answer(browser, 413)  # no retry for this one
    dispatch_due_checkins(worker, DUE)

    assert send_email_fallbacks(worker, DUE) == 1
    assert [message["To"] for message in mailbox.messages] == [EMAIL]


# --- the link an e-mail carries ----------------------------------------------------------------


def emailed_open_checkin(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask
) -> tuple[CheckIn, dict[str, str]]:
    """A check-in open by the wall clock, e-mailed by a worker pass; its link's headers."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, email=EMAIL, quiet_hours=None)
    open_checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()
    dispatch_due_checkins(worker, datetime.now(UTC))
    [message] = mailbox.messages
    return open_checkin, {"Authorization": f"Bearer {link_token(app, message, open_checkin.id)}"}


def test_email_link_opens_its_checkin(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask, client: FlaskClient
) -> None:
    open_checkin, headers = emailed_open_checkin(worker, session, mailbox, app)

    opened = client.get(f"/api/v1/me/checkins/{open_checkin.id}", headers=headers)

    assert opened.status_code == 200, opened.get_json()
    assert opened.get_json()["id"] == open_checkin.id


def test_email_link_lets_the_patient_answer(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask, client: FlaskClient
) -> None:
    open_checkin, headers = emailed_open_checkin(worker, session, mailbox, app)

    answered = client.post(
        f"/api/v1/me/checkins/{open_checkin.id}/response",
        headers=headers,
        json={"client_id": str(uuid4()), "answers": SIX_HOURS},
    )

    assert answered.status_code == 201, answered.get_json()


def test_email_link_does_not_open_another_checkin_of_the_patient(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask, client: FlaskClient
) -> None:
    open_checkin, headers = emailed_open_checkin(worker, session, mailbox, app)
    other = checkin_for(open_checkin.treatment, "24h")

    response = client.get(f"/api/v1/me/checkins/{other.id}", headers=headers)

    assert response.status_code == 404


def test_email_link_is_refused_once_the_window_has_closed(
    session: Session, app: Flask, client: FlaskClient
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, email=EMAIL, quiet_hours=None)
    open_checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()
    token = checkin_link_token(
        app.config["SECRET_KEY"],
        checkin_id=open_checkin.id,
        patient_id=patient.id,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
        version=0,
    )

    response = client.get(
        f"/api/v1/me/checkins/{open_checkin.id}", headers={"Authorization": f"Bearer {token}"}
    )

    assert_rejected(response, "authorization", status=401)


def closed_checkin_link(session: Session, app: Flask) -> tuple[CheckIn, dict[str, str]]:
    """A dry-needling 6h check-in whose window closed 20 hours ago, and its e-mailed link."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, email=EMAIL, quiet_hours=None)
    treatment = make_treatment(
        session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=30)
    )
    closed = checkin_for(treatment, "6h")
    session.commit()
    token = checkin_link_token(
        app.config["SECRET_KEY"],
        checkin_id=closed.id,
        patient_id=patient.id,
        expires_at=closed.expires_at,
        version=0,
    )
    return closed, {"Authorization": f"Bearer {token}"}


def answer_through(
    client: FlaskClient, checkin: CheckIn, headers: dict[str, str], **fields: Any
) -> TestResponse:
    """Send the 6h answers through an e-mailed link, with ``fields`` added."""
    body = {"client_id": str(uuid4()), "answers": SIX_HOURS, **fields}
    return client.post(f"/api/v1/me/checkins/{checkin.id}/response", headers=headers, json=body)


def test_answer_given_in_the_window_through_a_link_is_taken_after_the_link_closed(
    session: Session, app: Flask, client: FlaskClient
) -> None:
    closed, headers = closed_checkin_link(session, app)
    answered_at = closed.due_at + timedelta(hours=1)  # given offline, sent 20 hours later

    response = answer_through(client, closed, headers, answered_at=answered_at.isoformat())

    assert response.status_code == 201, response.get_json()


def test_answer_given_after_the_window_through_a_late_link_is_refused_by_the_window(
    session: Session, app: Flask, client: FlaskClient
) -> None:
    closed, headers = closed_checkin_link(session, app)

    response = answer_through(client, closed, headers)

    assert response.status_code == 409, response.get_json()  # the link let it in; not the window


def test_closed_link_still_does_not_open_its_checkin(
    session: Session, app: Flask, client: FlaskClient
) -> None:
    closed, headers = closed_checkin_link(session, app)

    response = client.get(f"/api/v1/me/checkins/{closed.id}", headers=headers)

    assert_rejected(response, "authorization", status=401)


def test_link_takes_answers_no_longer_than_the_offline_grace(
    session: Session, app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "OFFLINE_ANSWER_GRACE_HOURS", 12)  # closed 20 h ago
    closed, headers = closed_checkin_link(session, app)
    answered_at = closed.due_at + timedelta(hours=1)

    response = answer_through(client, closed, headers, answered_at=answered_at.isoformat())

    assert_rejected(response, "authorization", status=401)


def test_link_token_with_grace_outlives_its_checkin_by_the_grace() -> None:
    closes = NOW + timedelta(hours=4)
    token = checkin_link_token(SECRET, checkin_id=3, patient_id=2, expires_at=closes, version=4)
    grace = timedelta(days=7)

    assert read_checkin_link(SECRET, token, now=closes + grace / 2, grace=grace) == LinkClaims(
        2, 3, 4
    )
    with pytest.raises(Unauthorized):
        read_checkin_link(SECRET, token, now=closes + grace, grace=grace)


def test_link_token_expires_when_its_checkin_closes() -> None:
    closes = NOW + timedelta(hours=4)
    token = checkin_link_token(SECRET, checkin_id=3, patient_id=2, expires_at=closes, version=4)

    assert read_checkin_link(SECRET, token, now=closes - timedelta(seconds=1)) == LinkClaims(
        2, 3, 4
    )
    with pytest.raises(Unauthorized):
        read_checkin_link(SECRET, token, now=closes)


def test_tampered_email_link_is_refused(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask, client: FlaskClient
) -> None:
    open_checkin, headers = emailed_open_checkin(worker, session, mailbox, app)
    token = headers["Authorization"].removeprefix("Bearer ")
    flipped = "A" if token[-5] != "A" else "B"  # inside the signature, where every bit counts
    tampered = f"{token[:-5]}{flipped}{token[-4:]}"

    response = client.get(
        f"/api/v1/me/checkins/{open_checkin.id}", headers={"Authorization": f"Bearer {tampered}"}
    )

    assert_rejected(response, "authorization", status=401)


def test_email_link_cannot_register_a_push_subscription(
    worker: Worker, session: Session, mailbox: Mailbox, app: Flask, client: FlaskClient
) -> None:
    _, headers = emailed_open_checkin(worker, session, mailbox, app)

    response = client.post(
        "/api/v1/me/push-subscriptions", headers=headers, json=browser_subscription()
    )

    assert_rejected(response, "authorization", status=401)


# --- the mail server fails ---------------------------------------------------------------------


@pytest.fixture
def worker_with_broken_smtp(worker: Worker) -> Worker:
    """The same worker, but its mail goes to a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    mailer = Mailer(host="127.0.0.1", port=closed_port, sender="clinic@example.org", timeout_s=2)
    return Worker(app=worker.app, sender=worker.sender, mailer=mailer, rng=worker.rng)


def test_smtp_failure_is_recorded_as_failed(
    worker_with_broken_smtp: Worker, session: Session, client: FlaskClient
) -> None:
    treatment = unsubscribed_patient(session)

    dispatch_due_checkins(worker_with_broken_smtp, DUE)

    ledger = delivery_ledger(client, session, checkin(session, treatment, "2h").id)
    [failed] = [event for event in ledger if event["kind"] == "failed"]
    assert failed["channel"] == "email"
    assert failed["detail"]


def test_smtp_failure_is_retried(
    worker_with_broken_smtp: Worker, worker: Worker, session: Session, mailbox: Mailbox
) -> None:
    treatment = unsubscribed_patient(session)
    dispatch_due_checkins(worker_with_broken_smtp, DUE)
    retry_at = checkin(session, treatment, "2h").next_attempt_at
    assert retry_at is not None
    assert retry_at > DUE

    dispatch_due_checkins(worker, retry_at)

    assert [message["To"] for message in mailbox.messages] == [EMAIL]
    assert checkin(session, treatment, "2h").messaged_at == retry_at
