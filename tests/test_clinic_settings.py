"""The clinic's settings from the page and the API: each setting saved and audited with its old
and new value, new patients' default quiet hours, the retention period and the records past
it, and each rule of validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinic, Clinician, Patient, Treatment
from server.services.retention import past_retention
from tests.factories import (
    bearer,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)
from tests.http import assert_rejected

FORM = {
    "name": "Harbour Physio",
    "timezone": "America/Vancouver",
    "phone": "604 555 0142",
    "emergency_number": "",
    "quiet_start": "21:00",
    "quiet_end": "07:30",
    "retention_years": "8",
    "require_two_factor": "yes",
    "mon.opens": "08:00",
    "mon.closes": "18:00",
    "sat.opens": "09:00",
    "sat.closes": "13:00",
}


@pytest.fixture
def admin(client: FlaskClient, session: Session) -> Clinician:
    lead = make_clinician(session, role="admin")
    sign_in_pages(client, lead)
    return lead


def test_an_admin_saves_the_settings_and_each_change_is_audited(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    response = post_form(client, "/clinic/settings", "/clinic/settings", FORM)

    assert response.status_code == 302
    session.expire_all()
    clinic = session.get_one(Clinic, admin.clinic_id)
    assert (clinic.phone, clinic.retention_years, clinic.require_two_factor) == (
        "+16045550142",
        8,
        True,
    )
    assert (clinic.default_quiet_start, clinic.default_quiet_end) == (time(21), time(7, 30))
    assert clinic.opening_hours is not None
    assert clinic.opening_hours["sat"] == [{"opens": "09:00", "closes": "13:00"}]
    changed = {
        event.details["field"]: (event.details["old"], event.details["new"])
        for event in session.scalars(select(AuditEvent).filter_by(action="clinic.updated"))
    }
    assert changed["default_quiet_start"] == ("22:00", "21:00")
    assert changed["retention_years"] == (None, 8)
    assert changed["require_two_factor"] == (False, True)
    page = client.get("/clinic/settings").get_data(as_text=True)
    assert 'value="21:00"' in page


def test_new_patients_get_the_clinics_default_quiet_hours(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    post_form(
        client, "/clinic/settings", "/clinic/settings", {**FORM, "quiet_start": "", "quiet_end": ""}
    )
    session.expire_all()

    patient = make_patient(session, session.get_one(Clinician, admin.id))

    assert (patient.quiet_start, patient.quiet_end) == (None, None)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"quiet_start": "21:00", "quiet_end": ""}, "default_quiet_hours", "give both times"),
        ({"quiet_start": "21:00", "quiet_end": "21:00"}, "default_quiet_hours", "must differ"),
        ({"mon.opens": "08:00", "mon.closes": ""}, "opening_hours.mon", "give both times"),
        ({"mon.opens": "18:00", "mon.closes": "08:00"}, "opening_hours.mon", "close after"),
        ({"retention_years": "0"}, "retention_years", "1 to 100"),
        ({"retention_years": "many"}, "retention_years", "Enter a whole number, like 5."),
        ({"phone": "12"}, "phone", "not a phone number"),
        ({"timezone": "Mars/Olympus"}, "timezone", ""),
        ({"name": ""}, "name", "Fill this in."),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field_and_nothing_is_saved(
    client: FlaskClient,
    session: Session,
    admin: Clinician,
    change: dict[str, str],
    field: str,
    says: str,
) -> None:
    response = post_form(client, "/clinic/settings", "/clinic/settings", {**FORM, **change})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field.replace(".", "-")}-error"' in page
    assert says in page
    session.expire_all()
    assert session.get_one(Clinic, admin.clinic_id).retention_years is None


def test_a_clinician_reads_the_settings_but_cannot_save_them(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    sign_in_pages(client, clinician)

    page = client.get("/clinic/settings")
    refused = post_form(client, "/clinic/settings", "/clinic/settings", FORM)

    assert page.status_code == 200
    assert "<fieldset disabled>" in page.get_data(as_text=True)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retention_years": 0}, "retention_years"),
        ({"retention_years": 101}, "retention_years"),
        ({"default_quiet_hours": {"start": "22:00"}}, "default_quiet_hours.end"),
        ({"default_quiet_hours": {"start": "22:00", "end": "22:00"}}, "default_quiet_hours"),
    ],
)
def test_the_api_refuses_bad_defaults_naming_the_field(
    client: FlaskClient, session: Session, change: dict[str, Any], field: str
) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))

    assert_rejected(client.put("/api/v1/clinic", headers=headers, json=change), field)


def test_the_api_sets_and_reads_the_defaults(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))

    body = client.put(
        "/api/v1/clinic",
        headers=headers,
        json={"default_quiet_hours": None, "retention_years": 10},
    ).get_json()

    assert (body["default_quiet_hours"], body["retention_years"]) == (None, 10)


def test_records_past_the_retention_period_are_listed_for_review(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    now = datetime.now(UTC)
    old = make_patient(session, admin, code="OLD-1")
    recent = make_patient(session, admin, code="NEW-1")
    never = make_patient(session, admin, code="NEVER-1")
    make_treatment(session, admin, old)
    make_treatment(session, admin, recent)
    session.execute(
        update(Treatment)
        .where(Treatment.patient_id == old.id)
        .values(treated_at=now - timedelta(days=9 * 366))
    )
    session.execute(
        update(Patient)
        .where(Patient.id == never.id)
        .values(created_at=now - timedelta(days=9 * 366))
    )
    clinic = session.get_one(Clinic, admin.clinic_id)
    clinic.retention_years = 8
    session.commit()

    listed = past_retention(session, clinician=admin, now=now)
    page = client.get("/clinic/settings").get_data(as_text=True)

    assert {row.code for row in listed} == {"OLD-1", "NEVER-1"}
    assert "Patient OLD-1" in page
    assert "Patient NEW-1" not in page


def test_each_opening_time_keeps_its_label_when_the_row_wraps(
    client: FlaskClient, admin: Clinician
) -> None:
    # at 390 px a day's two times do not fit one line: "Closes" was left at the end of the
    # first line with its time below it; each label now wraps together with its time
    html = client.get("/clinic/settings").get_data(as_text=True)

    groups = re.findall(
        r'<span class="day-hours__time"><label for="(\w+)-(opens|closes)">\w+</label>\s*'
        r'<input id="\1-\2"',
        html,
    )
    assert len(groups) == 14  # seven days, opens and closes
