"""What the worker must get right when something changes under it, or a key is broken."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import CheckIn, DeliveryEvent, PushSubscription
from server.push import PushResult
from server.services import delivery
from server.services.answers import answer_checkin
from server.services.scheduling import move_checkin
from tests.factories import NOW, bearer, checkin_for, make_clinician, make_patient, make_treatment
from tests.push_service import PushService
from tests.test_dispatch import PUSH_ONLY, subscribe_local, treated_patient

DUE = NOW + timedelta(hours=2)


def test_a_broken_key_fails_its_own_push_not_the_batch(
    worker: Worker, session: Session, push: PushService
) -> None:
    treatment, browser = treated_patient(session, push)
    broken, _ = treated_patient(session, push, code="P-002")
    session.execute(  # a key no browser would make: 0x04 and 64 bytes off the curve
        update(PushSubscription)
        .where(PushSubscription.patient_id == broken.patient_id)
        .values(
            p256dh="BAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
        )
    )
    session.commit()
    assert dispatch_due_checkins(worker, DUE) == 2
    assert len(push.for_subscriber(browser)) == 1
    session.expire_all()
    assert checkin_for(treatment, "2h").status == "sent"
    ruined = checkin_for(broken, "2h")
    assert (ruined.status, ruined.next_attempt_at) == ("scheduled", None)  # refused: no retry


def test_an_answer_given_while_the_prompt_was_in_flight_stays_answered(
    session: Session, push: PushService
) -> None:
    treatment, _ = treated_patient(session, push)
    [item] = claimed_items(session, "w1")
    checkin = checkin_for(treatment, "2h")
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 2},
        note=None,
        now=DUE,
    )
    session.commit()
    sent = delivery.Attempt(item, "push", (PushResult(item.addresses[0].subscription_id, 201),))

    # the worker claimed the check-in before the answer landed: its write must not undo it
    record(session, [sent], worker="w1")
    session.commit()

    session.expire_all()
    stored = session.get(CheckIn, checkin.id)
    assert stored is not None
    assert (stored.status, stored.sent_at, stored.claimed_by) == ("answered", None, None)
    assert ledger_kinds(session, checkin.id) == ["queued", "answered", "sent"]


def test_a_lapsed_claim_another_worker_took_is_left_to_it(
    session: Session, push: PushService
) -> None:
    treatment, _ = treated_patient(session, push)
    [item] = claimed_items(session, "w1")
    checkin = checkin_for(treatment, "2h")
    taken_over = DUE + timedelta(minutes=3)  # w1's two-minute lease has lapsed
    assert delivery.claim(
        session,
        purpose=delivery.PROMPT,
        now=taken_over,
        worker="w2",
        limit=10,
        lease=timedelta(minutes=2),
    ) == [checkin.id]
    session.commit()
    failed = delivery.Attempt(item, "push", (PushResult(item.addresses[0].subscription_id, 500),))

    record(session, [failed], worker="w1")  # w1 comes back late with a failure
    session.commit()

    session.expire_all()
    stored = session.get(CheckIn, checkin.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("scheduled", 0, DUE)
    assert stored.claimed_by == "w2"  # w2 decides what comes next
    assert ledger_kinds(session, checkin.id) == ["queued", "failed"]  # w1's answer, no retry


def test_a_stale_batch_leaves_a_newer_claim_of_the_same_worker_alone(
    session: Session, push: PushService
) -> None:
    treatment, _ = treated_patient(session, push)
    [stale] = claimed_items(session, "w1")
    checkin = checkin_for(treatment, "2h")
    later = DUE + timedelta(minutes=3)  # w1's first lease has lapsed: it claims the check-in again
    [fresh] = claimed_items(session, "w1", at=later)

    failed = delivery.Attempt(stale, "push", (PushResult(stale.addresses[0].subscription_id, 500),))
    record(session, [failed], worker="w1")  # the first batch comes back late with a failure
    session.commit()

    session.expire_all()
    stored = session.get(CheckIn, checkin.id)
    assert stored is not None
    assert (stored.attempts, stored.next_attempt_at) == (0, DUE)  # the old batch wrote nothing
    assert (stored.claimed_by, stored.claimed_until) == ("w1", fresh.claimed.claimed_until)
    assert ledger_kinds(session, checkin.id) == ["queued", "failed", "queued"]  # by time


def claimed_items(session: Session, worker: str, at: datetime = DUE) -> list[delivery.Outbound]:
    """Claim what is due ``at`` for ``worker`` and prepare it, as the worker does."""
    ids = delivery.claim(
        session,
        purpose=delivery.PROMPT,
        now=at,
        worker=worker,
        limit=10,
        lease=timedelta(minutes=2),
    )
    items = delivery.outbound(session, ids, purpose=delivery.PROMPT, now=at, channels=PUSH_ONLY)
    session.commit()
    return items


def record(session: Session, attempts: list[delivery.Attempt], *, worker: str) -> None:
    """Record a batch's attempts at DUE, as the worker does."""
    delivery.record(
        session,
        attempts,
        now=DUE,
        worker=worker,
        retry=delivery.RetryPolicy(),
        rng=random.Random(1),
    )


def ledger_kinds(session: Session, checkin_id: int) -> list[str]:
    """The kinds of a check-in's ledger rows, oldest first."""
    return list(
        session.scalars(
            select(DeliveryEvent.kind)
            .filter_by(checkin_id=checkin_id)
            .order_by(DeliveryEvent.at, DeliveryEvent.id)
        )
    )


def test_moving_a_checkin_starts_its_delivery_afresh(session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(session, clinician, patient)
    checkin = checkin_for(treatment, "24h")
    checkin.shown_at = checkin.opened_at = checkin.messaged_at = NOW
    move_checkin(session, checkin, due_at=checkin.due_at + timedelta(hours=1), now=NOW)
    acknowledged = [checkin.shown_at, checkin.opened_at, checkin.messaged_at]
    assert acknowledged == [None, None, None]


def test_revoking_a_lost_phones_tokens_stops_its_pushes(
    client: FlaskClient, session: Session, push: PushService
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    subscription = subscribe_local(session, patient, push.subscribe())
    headers = bearer(session, clinician)
    assert (
        client.delete(f"/api/v1/patients/{patient.id}/tokens", headers=headers).status_code == 204
    )
    session.expire_all()
    assert (
        session.scalar(select(PushSubscription.disabled_at).filter_by(id=subscription.id))
        is not None
    )
