"""What the worker does with each answer of a push service: 201, 404/410, 413, 429, 5xx, silence.

Every pass runs at a fixed ``now``; the local push service decrypts what it receives and answers
as each test scripts it. The ledger is read as a clinician reads it, through the API.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from datetime import time as clock
from email.utils import formatdate
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins, send_reminders
from server.models import PushSubscription, Treatment
from server.services.answers import answer_checkin
from tests.conftest import Mailbox
from tests.factories import NOW, delivery_ledger, make_treated_patient
from tests.push_service import PushService, Subscriber
from tests.test_dispatch import checkin, subscribe_local

VANCOUVER = ZoneInfo("America/Vancouver")
DUE = NOW + timedelta(hours=2)  # the IMS '2h' check-in opens at T0 + 2 h and closes at T0 + 4 h
CLOSES = NOW + timedelta(hours=4)


def subscribed_patient(
    session: Session, push: PushService, **patient_fields: Any
) -> tuple[Treatment, Subscriber]:
    """A patient with one browser at the local push service, treated (IMS) at NOW."""
    treatment = make_treated_patient(session, **patient_fields)
    browser = push.subscribe()
    subscribe_local(session, treatment.patient, browser)
    session.commit()
    return treatment, browser


def ledger_steps(
    client: FlaskClient, session: Session, treatment: Treatment, slot: str = "2h"
) -> list[tuple[str, int | None]]:
    """The (kind, status code) of each ledger row of one of the treatment's check-ins."""
    checkin_id = checkin(session, treatment, slot).id
    return [
        (event["kind"], event["status_code"])
        for event in delivery_ledger(client, session, checkin_id)
    ]


def subscription_of(session: Session, browser: Subscriber) -> PushSubscription:
    """The stored subscription of a browser of the local push service."""
    session.expire_all()
    return session.scalars(select(PushSubscription).filter_by(endpoint=browser.endpoint)).one()


# --- 201 ---------------------------------------------------------------------------------------


def test_accepted_push_marks_the_checkin_sent(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, _ = subscribed_patient(session, push)

    dispatch_due_checkins(worker, DUE)

    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.sent_at) == ("sent", DUE)


def test_accepted_push_is_recorded_in_the_ledger(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, _ = subscribed_patient(session, push)

    dispatch_due_checkins(worker, DUE)

    assert ledger_steps(client, session, treatment) == [("queued", None), ("sent", 201)]


# --- 404 and 410: the subscription is gone -----------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_disabled(
    worker: Worker, session: Session, push: PushService, status: int
) -> None:
    _, browser = subscribed_patient(session, push)
    push.answer(browser, status)

    dispatch_due_checkins(worker, DUE)

    assert subscription_of(session, browser).disabled_at == DUE


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_recorded_failed_with_its_status(
    worker: Worker, session: Session, push: PushService, client: FlaskClient, status: int
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, status)

    dispatch_due_checkins(worker, DUE)

    assert ("failed", status) in ledger_steps(client, session, treatment)


def test_gone_subscription_is_not_contacted_again(
    worker: Worker, session: Session, push: PushService
) -> None:
    _, browser = subscribed_patient(session, push)
    push.answer(browser, 410)

    dispatch_due_checkins(worker, DUE)
    dispatch_due_checkins(worker, NOW + timedelta(hours=6))

    assert [message.answered for message in push.for_subscriber(browser)] == [410]


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_without_email_gives_up_the_checkin(
    worker: Worker, session: Session, push: PushService, client: FlaskClient, status: int
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, status)

    dispatch_due_checkins(worker, DUE)
    dispatch_due_checkins(worker, DUE + timedelta(seconds=30))

    assert checkin(session, treatment, "2h").next_attempt_at is None
    assert ledger_steps(client, session, treatment)[-1] == ("gave_up", None)


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_with_email_sends_the_prompt_by_email_on_the_next_pass(
    worker: Worker, session: Session, push: PushService, mailbox: Mailbox, status: int
) -> None:
    _, browser = subscribed_patient(session, push, email="pat@example.org")
    push.answer(browser, status)

    dispatch_due_checkins(worker, DUE)
    dispatch_due_checkins(worker, DUE + timedelta(seconds=30))

    assert [message["To"] for message in mailbox.messages] == ["pat@example.org"]


def test_gone_subscription_with_email_marks_the_checkin_sent_by_email(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push, email="pat@example.org")
    push.answer(browser, 410)

    dispatch_due_checkins(worker, DUE)
    dispatch_due_checkins(worker, DUE + timedelta(seconds=30))

    two_hours = checkin(session, treatment, "2h")
    messaged_at = DUE + timedelta(seconds=30)
    assert (two_hours.status, two_hours.messaged_at) == ("sent", messaged_at)


# --- 413: our bug, not the push service's ------------------------------------------------------


def test_payload_too_large_is_not_retried(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 413)

    dispatch_due_checkins(worker, DUE)

    assert checkin(session, treatment, "2h").next_attempt_at is None
    assert ledger_steps(client, session, treatment) == [
        ("queued", None),
        ("failed", 413),
        ("gave_up", None),
    ]


def test_payload_too_large_is_logged_as_an_error(
    worker: Worker, session: Session, push: PushService, caplog: pytest.LogCaptureFixture
) -> None:
    _, browser = subscribed_patient(session, push)
    push.answer(browser, 413)

    with caplog.at_level(logging.ERROR):
        dispatch_due_checkins(worker, DUE)

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any("413" in record.getMessage() for record in errors), caplog.text


# --- 429: rate limited -------------------------------------------------------------------------


def test_rate_limited_push_waits_at_least_retry_after(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After="600")

    dispatch_due_checkins(worker, DUE)

    next_attempt_at = checkin(session, treatment, "2h").next_attempt_at
    assert next_attempt_at is not None
    assert next_attempt_at >= DUE + timedelta(seconds=600)


def test_retry_after_as_a_date_is_honoured(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After=formatdate(time.time() + 900, usegmt=True))

    dispatch_due_checkins(worker, DUE)

    next_attempt_at = checkin(session, treatment, "2h").next_attempt_at
    assert next_attempt_at is not None  # the date is 900 s from the real clock's now
    assert next_attempt_at >= DUE + timedelta(seconds=850)


def test_retry_after_longer_than_the_window_gives_up_on_push(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After=str(24 * 3600))  # libcurl reports it as 6 h

    dispatch_due_checkins(worker, DUE)

    # the window closes two hours after it opens: no retry inside it
    assert checkin(session, treatment, "2h").next_attempt_at is None
    assert ledger_steps(client, session, treatment)[-2:] == [("failed", 429), ("gave_up", None)]


@pytest.mark.parametrize("value", ["soon", "", "x, 1 Jan 99999999999 0:0:0 GMT", "-5"])
def test_retry_after_that_is_no_number_nor_date_leaves_the_backoff(
    worker: Worker, session: Session, push: PushService, value: str
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After=value)

    dispatch_due_checkins(worker, DUE)

    next_attempt_at = checkin(session, treatment, "2h").next_attempt_at
    base = worker.app.config["RETRY_BASE_S"]
    assert next_attempt_at is not None
    assert (
        DUE + timedelta(seconds=base / 2) <= next_attempt_at <= DUE + timedelta(seconds=base * 1.5)
    )


def test_rate_limited_push_is_recorded_failed_then_retry(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After="600")

    dispatch_due_checkins(worker, DUE)

    assert ledger_steps(client, session, treatment) == [
        ("queued", None),
        ("failed", 429),
        ("retry", None),
    ]


def test_rate_limited_push_is_sent_when_retry_after_has_passed(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After="600")
    dispatch_due_checkins(worker, DUE)
    retry_at = checkin(session, treatment, "2h").next_attempt_at
    assert retry_at is not None

    dispatch_due_checkins(worker, retry_at)

    assert checkin(session, treatment, "2h").status == "sent"
    assert [message.answered for message in push.for_subscriber(browser)] == [429, 201]
    assert ledger_steps(client, session, treatment)[-1] == ("sent", 201)


def test_rate_limited_push_is_not_retried_before_retry_after(
    worker: Worker, session: Session, push: PushService
) -> None:
    _, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After="600")
    dispatch_due_checkins(worker, DUE)

    assert dispatch_due_checkins(worker, DUE + timedelta(seconds=599)) == 0
    assert len(push.for_subscriber(browser)) == 1


# --- 5xx: exponential backoff, then give up ----------------------------------------------------


def test_server_error_is_retried_with_exponential_backoff(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 500, 500, 500, 500)
    base_s = worker.app.config["RETRY_BASE_S"]

    moment, waits = DUE, []
    for _ in range(4):
        dispatch_due_checkins(worker, moment)
        next_attempt_at = checkin(session, treatment, "2h").next_attempt_at
        assert next_attempt_at is not None
        waits.append((next_attempt_at - moment).total_seconds())
        moment = next_attempt_at

    for attempt, wait in enumerate(waits, start=1):
        nominal = base_s * 2 ** (attempt - 1)
        assert 0.5 * nominal <= wait <= 1.5 * nominal, (attempt, waits)
    assert waits[-1] > waits[0]


def test_server_error_gives_up_after_the_configured_attempts(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    max_attempts = worker.app.config["RETRY_MAX_ATTEMPTS"]
    push.answer(browser, *[500] * max_attempts)

    moment: datetime | None = DUE
    while moment is not None:
        dispatch_due_checkins(worker, moment)
        moment = checkin(session, treatment, "2h").next_attempt_at

    assert len(push.for_subscriber(browser)) == max_attempts
    kinds = ledger_steps(client, session, treatment)
    assert kinds.count(("failed", 500)) == max_attempts
    assert kinds[-1] == ("gave_up", None)


def test_every_retried_attempt_is_queued_in_the_ledger(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 503, 502)

    moment: datetime | None = DUE
    while moment is not None:
        dispatch_due_checkins(worker, moment)
        moment = checkin(session, treatment, "2h").next_attempt_at

    assert ledger_steps(client, session, treatment) == [
        ("queued", None),
        ("failed", 503),
        ("retry", None),
        ("queued", None),
        ("failed", 502),
        ("retry", None),
        ("queued", None),
        ("sent", 201),
    ]


# --- no answer in time -------------------------------------------------------------------------


def slow_attempt(worker: Worker, session: Session, push: PushService) -> Treatment:
    """A prompt sent to a push service slower than the worker's 1 s timeout; returns once the
    late message has landed, so it cannot spill into the next test."""
    treatment, browser = subscribed_patient(session, push)
    push.delay_s = 1.5
    dispatch_due_checkins(worker, DUE)
    deadline = time.monotonic() + 5.0
    while not push.for_subscriber(browser) and time.monotonic() < deadline:
        time.sleep(0.05)  # the push service is still sleeping on the timed-out request
    push.delay_s = 0.0
    return treatment


def test_slow_push_service_is_recorded_failed_without_status_code(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment = slow_attempt(worker, session, push)

    assert ledger_steps(client, session, treatment) == [
        ("queued", None),
        ("failed", None),
        ("retry", None),
    ]


def test_slow_push_service_is_retried(worker: Worker, session: Session, push: PushService) -> None:
    treatment = slow_attempt(worker, session, push)
    retry_at = checkin(session, treatment, "2h").next_attempt_at
    assert retry_at is not None
    assert retry_at > DUE

    dispatch_due_checkins(worker, retry_at)

    assert checkin(session, treatment, "2h").status == "sent"


# --- when a retry may happen -------------------------------------------------------------------


def test_retry_falling_in_quiet_hours_moves_to_their_end(
    worker: Worker, session: Session, push: PushService
) -> None:
    # treated at 21:00 in Vancouver: the '24h' check-in opens 21:00 the next day, closes 09:00 the
    # day after; a 429 at 21:55 asks for 10 minutes, which fall in quiet hours (22:00-08:00)
    treated_at = datetime(2026, 11, 24, 21, 0, tzinfo=VANCOUVER)
    quiet_hours = {"start": clock(22, 0), "end": clock(8, 0)}
    treatment, browser = subscribed_patient(
        session, push, treated_at=treated_at, quiet_hours=quiet_hours
    )
    day_one = checkin(session, treatment, "24h")
    assert day_one.due_at.astimezone(VANCOUVER) == datetime(2026, 11, 25, 21, 0, tzinfo=VANCOUVER)
    push.answer(browser, 429, Retry_After="600")

    dispatch_due_checkins(worker, day_one.due_at + timedelta(minutes=55))

    next_attempt_at = checkin(session, treatment, "24h").next_attempt_at
    assert next_attempt_at is not None
    assert next_attempt_at.astimezone(VANCOUVER) == datetime(2026, 11, 26, 8, 0, tzinfo=VANCOUVER)


def test_retry_after_the_window_closes_gives_up(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 429, Retry_After="600")

    dispatch_due_checkins(worker, CLOSES - timedelta(minutes=5))

    assert checkin(session, treatment, "2h").next_attempt_at is None
    assert ledger_steps(client, session, treatment)[-1] == ("gave_up", None)


# --- several subscriptions ---------------------------------------------------------------------


def two_browsers_one_dead(
    session: Session, push: PushService
) -> tuple[Treatment, Subscriber, Subscriber]:
    """A subscribed patient with a second browser whose push service answers 410."""
    treatment, live = subscribed_patient(session, push)
    dead = push.subscribe()
    subscribe_local(session, treatment.patient, dead)
    session.commit()
    push.answer(dead, 410)
    return treatment, live, dead


def test_one_live_subscription_is_enough_to_send(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, live, _ = two_browsers_one_dead(session, push)

    dispatch_due_checkins(worker, DUE)

    assert checkin(session, treatment, "2h").status == "sent"
    assert [message.answered for message in push.for_subscriber(live)] == [201]


def test_dead_subscription_beside_a_live_one_is_disabled(
    worker: Worker, session: Session, push: PushService
) -> None:
    _, live, dead = two_browsers_one_dead(session, push)

    dispatch_due_checkins(worker, DUE)

    assert subscription_of(session, dead).disabled_at == DUE
    assert subscription_of(session, live).disabled_at is None


def test_each_subscription_answer_has_its_own_ledger_row(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, _, _ = two_browsers_one_dead(session, push)

    dispatch_due_checkins(worker, DUE)

    assert sorted(ledger_steps(client, session, treatment)[1:]) == [
        ("failed", 410),
        ("sent", 201),
    ]


# --- what a payload carries --------------------------------------------------------------------


def test_payloads_never_carry_answers_or_item_codes(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    dispatch_due_checkins(worker, DUE)
    note = "sharp burning in the left calf"
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin(session, treatment, "2h").id,
        client_id=uuid4(),
        answers={"soreness": 7, "rf_faint": False, "rf_breath_chest": False, "rf_neuro": False},
        note=note,
        now=DUE + timedelta(minutes=10),
    )
    session.commit()

    dispatch_due_checkins(worker, NOW + timedelta(hours=6))
    send_reminders(worker, NOW + timedelta(hours=7))

    messages = push.for_subscriber(browser)
    assert len(messages) == 3  # the 2 h prompt, the 6 h prompt and its reminder
    item_codes = {code for each in treatment.checkins for code in each.items}
    for message in messages:
        assert set(message.payload) == {"title", "body", "url", "tag", "checkin_id"}
        text = json.dumps(message.payload)
        assert note not in text
        assert not [code for code in item_codes if code in text], text


def test_a_prompt_sent_late_keeps_its_reminder_at_the_protocols_distance(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 503)
    dispatch_due_checkins(worker, DUE)  # fails; retried later
    late = DUE + timedelta(minutes=40)
    dispatch_due_checkins(worker, late)
    two_hours = checkin(session, treatment, "2h")
    assert two_hours.status == "sent"
    assert two_hours.remind_at == late + timedelta(hours=1)  # not DUE + 1 h, minutes away
    assert send_reminders(worker, DUE + timedelta(hours=1)) == 0


def test_a_prompt_sent_too_late_for_its_reminder_gets_none(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = subscribed_patient(session, push)
    push.answer(browser, 503)
    dispatch_due_checkins(worker, DUE)
    dispatch_due_checkins(worker, DUE + timedelta(minutes=70))  # + 1 h is past the window
    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.remind_at) == ("sent", None)
