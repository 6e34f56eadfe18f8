"""Clinician pages read on the clinic's clock, with the patient's beside it where it differs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.pages.formatting import clinic_time
from tests.factories import (
    NOW,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
    sign_in_pages,
)

# the year is named only when it is not this one
TUESDAY_5PM = r"Tue 24 Nov( 2026)?, 17:00 GMT"


def test_a_moment_reads_on_the_clinic_s_clock_in_a_time_element() -> None:
    shown = clinic_time(NOW, "Europe/London")

    assert re.fullmatch(f'<time datetime="2026-11-24T17:00:00\\+00:00">{TUESDAY_5PM}</time>', shown)


def test_the_patient_s_clock_is_beside_it_when_it_reads_differently() -> None:
    shown = str(clinic_time(NOW, "Europe/London", "America/Vancouver"))

    assert shown.endswith('<span class="patient-time">(patient\'s time 09:00 PST)</span>')


def test_the_patient_s_weekday_is_named_when_their_date_differs() -> None:
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already Wednesday in Sydney

    shown = str(clinic_time(late, "Europe/London", "Australia/Sydney"))

    assert re.search(r"Tue 24 Nov( 2026)?, 23:30 GMT", shown)
    assert "(patient's time Wed 10:30 AEDT)" in shown


def test_a_patient_on_the_clinic_s_offset_gets_no_second_clock() -> None:
    # different zone names, same offset in November: nothing to add
    assert "patient-time" not in str(clinic_time(NOW, "Europe/London", "UTC"))
    assert "patient-time" not in str(clinic_time(NOW, "Europe/London", "Europe/London"))


def test_no_moment_shows_nothing() -> None:
    assert str(clinic_time(None, "Europe/London", "UTC")) == ""


def test_the_patient_page_shows_the_clinic_s_clock_and_the_patient_s(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, make_clinic(session, timezone="Europe/London"))
    away = make_patient(session, clinician, code="AWAY", timezone="America/Vancouver")
    make_treatment(session, clinician, away, treated_at=NOW)
    session.commit()
    sign_in_pages(client, clinician)

    page = client.get(f"/clinic/patients/{away.id}").get_data(as_text=True)

    assert re.search(
        f'{TUESDAY_5PM}</time> <span class="patient-time">\\(patient\'s time 09:00 PST\\)', page
    )


def test_a_patient_at_home_gets_one_clock_on_their_page(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, make_clinic(session, timezone="Europe/London"))
    home = make_patient(session, clinician, code="HOME", timezone="Europe/London")
    make_treatment(session, clinician, home, treated_at=NOW)
    session.commit()
    sign_in_pages(client, clinician)

    page = client.get(f"/clinic/patients/{home.id}").get_data(as_text=True)

    assert re.search(f"{TUESDAY_5PM}</time>", page)
    assert "patient's time" not in page
