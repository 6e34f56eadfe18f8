"""What the worker must get right when something changes under it, or a key is broken."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import CheckIn, PushSubscription
from server.services import delivery
from server.services.answers import answer_checkin
from server.services.push import PushResult
from server.services.scheduling import move_checkin
from tests.factories import NOW, bearer, checkin_for, make_clinician, make_patient, make_treatment
from tests.push_service import PushService
from tests.test_dispatch import subscribe_local, treated_patient

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
    ids = delivery.claim(
        session, purpose=delivery.PROMPT, now=DUE, worker="w1", limit=10, lease=timedelta(minutes=2)
    )
    [item] = delivery.outbound(
        session, ids, purpose=delivery.PROMPT, now=DUE, base_url="http://testserver", secret="s"
    )
    session.commit()
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
    sent = delivery.Attempt(item, "push", (PushResult(item.targets[0].subscription_id, 201),))
    # the worker read the row before the answer landed: its write must not undo the answer
    rows = delivery._claimed_rows(session, ids)
    stale = {**rows[checkin.id]._asdict(), "status": "scheduled"}
    delivery._apply(
        session,
        [
            {
                "claimed_until": None,
                "claimed_by": None,
                **delivery._delivered(type("Row", (), stale), sent, DUE),
                "_id": checkin.id,
                "_status": "scheduled",
            }
        ],
        "w1",
    )
    session.commit()
    session.expire_all()
    assert session.get(CheckIn, checkin.id).status == "answered"  # type: ignore[union-attr]


def test_moving_a_checkin_starts_its_delivery_afresh(session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(session, clinician, patient)
    checkin = checkin_for(treatment, "24h")
    checkin.shown_at = checkin.opened_at = checkin.emailed_at = NOW
    move_checkin(session, checkin, due_at=checkin.due_at + timedelta(hours=1), now=NOW)
    acknowledged = [checkin.shown_at, checkin.opened_at, checkin.emailed_at]
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
