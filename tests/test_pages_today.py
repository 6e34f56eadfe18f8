"""The Today page and its worklist service: red flags first, then due, overdue and missed."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, CheckIn, Clinician, Treatment
from server.services.answers import answer_checkin, enter_response
from server.services.scheduling import cancel_checkin, expire_checkins
from server.services.worklist import week_start, worklist
from tests.factories import (
    NOW,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)


def treated(session: Session, clinician: Clinician, code: str, treated_at: datetime) -> Treatment:
    """A dry-needling treatment of a new patient (UTC, no quiet hours) at ``treated_at``."""
    patient = make_patient(session, clinician, code=code, timezone="UTC", quiet_hours=None)
    return make_treatment(session, clinician, patient, treated_at=treated_at)


def answer(
    session: Session, treatment: Treatment, slot: str, answers: dict[str, object], at: datetime
) -> None:
    """The patient answers one of the treatment's check-ins at ``at``."""
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin_for(treatment, slot).id,
        client_id=uuid.uuid4(),
        answers=answers,
        note=None,
        now=at,
    )


def ids(checkins: list[CheckIn]) -> list[int]:
    return [checkin.id for checkin in checkins]


# --- the worklist service (a fixed clock) ------------------------------------------------------


def test_open_checkins_are_due_until_half_their_window_is_gone(session: Session) -> None:
    clinician = make_clinician(session)
    early = treated(session, clinician, "A", NOW - timedelta(hours=7))  # 6h: 1 of 4 h gone
    late = treated(session, clinician, "B", NOW - timedelta(hours=9))  # 6h: 3 of 4 h gone

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert [row.checkin_id for row in work.due] == [checkin_for(early, "6h").id]
    assert [row.checkin_id for row in work.overdue] == [checkin_for(late, "6h").id]


def test_answered_and_cancelled_checkins_are_not_due(session: Session) -> None:
    clinician = make_clinician(session)
    answered = treated(session, clinician, "A", NOW - timedelta(hours=7))
    answer(session, answered, "6h", {"soreness": 3}, NOW - timedelta(minutes=10))
    cancelled = treated(session, clinician, "B", NOW - timedelta(hours=7))
    cancel_checkin(session, checkin_for(cancelled, "6h"), now=NOW)

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert work.due == []
    assert work.overdue == []


def test_missed_are_closed_unanswered_windows_of_the_last_7_days(session: Session) -> None:
    clinician = make_clinician(session)
    treatment = treated(session, clinician, "A", NOW - timedelta(days=8, hours=1))

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    # 0h and 6h closed more than 7 days ago; 7d is open (and overdue)
    assert [row.slot for row in work.missed] == ["72h", "48h", "24h"]
    assert [row.checkin_id for row in work.overdue] == [checkin_for(treatment, "7d").id]


def test_missed_whether_or_not_the_expiry_job_has_run(session: Session) -> None:
    clinician = make_clinician(session)
    treated(session, clinician, "A", NOW - timedelta(hours=7))
    before = worklist(session, clinic_id=clinician.clinic_id, now=NOW).missed

    expire_checkins(session, now=NOW)
    after = worklist(session, clinic_id=clinician.clinic_id, now=NOW).missed

    assert [row.slot for row in before] == ["0h"]
    assert [(row.slot, row.status) for row in after] == [("0h", "missed")]


def test_worklist_shows_only_the_clinicians_clinic(session: Session) -> None:
    clinician = make_clinician(session)
    other = make_clinician(session, make_clinic(session, "Other Clinic"))
    theirs = treated(session, other, "A", NOW - timedelta(hours=7))
    answer(session, theirs, "6h", {"rf_breath_chest": True}, NOW - timedelta(minutes=5))
    treated(session, other, "B", NOW - timedelta(hours=9))

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert (work.alerts, work.due, work.overdue, work.missed) == ([], [], [], [])


THREE_ALERTS: list[tuple[str, dict[str, object], int]] = [
    ("R", {"bruise_bleed": "large"}, 50),  # RF-6, routine, the oldest
    ("S", {"rf_neuro": True}, 40),  # RF-4, same day
    ("U", {"rf_breath_chest": True}, 30),  # RF-1, urgent, the newest
]


def raise_three_alerts(session: Session, clinician: Clinician) -> None:
    """A routine, then a same-day, then an urgent alert, each for a patient of their own."""
    for code, answers, minutes_ago in THREE_ALERTS:
        treatment = treated(session, clinician, code, NOW - timedelta(hours=7))
        answer(session, treatment, "6h", answers, NOW - timedelta(minutes=minutes_ago))


def test_alerts_come_urgent_then_same_day_then_routine(session: Session) -> None:
    clinician = make_clinician(session)
    raise_three_alerts(session, clinician)

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert [(row.severity, row.rule, row.patient_code) for row in work.alerts] == [
        ("urgent", "RF-1", "U"),
        ("same_day", "RF-4", "S"),
        ("routine", "RF-6", "R"),
    ]


def test_acknowledged_alerts_leave_the_worklist(session: Session) -> None:
    clinician = make_clinician(session)
    raise_three_alerts(session, clinician)
    for alert in session.scalars(select(Alert).where(Alert.rule != "RF-4")):
        alert.acknowledged_at = NOW

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert [row.rule for row in work.alerts] == ["RF-4"]


def test_week_starts_on_monday_at_midnight_on_the_clinic_s_clock() -> None:
    # NOW is Tuesday 24 Nov 2026, 17:00 UTC
    assert week_start(NOW, "UTC") == datetime(2026, 11, 23, tzinfo=UTC)
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert week_start(monday, "UTC") == monday
    # Monday 00:00 in Sydney (UTC+11 in summer) is Sunday 13:00 UTC
    assert week_start(NOW, "Australia/Sydney") == datetime(2026, 11, 22, 13, tzinfo=UTC)
    # 03:00 UTC on Monday is still Sunday evening in Vancouver: the week before
    assert week_start(monday.replace(hour=3), "America/Vancouver") == datetime(
        2026, 11, 16, 8, tzinfo=UTC
    )


def test_answer_rate_counts_windows_closed_this_week(session: Session) -> None:
    clinician = make_clinician(session)
    # T0 Monday 11:00: 0h closed Monday (missed), 6h closed Monday (answered), 24h still open
    monday = treated(session, clinician, "A", NOW - timedelta(hours=30))
    answer(session, monday, "6h", {"soreness": 2}, NOW - timedelta(hours=23))
    # T0 last Thursday: only its 72h window closed this week (missed); 7d not yet open
    treated(session, clinician, "B", NOW - timedelta(days=5))

    rate = worklist(session, clinic_id=clinician.clinic_id, now=NOW).answer_rate

    assert (rate.answered, rate.missed) == (1, 2)
    assert rate.rate == 1 / 3


def test_a_back_dated_treatment_s_past_checkins_are_neither_missed_nor_in_the_rate(
    session: Session,
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="PAPER", timezone="UTC", quiet_hours=None)
    # recorded now from a paper diary: T0 was Monday 11:00, its 0h and 6h windows closed then
    back_dated = make_treatment(
        session, clinician, patient, treated_at=NOW - timedelta(hours=30), now=NOW
    )
    enter_response(
        session,
        clinician=clinician,
        checkin_id=checkin_for(back_dated, "6h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4},
        answered_at=NOW - timedelta(hours=23),
        source="paper",
        note=None,
        now=NOW,
    )

    work = worklist(session, clinic_id=clinician.clinic_id, now=NOW)

    assert [row.slot for row in work.missed] == []
    assert (work.answer_rate.answered, work.answer_rate.missed) == (0, 0)
    assert checkin_for(back_dated, "0h").status == "missed"  # as the analytics count it


def test_answer_rate_is_none_before_any_window_closed(session: Session) -> None:
    clinician = make_clinician(session)

    rate = worklist(session, clinic_id=clinician.clinic_id, now=NOW).answer_rate

    assert (rate.answered, rate.missed, rate.rate) == (0, 0, None)


# --- the page (the wall clock) -----------------------------------------------------------------


def table_checkins(page: str, table_id: str) -> list[int]:
    """The check-in ids listed in one of the Today page's tables."""
    start = page.find(f'<table id="{table_id}"')
    if start < 0:
        return []
    table = page[start : page.index("</table>", start)]
    return [int(found) for found in re.findall(r'data-checkin="(\d+)"', table)]


def test_today_lists_due_overdue_and_missed(client: FlaskClient, session: Session) -> None:
    now = datetime.now(UTC)
    clinician = make_clinician(session)
    due = treated(session, clinician, "A", now - timedelta(hours=7))
    overdue = treated(session, clinician, "B", now - timedelta(hours=9))
    sign_in_pages(client, clinician)

    page = client.get("/clinic/").get_data(as_text=True)

    assert table_checkins(page, "due-table") == [checkin_for(due, "6h").id]
    assert table_checkins(page, "overdue-table") == [checkin_for(overdue, "6h").id]
    assert table_checkins(page, "missed-table") == [
        checkin_for(due, "0h").id,
        checkin_for(overdue, "0h").id,
    ]


def test_today_shows_urgent_alerts_before_same_day_ones(
    client: FlaskClient, session: Session
) -> None:
    now = datetime.now(UTC)
    clinician = make_clinician(session)
    same_day = treated(session, clinician, "S", now - timedelta(hours=7))
    answer(session, same_day, "6h", {"rf_neuro": True}, now - timedelta(minutes=40))
    urgent = treated(session, clinician, "U", now - timedelta(hours=7))
    answer(session, urgent, "6h", {"rf_breath_chest": True}, now - timedelta(minutes=30))
    sign_in_pages(client, clinician)

    page = client.get("/clinic/").get_data(as_text=True)

    red_flags = page[: page.index('id="due-title"')]
    urgent_first = red_flags.index("New breathlessness or chest pain after needling")
    assert 0 < urgent_first < red_flags.index("New numbness or weakness")


def test_acknowledge_alert_from_today(client: FlaskClient, session: Session) -> None:
    now = datetime.now(UTC)
    clinician = make_clinician(session)
    treatment = treated(session, clinician, "U", now - timedelta(hours=7))
    answer(session, treatment, "6h", {"rf_breath_chest": True}, now - timedelta(minutes=30))
    alert = session.scalars(select(Alert)).one()
    sign_in_pages(client, clinician)

    response = post_form(
        client,
        "/clinic/",
        f"/clinic/alerts/{alert.id}/ack",
        {"next": "/clinic/", "action": "advised_emergency_care", "note": "Told to call 000."},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/clinic/"
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by_id == clinician.id
    assert (alert.ack_action, alert.ack_note) == ("advised_emergency_care", "Told to call 000.")
    page = client.get("/clinic/").get_data(as_text=True)
    assert "Red flag for U acknowledged: Advised emergency care." in page
    assert "No red flag is waiting." in page


def test_acknowledging_without_saying_what_was_done_is_refused_by_the_alert(
    client: FlaskClient, session: Session
) -> None:
    now = datetime.now(UTC)
    clinician = make_clinician(session)
    treatment = treated(session, clinician, "U", now - timedelta(hours=7))
    answer(session, treatment, "6h", {"rf_breath_chest": True}, now - timedelta(minutes=30))
    alert = session.scalars(select(Alert)).one()
    sign_in_pages(client, clinician)

    response = post_form(client, "/clinic/", f"/clinic/alerts/{alert.id}/ack", {"note": "x"})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="ack-error-{alert.id}">choose what was done</p>' in page
    assert 'aria-invalid="true"' in page
    session.expire_all()
    assert session.get(Alert, alert.id).acknowledged_at is None  # type: ignore[union-attr]


def test_another_clinics_alert_cannot_be_acknowledged(
    client: FlaskClient, session: Session
) -> None:
    now = datetime.now(UTC)
    other = make_clinician(session, make_clinic(session, "Other Clinic"))
    treatment = treated(session, other, "U", now - timedelta(hours=7))
    answer(session, treatment, "6h", {"rf_breath_chest": True}, now - timedelta(minutes=30))
    alert = session.scalars(select(Alert)).one()
    sign_in_pages(client, make_clinician(session))

    response = post_form(
        client, "/clinic/", f"/clinic/alerts/{alert.id}/ack", {"action": "called_patient"}
    )

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert alert.acknowledged_at is None


def test_today_shows_the_answer_rate(client: FlaskClient, session: Session) -> None:
    now = datetime.now(UTC)
    clinician = make_clinician(session)
    treatment = treated(session, clinician, "A", now - timedelta(hours=11))
    answer(session, treatment, "6h", {"soreness": 2}, now - timedelta(hours=4, minutes=30))
    sign_in_pages(client, clinician)
    expected = worklist(session, clinic_id=clinician.clinic_id, now=now).answer_rate

    page = client.get("/clinic/").get_data(as_text=True)

    assert f"{expected.answered} answered, {expected.missed} missed" in page
