"""Red flags reach a person: each alert's notices, made by the routing when it is raised, sent by
the worker to a local SMTP server, escalated while nobody acknowledges it, cancelled when
someone does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, notify_clinicians, route_problems
from server.errors import InvalidInput
from server.models import Alert, AlertContact, AlertNotice, AuditEvent, Clinician, Treatment
from server.services.alerting.notices import first_due, urgent_route_problems
from server.services.answers import answer_checkin
from server.services.delivery.alerts import Message, NotSent, claim_notices, still_wanted
from server.services.mail import Mailer
from server.services.red_flags import acknowledge_alert
from tests.conftest import Mailbox
from tests.factories import (
    NOW,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)

ANSWERED = NOW + timedelta(hours=6, minutes=30)  # inside the dry-needling 6 h check-in
URGENT: dict[str, object] = {"rf_breath_chest": True}  # RF-1
SAME_DAY: dict[str, object] = {"rf_neuro": True}  # RF-4
ROUTINE: dict[str, object] = {"bruise_bleed": "large"}  # RF-6
WEEKDAYS_9_TO_5 = {
    day: [{"opens": "09:00", "closes": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")
}


def clinic_with_staff(session: Session) -> dict[str, Clinician]:
    """A clinic (Vancouver) with a treating clinician, an admin, an on-call and a backup
    contact who are clinicians of it, and an outside on-call phone with an e-mail."""
    clinic = make_clinic(session)
    staff = {
        "treating": make_clinician(session, clinic, email="treating@harbour.example"),
        "admin": make_clinician(session, clinic, role="admin", email="lead@harbour.example"),
        "on_call": make_clinician(session, clinic, email="oncall@harbour.example"),
        "backup": make_clinician(session, clinic, email="backup@harbour.example"),
    }
    session.add_all(
        [
            AlertContact(clinic_id=clinic.id, role="on_call", clinician_id=staff["on_call"].id),
            AlertContact(clinic_id=clinic.id, role="backup", clinician_id=staff["backup"].id),
            AlertContact(
                clinic_id=clinic.id, role="on_call", name="Night phone", email="night@cover.example"
            ),
        ]
    )
    session.flush()
    return staff


def flagged(
    session: Session, clinician: Clinician, answers: dict[str, object], code: str = "P-042"
) -> tuple[Treatment, Alert]:
    """A patient of ``clinician`` treated at NOW whose 6 h answers raise one alert."""
    patient = make_patient(session, clinician, code=code, quiet_hours=None)
    treatment = make_treatment(session, clinician, patient)
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers=answers,
        note=None,
        now=ANSWERED,
    )
    session.commit()
    [alert] = session.scalars(select(Alert).filter_by(treatment_id=treatment.id))
    return treatment, alert


def notices(session: Session, alert: Alert) -> list[tuple[int, str, str, datetime]]:
    """(step, address, status, due) of the alert's notices, in step order."""
    session.expire_all()
    return [
        (notice.step, notice.address, notice.status, notice.due_at)
        for notice in session.scalars(
            select(AlertNotice).filter_by(alert_id=alert.id).order_by("step", "address")
        )
    ]


def inbox(mailbox: Mailbox) -> list[tuple[str, str]]:
    """(to, subject) of each message the local SMTP server received, sorted."""
    return sorted((message["To"], message["Subject"]) for message in mailbox.messages)


# --- the notices an alert gets ----------------------------------------------------------------


def test_an_urgent_alert_tells_the_treating_clinician_and_on_call_at_once_then_escalates(
    session: Session,
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)

    later_15, later_30 = ANSWERED + timedelta(minutes=15), ANSWERED + timedelta(minutes=30)
    assert notices(session, alert) == [
        (1, "night@cover.example", "pending", ANSWERED),
        (1, "oncall@harbour.example", "pending", ANSWERED),
        (1, "treating@harbour.example", "pending", ANSWERED),
        (2, "backup@harbour.example", "pending", later_15),
        (3, "lead@harbour.example", "pending", later_30),
    ]


def test_the_minutes_between_steps_are_the_clinics(session: Session) -> None:
    staff = clinic_with_staff(session)
    staff["treating"].clinic.escalate_after_min = 5
    _, alert = flagged(session, staff["treating"], URGENT)

    dues = {step: due for step, _, _, due in notices(session, alert)}
    assert dues == {
        1: ANSWERED,
        2: ANSWERED + timedelta(minutes=5),
        3: ANSWERED + timedelta(minutes=10),
    }


def test_a_person_in_two_groups_of_a_step_is_told_once(session: Session) -> None:
    staff = clinic_with_staff(session)
    # the treating clinician is on call too
    _, alert = flagged(session, staff["on_call"], URGENT)

    first_step = [address for step, address, _, _ in notices(session, alert) if step == 1]
    assert first_step == ["night@cover.example", "oncall@harbour.example"]


def test_an_inactive_treating_clinician_is_left_out(session: Session) -> None:
    staff = clinic_with_staff(session)
    treatment, _ = flagged(session, staff["treating"], ROUTINE)  # a digest, due later
    staff["treating"].is_active = False
    second = make_treatment(session, staff["treating"], treatment.patient, treated_at=NOW)
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin_for(second, "6h").id,
        client_id=uuid.uuid4(),
        answers=URGENT,
        note=None,
        now=ANSWERED,
    )
    [urgent] = session.scalars(select(Alert).filter_by(treatment_id=second.id))

    first_step = [address for step, address, _, _ in notices(session, urgent) if step == 1]
    assert "treating@harbour.example" not in first_step
    assert first_step == ["night@cover.example", "oncall@harbour.example"]


def test_a_same_day_alert_goes_at_once_while_the_clinic_is_open(session: Session) -> None:
    staff = clinic_with_staff(session)
    staff["treating"].clinic.opening_hours = WEEKDAYS_9_TO_5  # ANSWERED: Tue 15:30 in Vancouver
    _, alert = flagged(session, staff["treating"], SAME_DAY)

    assert notices(session, alert) == [
        (1, "night@cover.example", "pending", ANSWERED),
        (1, "oncall@harbour.example", "pending", ANSWERED),
        (1, "treating@harbour.example", "pending", ANSWERED),
    ]


def test_a_same_day_alert_outside_opening_hours_waits_for_the_opening(session: Session) -> None:
    clinic = make_clinic(session, opening_hours=None)
    clinic.opening_hours = WEEKDAYS_9_TO_5
    friday_evening = datetime.fromisoformat("2026-11-28T03:00:00+00:00")  # Fri 19:00 Vancouver
    monday_nine = datetime.fromisoformat("2026-11-30T17:00:00+00:00")

    assert first_due("same_day", clinic, friday_evening) == monday_nine
    assert first_due("urgent", clinic, friday_evening) == friday_evening


def test_a_routine_alert_goes_in_the_digest_at_the_next_opening(session: Session) -> None:
    staff = clinic_with_staff(session)
    staff["treating"].clinic.opening_hours = WEEKDAYS_9_TO_5
    _, alert = flagged(session, staff["treating"], ROUTINE)

    wednesday_nine = datetime.fromisoformat("2026-11-25T17:00:00+00:00")
    assert notices(session, alert) == [(1, "treating@harbour.example", "pending", wednesday_nine)]
    assert session.scalars(select(AlertNotice.is_digest)).all() == [True]


def test_with_no_hours_given_a_digest_goes_at_eight_local(session: Session) -> None:
    clinic = make_clinic(session)
    assert clinic.opening_hours is None
    # ANSWERED is 15:30 on Tuesday in Vancouver: the next 08:00 is Wednesday's
    assert first_due("routine", clinic, ANSWERED) == datetime.fromisoformat(
        "2026-11-25T16:00:00+00:00"
    )


def test_acknowledging_cancels_the_notices_still_pending_and_records_what_was_done(
    session: Session,
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)

    acknowledge_alert(
        session,
        clinician=staff["treating"],
        alert_id=alert.id,
        action="advised_emergency_care",
        note="Told to call 911 now.",
        now=ANSWERED + timedelta(minutes=3),
    )
    session.commit()

    assert {status for _, _, status, _ in notices(session, alert)} == {"cancelled"}
    stored = session.get_one(Alert, alert.id)
    assert (stored.ack_action, stored.ack_note) == (
        "advised_emergency_care",
        "Told to call 911 now.",
    )
    [event] = session.scalars(select(AuditEvent).filter_by(action="alert.acknowledged"))
    assert (event.actor, event.details["action"]) == (
        f"clinician:{staff['treating'].id}",
        "advised_emergency_care",
    )


def test_acknowledging_needs_to_say_what_was_done(session: Session) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    with pytest.raises(InvalidInput) as refused:
        acknowledge_alert(
            session, clinician=staff["admin"], alert_id=alert.id, action="waved", now=ANSWERED
        )
    assert "action" in refused.value.errors


# --- the worker sends them ----------------------------------------------------------------------


def test_the_worker_sends_each_due_notice_naming_the_clinic_severity_and_patient_only(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)

    assert notify_clinicians(worker, ANSWERED) == 3

    subject = "Urgent red flag: patient P-042 (Harbour Physio)"
    assert inbox(mailbox) == [
        ("night@cover.example", subject),
        ("oncall@harbour.example", subject),
        ("treating@harbour.example", subject),
    ]
    text = mailbox.messages[0].get_payload()
    assert isinstance(text, str)
    assert f"http://testserver/clinic/patients/{alert.patient_id}" in text
    assert "Urgent red flag raised for patient P-042 at 15:30 on 24 Nov 2026" in text
    # no answers, no rule wording: a mailbox is not the record
    assert alert.summary not in text
    assert "breath" not in text.lower()
    assert [status for step, _, status, _ in notices(session, alert) if step == 1] == ["sent"] * 3


def test_an_escalation_goes_out_only_while_nobody_has_acknowledged(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    flagged(session, staff["treating"], URGENT, code="P-001")
    _, seen = flagged(session, staff["treating"], URGENT, code="P-002")
    notify_clinicians(worker, ANSWERED)
    acknowledge_alert(
        session,
        clinician=staff["on_call"],
        alert_id=seen.id,
        action="called_patient",
        now=ANSWERED + timedelta(minutes=10),
    )
    session.commit()
    mailbox.messages.clear()

    notify_clinicians(worker, ANSWERED + timedelta(minutes=15))

    assert inbox(mailbox) == [
        (
            "backup@harbour.example",
            "Urgent red flag, not yet acknowledged: patient P-001 (Harbour Physio)",
        )
    ]
    text = mailbox.messages[0].get_payload()
    assert isinstance(text, str)
    assert "Nobody has acknowledged it for 15 minutes; you are the next contact." in text
    assert [status for step, _, status, _ in notices(session, seen) if step > 1] == [
        "cancelled",
        "cancelled",
    ]


def test_routine_alerts_due_together_go_as_one_digest_per_address(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    for code in ("P-001", "P-002", "P-003"):
        flagged(session, staff["treating"], ROUTINE, code=code)

    notify_clinicians(worker, ANSWERED + timedelta(days=1))

    assert inbox(mailbox) == [
        ("treating@harbour.example", "3 routine red flags to review (Harbour Physio)")
    ]
    text = mailbox.messages[0].get_payload()
    assert isinstance(text, str)
    assert all(f"patient {code}, raised" in text for code in ("P-001", "P-002", "P-003"))
    assert set(session.scalars(select(AlertNotice.status))) == {"sent"}


def test_without_an_smtp_server_a_notice_is_skipped_saying_why(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    unconfigured = replace(worker, mailer=Mailer(host="", port=0, sender=""))

    notify_clinicians(unconfigured, ANSWERED)

    session.expire_all()
    first = session.scalars(select(AlertNotice).filter_by(alert_id=alert.id, step=1)).all()
    assert {(notice.status, notice.detail) for notice in first} == {
        ("skipped", "E-mail is not set up")
    }
    assert mailbox.messages == []


def test_a_clinician_deactivated_before_their_notice_is_due_is_skipped(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    staff["backup"].is_active = False
    session.commit()

    notify_clinicians(worker, ANSWERED + timedelta(minutes=15))

    backup = session.scalars(select(AlertNotice).filter_by(alert_id=alert.id, step=2)).one()
    assert (backup.status, backup.detail) == ("skipped", "the clinician is no longer active")
    assert "backup@harbour.example" not in {to for to, _ in inbox(mailbox)}


def test_a_failed_send_is_tried_again_later_then_given_up(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    unreachable = replace(worker, mailer=Mailer(host="127.0.0.1", port=9, sender="c@x.org"))

    notify_clinicians(unreachable, ANSWERED)

    session.expire_all()
    notice = session.scalars(select(AlertNotice).filter_by(alert_id=alert.id, step=1)).first()
    assert notice is not None
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert notice.due_at > ANSWERED
    assert notice.detail
    for attempt in range(2, 6):
        notify_clinicians(unreachable, ANSWERED + timedelta(hours=attempt))
    session.expire_all()
    assert session.get_one(AlertNotice, notice.id).status == "failed"


def test_a_notice_left_sending_by_a_dead_worker_is_sent_again_and_a_sent_one_never(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    flagged(session, staff["treating"], URGENT)
    # a worker claimed every first-step notice and died before it sent anything
    dead = claim_notices(
        session, now=ANSWERED, worker="dead:1", limit=100, lease=timedelta(minutes=2)
    )
    session.commit()
    assert len(dead) == 3
    assert notify_clinicians(worker, ANSWERED + timedelta(minutes=1)) == 0  # lease still runs

    notify_clinicians(worker, ANSWERED + timedelta(minutes=3))
    notify_clinicians(worker, ANSWERED + timedelta(minutes=4))

    assert len(mailbox.messages) == 3  # each once: a sent notice is never claimed again
    statuses = session.scalars(select(AlertNotice.status).where(AlertNotice.id.in_(dead)))
    assert set(statuses) == {"sent"}


# --- a way out ------------------------------------------------------------------------------------


def test_urgent_alerts_without_a_way_out_say_why(session: Session) -> None:
    clinic = make_clinic(session)
    make_clinician(session, clinic, role="admin")

    assert urgent_route_problems(session, clinic=clinic, channels_on=set()) == [
        "The server has no mail server (SMTP_HOST) and no SMS provider (SMS_ACCOUNT_SID): "
        "urgent alerts reach nobody by message."
    ]
    assert urgent_route_problems(session, clinic=clinic, channels_on={"email"}) == [
        "No on-call contact has an address the server can reach: add one under Alert routing."
    ]
    session.add(
        AlertContact(clinic_id=clinic.id, role="on_call", name="Desk", phone="+16045550142")
    )
    session.flush()
    assert len(urgent_route_problems(session, clinic=clinic, channels_on={"email"})) == 1
    session.add(AlertContact(clinic_id=clinic.id, role="on_call", name="Desk", email="d@x.org"))
    session.flush()
    assert urgent_route_problems(session, clinic=clinic, channels_on={"email"}) == []


def test_the_worker_names_each_clinic_whose_urgent_alerts_have_no_way_out(
    session: Session, worker: Worker
) -> None:
    reachable = clinic_with_staff(session)["treating"].clinic
    lonely = make_clinic(session, name="Lonely Physio")
    session.commit()
    unconfigured = replace(worker, mailer=Mailer(host="", port=0, sender=""))

    assert route_problems(worker) == {
        "Lonely Physio": [
            "No on-call contact has an address the server can reach: add one under Alert routing."
        ]
    }
    assert set(route_problems(unconfigured)) == {reachable.name, lonely.name}


@dataclass
class Flaky:
    """A notice channel whose send fails with an exception for one address."""

    broken: str
    sent: list[str] = field(default_factory=list)
    name: str = "email"

    @contextmanager
    def open(self) -> Iterator[Flaky]:
        yield self

    def send(self, message: Message) -> NotSent | None:
        if message.to == self.broken:
            raise ValueError("header value contains a line break")
        self.sent.append(message.to)
        return None


def test_a_message_that_cannot_be_built_fails_alone(session: Session, worker: Worker) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    flaky = Flaky(broken="night@cover.example")
    notifier = replace(worker.notifier, channels={"email": flaky})

    notifier.run(session, now=lambda: ANSWERED)

    assert sorted(flaky.sent) == ["oncall@harbour.example", "treating@harbour.example"]
    session.expire_all()
    broken = session.scalars(
        select(AlertNotice).filter_by(alert_id=alert.id, address="night@cover.example")
    ).one()
    assert (broken.status, broken.detail) == (
        "pending",
        "could not be sent: header value contains a line break",
    )


def test_a_notice_acknowledged_after_its_claim_is_not_sent(
    session: Session, worker: Worker, mailbox: Mailbox
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    lease = timedelta(minutes=2)
    claimed = claim_notices(session, now=ANSWERED, worker="w", limit=100, lease=lease)
    session.commit()
    acknowledge_alert(
        session,
        clinician=staff["treating"],
        alert_id=alert.id,
        action="called_patient",
        now=ANSWERED,
    )
    session.commit()

    assert not still_wanted(session, (claimed[0],), "w", ANSWERED + lease)
    assert set(session.scalars(select(AlertNotice.status))) == {"cancelled"}


def test_two_clinicians_acknowledging_at_once_keep_the_first(session: Session) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    # the second clinician's view of the alert was loaded before the first acknowledged
    acknowledge_alert(
        session,
        clinician=staff["treating"],
        alert_id=alert.id,
        action="called_patient",
        now=ANSWERED,
    )
    again = acknowledge_alert(
        session,
        clinician=staff["admin"],
        alert_id=alert.id,
        action="no_action_needed",
        now=ANSWERED + timedelta(minutes=1),
    )

    assert (again.acknowledged_by_id, again.ack_action) == (staff["treating"].id, "called_patient")
    events = session.scalars(select(AuditEvent).filter_by(action="alert.acknowledged")).all()
    assert len(events) == 1
