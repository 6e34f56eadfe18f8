"""A patient's details from the patient page: name, time zone, country, e-mail and quiet hours;
a new zone or quiet hours re-plans the check-ins not yet sent."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinician, Patient
from tests.factories import (
    checkin_for,
    latest_utc,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)

KEPT = {"timezone": "UTC", "quiet_start": "22:00", "quiet_end": "08:00"}


@pytest.fixture
def clinician(client: FlaskClient, session: Session) -> Clinician:
    signed_in = make_clinician(session)
    sign_in_pages(client, signed_in)
    return signed_in


@pytest.fixture
def patient(session: Session, clinician: Clinician) -> Patient:
    made = make_patient(
        session, clinician, timezone="UTC", display_name="Sam", email="sam@example.org"
    )
    session.commit()
    return made


def save(client: FlaskClient, patient: Patient, fields: dict[str, str]) -> str:
    url = f"/clinic/patients/{patient.id}"
    response = post_form(client, url, f"{url}/details", fields)
    assert response.status_code == 302
    return client.get(url).get_data(as_text=True)


def test_the_form_shows_the_patient_s_details(client: FlaskClient, patient: Patient) -> None:
    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert "Change the name, time zone, e-mail or quiet hours" in page
    assert 'name="display_name" type="text" value="Sam"' in page
    assert 'name="quiet_start" type="time" value="22:00"' in page
    assert '<option value="UTC" selected>' in page


def test_saving_changes_every_detail(
    client: FlaskClient, session: Session, patient: Patient
) -> None:
    page = save(
        client,
        patient,
        {
            "display_name": "Samantha",
            "timezone": "Europe/London",
            "country": "IE",
            "email": "samantha@example.org",
            "quiet_start": "21:30",
            "quiet_end": "07:00",
        },
    )

    assert "The patient&#39;s details are saved; check-ins not yet sent now follow" in page
    session.expire_all()
    saved = session.get_one(Patient, patient.id)
    assert (saved.display_name, saved.timezone, saved.country, saved.email) == (
        "Samantha",
        "Europe/London",
        "IE",
        "samantha@example.org",
    )
    assert (saved.quiet_start, saved.quiet_end) == (time(21, 30), time(7, 0))
    event = session.scalars(select(AuditEvent).filter_by(action="patient.updated")).one()
    assert event.target == f"patient:{patient.id}"
    assert "samantha" not in str(event.details)


def test_blank_name_email_country_and_quiet_hours_mean_none(
    client: FlaskClient, session: Session, patient: Patient
) -> None:
    page = save(client, patient, {"timezone": "UTC"})

    assert "The patient&#39;s details are saved" in page
    session.expire_all()
    saved = session.get_one(Patient, patient.id)
    assert (saved.display_name, saved.email, saved.country) == (None, None, None)
    assert (saved.quiet_start, saved.quiet_end) == (None, None)


def test_a_new_zone_moves_the_check_ins_not_yet_sent(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient
) -> None:
    # UTC, quiet 22:00-08:00: a check-in due at 03:00 UTC waits until 08:00 UTC; in Vancouver
    # 03:00 UTC is the evening before, outside quiet hours, so it opens at 03:00
    treatment = make_treatment(
        session, clinician, patient, treated_at=latest_utc(3), now=datetime.now(UTC)
    )
    session.commit()
    before = checkin_for(treatment, "7d").due_at

    page = save(client, patient, {**KEPT, "timezone": "America/Vancouver"})

    assert "now follow the new times" in page
    session.expire_all()
    assert before.time() == time(8, 0)
    assert checkin_for(treatment, "7d").due_at == before - timedelta(hours=5)


def test_saving_the_same_times_says_nothing_moved(client: FlaskClient, patient: Patient) -> None:
    page = save(client, patient, {**KEPT, "display_name": "Sam"})

    assert "The patient&#39;s details are saved." in page
    assert "follow the new times" not in page


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"timezone": ""}, "timezone", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"quiet_end": ""}, "quiet_hours", "give both times, or neither"),
        ({"quiet_start": "08:00"}, "quiet_hours", "give none for no quiet hours"),
        ({"quiet_start": "25:00"}, "quiet_start", ""),
        ({"email": "not an address"}, "email", ""),
        ({"country": "XX"}, "country", ""),
        ({"display_name": "x" * 201}, "display_name", ""),
    ],
    ids=[
        "no zone",
        "unknown zone",
        "one quiet time",
        "same quiet times",
        "not a time",
        "bad e-mail",
        "unknown country",
        "name too long",
    ],
)
def test_bad_details_are_refused_naming_the_field_and_nothing_is_kept(
    client: FlaskClient,
    session: Session,
    patient: Patient,
    fields: dict[str, str],
    field: str,
    says: str,
) -> None:
    url = f"/clinic/patients/{patient.id}"
    posted = {**KEPT, "display_name": "Changed", **fields}
    response = post_form(client, url, f"{url}/details", posted)
    page = response.get_data(as_text=True)

    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    assert says in page
    # the details form is open with what was typed; the messages form stays shut
    assert page.count('<details class="edit" open>') == 1
    assert f'value="{posted["display_name"]}"' in page
    session.expire_all()
    saved = session.get_one(Patient, patient.id)
    assert (saved.display_name, saved.timezone) == ("Sam", "UTC")
