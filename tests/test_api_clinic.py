"""The clinic resource: its time zone, phone, opening hours and emergency number."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinic
from tests.factories import bearer, make_clinic, make_clinician
from tests.http import assert_error_shape, assert_rejected

URL = "/api/v1/clinic"
WEEKDAY = [{"opens": "08:00", "closes": "12:00"}, {"opens": "13:00", "closes": "18:00"}]


def admin_headers(session: Session) -> dict[str, str]:
    clinic = make_clinic(session, phone="+1 604 555 0142")
    return bearer(session, make_clinician(session, clinic, role="admin"))


def test_any_clinician_reads_the_clinics_settings(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session, make_clinic(session, phone="+1 604 555 0142"))
    body = client.get(URL, headers=bearer(session, clinician)).get_json()
    assert body == {
        "id": clinician.clinic_id,
        "name": "Harbour Physio",
        "timezone": "America/Vancouver",
        "phone": "+16045550142",
        "emergency_number": None,
        "opening_hours": None,
        "require_two_factor": False,
        "default_quiet_hours": {"start": "22:00", "end": "08:00"},
        "retention_years": None,
    }


def test_an_admin_sets_phone_zone_hours_and_number(client: FlaskClient, session: Session) -> None:
    headers = admin_headers(session)
    changed = client.put(
        URL,
        headers=headers,
        json={
            "timezone": "Australia/Sydney",
            "phone": "(02) 9374 4000",  # read as an Australian number: the new zone's country
            "emergency_number": "000",
            "opening_hours": {"mon": WEEKDAY, "sat": [{"opens": "09:00", "closes": "13:00"}]},
        },
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["timezone"], body["phone"], body["emergency_number"]) == (
        "Australia/Sydney",
        "+61293744000",
        "000",
    )
    assert body["opening_hours"]["mon"] == WEEKDAY
    assert body["opening_hours"]["sat"] == [{"opens": "09:00", "closes": "13:00"}]
    assert body["opening_hours"]["sun"] == []
    assert client.get(URL, headers=headers).get_json() == body


def test_each_change_is_audited_with_its_old_and_new_value(
    client: FlaskClient, session: Session
) -> None:
    headers = admin_headers(session)
    client.put(URL, headers=headers, json={"phone": "+1 604 555 0199", "name": "Harbour"})
    events = session.scalars(select(AuditEvent).filter_by(action="clinic.updated")).all()
    assert sorted((e.details["field"], e.details["old"], e.details["new"]) for e in events) == [
        ("name", "Harbour Physio", "Harbour"),
        ("phone", "+16045550142", "+16045550199"),
    ]


def test_clearing_the_number_tells_each_patient_their_countrys(
    client: FlaskClient, session: Session
) -> None:
    headers = admin_headers(session)
    client.put(URL, headers=headers, json={"emergency_number": "112"})
    cleared = client.put(URL, headers=headers, json={"emergency_number": None, "phone": None})
    assert (cleared.get_json()["emergency_number"], cleared.get_json()["phone"]) == (None, None)


def test_a_clinic_of_no_country_cannot_have_a_number_of_its_own(
    client: FlaskClient, session: Session
) -> None:
    headers = admin_headers(session)
    refused = client.put(URL, headers=headers, json={"timezone": "UTC", "emergency_number": "144"})
    assert_rejected(refused, "emergency_number")
    assert "time zone" in refused.get_json()["errors"]["emergency_number"][0]


def test_a_clinician_who_is_not_an_admin_cannot_change_them(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    refused = client.put(URL, headers=bearer(session, clinician), json={"phone": None})
    assert refused.status_code == 403
    assert_error_shape(refused)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"phone": "call us"}, "phone"),
        ({"timezone": "Sydney"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"emergency_number": "911 or 112"}, "emergency_number"),
        ({"name": ""}, "name"),
        ({"opening_hours": {"mon": [{"opens": "18:00", "closes": "08:00"}]}}, "opening_hours.mon"),
        (
            {"opening_hours": {"mon": [*WEEKDAY, {"opens": "11:00", "closes": "14:00"}]}},
            "opening_hours.mon",
        ),
        (
            {"opening_hours": {"mon": [{"opens": "8am", "closes": "18:00"}]}},
            "opening_hours.mon.0.opens",
        ),
        ({"opening_hours": {"funday": WEEKDAY}}, "opening_hours.funday"),
        ({"opening_hours": {"mon": [{"opens": "08:00"}]}}, "opening_hours.mon.0.closes"),
        ({"opening_hours": {"mon": WEEKDAY * 3}}, "opening_hours.mon"),
        ({"colour": "blue"}, "colour"),
        ({}, "_schema"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_naming_its_field(
    client: FlaskClient, session: Session, change: dict[str, Any], field: str
) -> None:
    refused = client.put(URL, headers=admin_headers(session), json=change)
    assert_rejected(refused, field)
    assert_error_shape(refused)


def test_a_refused_change_changes_nothing(client: FlaskClient, session: Session) -> None:
    headers = admin_headers(session)
    refused = client.put(URL, headers=headers, json={"phone": "+61 2 9374 4000", "timezone": "X"})
    assert refused.status_code == 422
    session.expire_all()
    assert session.scalars(select(Clinic.phone)).one() == "+16045550142"
    assert session.scalars(select(AuditEvent).filter_by(action="clinic.updated")).all() == []


def test_a_name_another_clinic_has_is_a_conflict(client: FlaskClient, session: Session) -> None:
    make_clinic(session, name="Elsewhere")
    assert_rejected(
        client.put(URL, headers=admin_headers(session), json={"name": "Elsewhere"}), "name", 409
    )


def test_the_clinic_needs_a_clinicians_token(client: FlaskClient, session: Session) -> None:
    assert client.get(URL).status_code == 401
