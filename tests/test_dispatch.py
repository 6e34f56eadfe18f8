"""The worker's prompts and reminders, sent through a real local push service that decrypts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, event, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins, send_reminders
from server.models import (
    CheckIn,
    Clinician,
    DeliveryEvent,
    Patient,
    PushSubscription,
    Treatment,
)
from server.push import USER_AGENT, EndpointPolicy, PushResult, PushSender
from server.services import delivery
from server.services.answers import answer_checkin
from server.services.scheduling import cancel_checkin
from server.services.sql import among
from server.services.subscriptions import subscribe
from tests.factories import NOW, bearer, make_clinician, make_patient, make_treatment
from tests.push_service import PushService, Subscriber

# the push channel, for tests that prepare a batch and record its attempts themselves: only its
# addresses are looked up, nothing is sent through it
PUSH_ONLY = {"push": delivery.WebPushChannel(cast(PushSender, None))}

VANCOUVER = ZoneInfo("America/Vancouver")


def subscribe_local(session: Session, patient: Patient, browser: Subscriber) -> PushSubscription:
    """Register a browser of the local push service for the patient."""
    body = browser.to_json()
    subscription, _ = subscribe(
        session,
        patient=patient,
        endpoint=body["endpoint"],
        p256dh=body["keys"]["p256dh"],
        auth=body["keys"]["auth"],
        expiration_ms=None,
        now=NOW,
        policy=EndpointPolicy(allow_local=True),
    )
    return subscription


def treated_patient(
    session: Session, push: PushService, *, modality: str = "ims", code: str = "P-001"
) -> tuple[Treatment, Subscriber]:
    """A subscribed patient (prompted at any hour) treated at NOW."""
    clinician = session.scalar(select(Clinician)) or make_clinician(session)
    patient = make_patient(session, clinician, code=code, quiet_hours=None)
    browser = push.subscribe()
    subscribe_local(session, patient, browser)
    treatment = make_treatment(session, clinician, patient, modality=modality)
    session.commit()
    return treatment, browser


def checkin(session: Session, treatment: Treatment, slot: str) -> CheckIn:
    session.expire_all()
    found = session.scalar(select(CheckIn).filter_by(treatment_id=treatment.id, slot=slot))
    assert found is not None
    return found


def test_nothing_is_sent_before_the_window_opens(
    worker: Worker, session: Session, push: PushService
) -> None:
    treated_patient(session, push)
    assert dispatch_due_checkins(worker, NOW + timedelta(hours=1, minutes=59)) == 0
    assert push.received == []


def test_prompt_arrives_encrypted_with_only_the_checkin_reference(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    assert dispatch_due_checkins(worker, NOW + timedelta(hours=2)) == 1
    [message] = push.for_subscriber(browser)
    two_hours = checkin(session, treatment, "2h")
    assert message.payload == {
        "title": "Time for your check-in",
        "body": "A few quick questions about how you feel since your visit.",
        "url": f"/checkin/{two_hours.id}",
        "tag": f"checkin-{two_hours.id}",
        "checkin_id": two_hours.id,
    }
    assert message.plaintext_size < 3993


def test_prompt_headers_carry_ttl_to_expiry_high_urgency_and_topic(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2, minutes=30))
    [message] = push.for_subscriber(browser)
    two_hours = checkin(session, treatment, "2h")
    assert message.headers["TTL"] == str(90 * 60)  # the window closes at 4 h
    assert message.headers["Urgency"] == "high"
    assert message.headers["Topic"] == f"checkin-{two_hours.id}"
    assert message.headers["Content-Encoding"] == "aes128gcm"
    assert message.headers["User-Agent"] == USER_AGENT


def test_prompt_never_goes_through_a_proxy_from_the_environment(
    worker: Worker, session: Session, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # would swallow the push if used
    treatment, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2, minutes=30))
    [message] = push.for_subscriber(browser)
    assert message.answered == 201
    assert checkin(session, treatment, "2h").status == "sent"


def four_due_in_batches_of_two(
    worker: Worker, session: Session, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four subscribed patients whose 2h prompts fall due together; the worker takes two at
    a time."""
    monkeypatch.setitem(worker.app.config, "DISPATCH_BATCH", 2)
    for number in range(4):
        treated_patient(session, push, code=f"P-{number}")


def test_next_batch_is_claimed_while_the_previous_ones_pushes_are_out(
    worker: Worker, session: Session, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_due_in_batches_of_two(worker, session, push, monkeypatch)

    assert dispatch_due_checkins(worker, NOW + timedelta(hours=2)) == 4

    kinds = session.scalars(
        select(DeliveryEvent.kind)
        .where(DeliveryEvent.kind.in_(("queued", "sent")))
        .order_by(DeliveryEvent.id)
    ).all()
    # the second batch was queued before the first one's outcome was written
    assert kinds == ["queued"] * 4 + ["sent"] * 4
    assert len(push.received) == 4


def test_a_failure_gives_back_every_batch_the_worker_holds(
    worker: Worker, session: Session, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_due_in_batches_of_two(worker, session, push, monkeypatch)

    def broken_record(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(delivery.pipeline, "record", broken_record)

    with pytest.raises(RuntimeError, match="went away"):
        dispatch_due_checkins(worker, NOW + timedelta(hours=2))

    session.expire_all()
    checkins = session.scalars(select(CheckIn).filter_by(slot="2h")).all()
    assert [checkin.claimed_by for checkin in checkins] == [None] * 4  # both batches released
    assert {checkin.status for checkin in checkins} == {"scheduled"}


def test_prompted_checkin_is_marked_sent_and_not_prompted_again(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    dispatch_due_checkins(worker, NOW + timedelta(hours=2, minutes=5))
    two_hours = checkin(session, treatment, "2h")
    assert (two_hours.status, two_hours.sent_at) == ("sent", NOW + timedelta(hours=2))
    assert len(push.for_subscriber(browser)) == 1


def test_vapid_token_is_signed_once_per_push_service(
    worker: Worker, session: Session, push: PushService
) -> None:
    treated_patient(session, push)
    treated_patient(session, push, code="P-002")
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    dispatch_due_checkins(worker, NOW + timedelta(hours=6))
    assert len(push.received) == 4
    assert worker.sender.signatures == 1
    assert {message.jwt_claims["aud"] for message in push.received} == {push.base_url}


def test_reminder_follows_an_unanswered_prompt_once_with_low_urgency(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    assert send_reminders(worker, NOW + timedelta(hours=2, minutes=59)) == 0
    assert send_reminders(worker, NOW + timedelta(hours=3)) == 1
    assert send_reminders(worker, NOW + timedelta(hours=3, minutes=30)) == 0
    prompt, reminder = push.for_subscriber(browser)
    assert reminder.headers["Urgency"] == "low"
    assert reminder.headers["Topic"] == prompt.headers["Topic"]
    assert reminder.payload["title"] == "Reminder: your check-in"
    assert checkin(session, treatment, "2h").reminded_at == NOW + timedelta(hours=3)


def test_no_reminder_for_an_answered_checkin(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    two_hours = checkin(session, treatment, "2h")
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=two_hours.id,
        client_id=uuid4(),
        answers={"soreness": 3},
        note=None,
        now=NOW + timedelta(hours=2, minutes=10),
    )
    session.commit()
    assert send_reminders(worker, NOW + timedelta(hours=3)) == 0
    assert len(push.for_subscriber(browser)) == 1


def test_no_prompt_or_reminder_for_a_cancelled_checkin(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    cancel_checkin(session, checkin(session, treatment, "2h"), now=NOW)
    session.commit()
    assert dispatch_due_checkins(worker, NOW + timedelta(hours=2)) == 0
    assert send_reminders(worker, NOW + timedelta(hours=3)) == 0
    assert push.for_subscriber(browser) == []


def test_no_reminder_once_the_window_has_closed(
    worker: Worker, session: Session, push: PushService
) -> None:
    _, browser = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    assert send_reminders(worker, NOW + timedelta(hours=4)) == 0  # the 2 h window ends at 4 h
    assert len(push.for_subscriber(browser)) == 1


def test_reminder_never_falls_in_quiet_hours(session: Session) -> None:
    # T0 17:00 in Vancouver, quiet hours 22:00-08:00: the 72 h check-in opens at 17:00 and its
    # reminder, 6 h later at 23:00, moves to 08:00 the next morning (its window lasts to 17:00)
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    t0 = datetime(2026, 11, 24, 17, 0, tzinfo=VANCOUVER)
    treatment = make_treatment(session, clinician, patient, treated_at=t0)
    remind_at = checkin(session, treatment, "72h").remind_at
    assert remind_at is not None
    assert remind_at.astimezone(VANCOUVER) == datetime(2026, 11, 28, 8, 0, tzinfo=VANCOUVER)


def test_clinician_reads_the_delivery_ledger(
    worker: Worker, session: Session, push: PushService, client: FlaskClient
) -> None:
    treatment, _ = treated_patient(session, push)
    dispatch_due_checkins(worker, NOW + timedelta(hours=2))
    two_hours = checkin(session, treatment, "2h")
    headers = bearer(session, treatment.patient.clinic.clinicians[0])
    ledger = client.get(f"/api/v1/checkins/{two_hours.id}/deliveries", headers=headers).get_json()
    assert [(event["kind"], event["status_code"]) for event in ledger] == [
        ("queued", None),
        ("sent", 201),
    ]


def test_each_time_point_of_a_protocol_prompts_once_at_its_own_time(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push, modality="acupuncture")
    schedule = [(c.id, c.due_at) for c in checkins_of(session, treatment)]
    assert len(schedule) == 4  # evening of day 0, 24 h, 72 h, 7 d
    for checkin_id, due_at in schedule:
        assert dispatch_due_checkins(worker, due_at - timedelta(minutes=1)) == 0
        assert dispatch_due_checkins(worker, due_at) == 1
        assert push.for_subscriber(browser)[-1].payload["checkin_id"] == checkin_id
    assert len(push.for_subscriber(browser)) == 4


def checkins_of(session: Session, treatment: Treatment) -> list[CheckIn]:
    session.expire_all()
    return list(
        session.scalars(
            select(CheckIn).filter_by(treatment_id=treatment.id).order_by(CheckIn.due_at)
        )
    )


def test_a_push_services_answer_with_a_nul_byte_is_recorded_without_it(
    session: Session, push: PushService
) -> None:
    treated_patient(session, push)
    at = NOW + timedelta(hours=2)
    ids = delivery.claim(
        session, purpose=delivery.PROMPT, now=at, worker="w", limit=10, lease=timedelta(minutes=1)
    )
    [item] = delivery.outbound(session, ids, purpose=delivery.PROMPT, now=at, channels=PUSH_ONLY)
    answer = PushResult(item.addresses[0].subscription_id, 500, "odd\x00answer")
    delivery.record(
        session,
        [delivery.Attempt(item, "push", (answer,))],
        now=at,
        worker="w",
        retry=delivery.RetryPolicy(),
        rng=random.Random(1),
    )
    session.commit()  # PostgreSQL text holds no NUL: the whole record would fail with it

    failed = select(DeliveryEvent.detail).where(DeliveryEvent.status_code == 500)
    assert session.scalars(failed).all() == ["oddanswer"]


def some_checkin_ids(session: Session) -> tuple[list[int], list[int]]:
    """The check-ins of two treated patients, and those of a third."""
    clinician = make_clinician(session)
    treatments = [
        make_treatment(session, clinician, make_patient(session, clinician, code=f"P-{n}"))
        for n in range(3)
    ]
    session.flush()
    ids = [[checkin.id for checkin in treatment.checkins] for treatment in treatments]
    return ids[0] + ids[1], ids[2]


def test_among_a_batchs_ids_finds_those_and_no_others(session: Session) -> None:
    wanted, _ = some_checkin_ids(session)
    query = select(CheckIn.id).where(among(session, CheckIn.id, wanted))

    assert sorted(session.scalars(query)) == sorted(wanted)


def test_among_takes_nothing_but_integers_into_the_arrays_text(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite binds each id as its own parameter")
    not_ids: list[Any] = ["1}"]
    query = select(CheckIn.id).where(among(session, CheckIn.id, not_ids))

    with pytest.raises(StatementError, match="cannot be interpreted as an integer"):
        session.execute(query)


def test_a_batchs_ids_are_one_array_the_server_parses_once(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite binds each id as its own parameter")
    wanted, _ = some_checkin_ids(session)
    connection = session.connection()
    with statements_sent(connection) as sent:
        session.execute(select(CheckIn.id).where(among(session, CheckIn.id, wanted)))
    [(statement, parameters)] = sent

    # the statement as sent, with the parameters as sent: the plan holds the array as one
    # constant, where a cast of a text parameter is not folded and would parse the whole array
    # again for every row scanned
    plan = connection.exec_driver_sql(f"EXPLAIN (VERBOSE, COSTS OFF) {statement}", parameters)
    [condition] = [line for line in plan.scalars() if "ANY" in line]
    assert "'::integer[]" in condition
    assert "::cstring" not in condition
    assert "::text" not in condition


def test_a_claim_works_out_its_batch_once_not_by_a_join_over_the_table(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has one writer and its own planner")
    some_checkin_ids(session)
    session.execute(text("ANALYZE checkins"))
    connection = session.connection()
    with statements_sent(connection) as sent:
        delivery.claim(
            session,
            purpose=delivery.PROMPT,
            now=NOW + timedelta(days=30),
            worker="w",
            limit=1000,
            lease=timedelta(minutes=2),
        )
    [(statement, parameters)] = sent

    # the batch's ids are worked out once, as an array, before the rows are updated: as a
    # semi-join the planner may read the whole table for them, and history grows without end
    plan = "\n".join(
        connection.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", parameters).scalars()
    )
    assert "InitPlan" in plan, plan
    assert "Join" not in plan, plan


@contextmanager
def statements_sent(connection: Connection) -> Iterator[list[tuple[str, Any]]]:
    """Each statement a connection sends meanwhile, with its parameters, as sent."""
    sent: list[tuple[str, Any]] = []

    def listener(*execution: Any) -> None:  # connection, cursor, statement, parameters, ...
        sent.append((execution[2], execution[3]))

    event.listen(connection, "before_cursor_execute", listener)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", listener)
