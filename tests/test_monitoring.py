"""The operator's figures: what waits for a worker, whom nothing reached, how long alerts wait."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.models import Alert, AlertNotice, Clinician, DeliveryEvent, Treatment, utcnow
from server.services.answers import answer_checkin
from server.services.delivery.claims import claim
from server.services.delivery.outbound import PROMPT
from server.services.monitoring import service_figures
from tests.factories import NOW, checkin_for, make_clinician, make_patient, make_treatment

SEVEN_HOURS_AGO = NOW - timedelta(hours=7)  # the 6 h check-in opened an hour ago


def treated(session: Session, code: str, *, treated_at: datetime = SEVEN_HOURS_AGO) -> Treatment:
    """A patient of the one clinician (made with the first), treated at ``treated_at``."""
    clinician = session.scalars(select(Clinician)).first() or make_clinician(session)
    patient = make_patient(session, clinician, code=code, quiet_hours=None)
    return make_treatment(session, clinician, patient, treated_at=treated_at, now=treated_at)


def red_flag(session: Session, treatment: Treatment, *, raised_at_ago: timedelta) -> Alert:
    """The treatment's 6 h answer raises a red flag, raised ``raised_at_ago`` before NOW."""
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 3, "rf_breath_chest": True},
        note=None,
        now=NOW,
    )
    alert = session.scalars(select(Alert).where(Alert.treatment_id == treatment.id)).one()
    alert.created_at = NOW - raised_at_ago
    return alert


@pytest.fixture
def busy_service(session: Session) -> None:
    """A prompt due an hour, one the pipeline gave up on, a failed push, a notice due 10 min,
    a red flag open 30 min and one acknowledged an hour after it was raised."""
    waiting = treated(session, "P-1")
    session.add(
        DeliveryEvent(
            checkin_id=checkin_for(waiting, "6h").id,
            at=NOW - timedelta(minutes=5),
            kind="failed",
            purpose="prompt",
            channel="push",
            status_code=500,
        )
    )
    checkin_for(treated(session, "P-2"), "6h").next_attempt_at = None  # retries ran out
    open_alert = red_flag(session, treated(session, "P-3"), raised_at_ago=timedelta(minutes=30))
    handled = red_flag(session, treated(session, "P-4"), raised_at_ago=timedelta(hours=3))
    handled.acknowledged_at = NOW - timedelta(hours=2)
    session.execute(delete(AlertNotice))  # the routing's own notices: this one instead
    session.add(
        AlertNotice(
            alert_id=open_alert.id,
            step=1,
            channel="email",
            address="on-call@example.org",
            recipient="On call",
            due_at=NOW - timedelta(minutes=10),
        )
    )
    session.flush()


@pytest.mark.usefixtures("busy_service")
def test_the_figures_count_what_waits_and_how_long(session: Session) -> None:
    figures = service_figures(session, now=NOW)

    assert figures.prompts_due == 1
    assert figures.oldest_prompt_wait_s == pytest.approx(3600, abs=1)
    assert figures.checkins_unreached == 1
    assert figures.delivery_failures == {"push": 1, "email": 0, "sms": 0}
    assert figures.notices_due == 1
    assert figures.oldest_notice_wait_s == pytest.approx(600, abs=1)
    assert figures.alerts_unacknowledged == {"urgent": 1, "same_day": 0, "routine": 0}
    assert figures.oldest_alert_wait_s["urgent"] == pytest.approx(1800, abs=1)
    assert figures.oldest_alert_wait_s["routine"] == 0
    assert figures.alerts_acknowledged == 1
    assert figures.acknowledgement_mean_s == pytest.approx(3600, abs=1)
    assert figures.acknowledgement_max_s == pytest.approx(3600, abs=1)


@pytest.mark.usefixtures("busy_service")
def test_the_prompts_due_are_those_a_worker_would_claim(session: Session) -> None:
    due = service_figures(session, now=NOW).prompts_due

    claimed = claim(
        session, purpose=PROMPT, now=NOW, worker="w", limit=1000, lease=timedelta(minutes=2)
    )

    assert len(claimed) == due


def test_nothing_waits_in_an_empty_service(session: Session) -> None:
    figures = service_figures(session, now=NOW)

    assert (figures.prompts_due, figures.oldest_prompt_wait_s) == (0, 0)
    assert set(figures.delivery_failures.values()) == {0}
    assert set(figures.alerts_unacknowledged.values()) == {0}
    assert figures.acknowledgement_max_s == 0


def test_flask_monitor_prints_one_line_per_figure(app: Flask, session: Session) -> None:
    treated(session, "P-1", treated_at=utcnow() - timedelta(hours=7))
    session.commit()

    result = app.test_cli_runner().invoke(args=["monitor"])

    assert result.exit_code == 0, result.output
    lines = dict(line.rsplit(" ", 1) for line in result.output.splitlines())
    assert lines["needling_prompts_due"] == "1"
    assert set(lines) >= {
        "needling_checkins_unreached",
        "needling_alert_notices_due",
        'needling_alert_oldest_unacknowledged_seconds{severity="urgent"}',
        "needling_alert_acknowledgement_mean_seconds_24h",
    }
    assert all(float(value) >= 0 for value in lines.values())
