"""Alert routing, contacts, acknowledgements and notices through the API: each rule a test."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AlertContact, AuditEvent, Clinician
from server.services.alerting.routing import DEFAULT_ROUTING, stored
from tests.factories import bearer, make_clinic, make_clinician
from tests.http import assert_rejected
from tests.test_alert_notices import URGENT, clinic_with_staff, flagged

ROUTING_URL = "/api/v1/clinic/alert-routing"
CONTACTS_URL = "/api/v1/clinic/alert-contacts"
STEP = {"groups": ["treating", "on_call"], "channels": ["email"]}
CUSTOM = {
    "urgent": [STEP, {"groups": ["admins"], "channels": ["email", "sms"]}],
    "same_day": [STEP],
    "routine": [{"groups": ["treating"], "channels": ["email"]}],
}


@pytest.fixture
def admin(session: Session) -> Clinician:
    return make_clinician(session, role="admin")


def test_the_default_routing_is_shown_until_an_admin_sets_one(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    body = client.get(ROUTING_URL, headers=bearer(session, admin)).get_json()

    assert body == {
        "escalate_after_min": 15,
        "routing": stored(DEFAULT_ROUTING),
        "is_default": True,
    }


def test_an_admin_sets_the_routing_and_it_is_audited(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    response = client.put(
        ROUTING_URL,
        headers=bearer(session, admin),
        json={"escalate_after_min": 10, "routing": CUSTOM},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"escalate_after_min": 10, "routing": CUSTOM, "is_default": False}
    [event] = session.scalars(select(AuditEvent).filter_by(action="clinic.alert_routing_updated"))
    assert event.details["new"]["escalate_after_min"] == 10


def test_a_null_routing_restores_the_default(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    client.put(ROUTING_URL, headers=headers, json={"escalate_after_min": 10, "routing": CUSTOM})

    body = client.put(
        ROUTING_URL, headers=headers, json={"escalate_after_min": 15, "routing": None}
    ).get_json()

    assert body["is_default"] is True
    assert body["routing"] == stored(DEFAULT_ROUTING)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"escalate_after_min": 0}, "escalate_after_min"),
        ({"escalate_after_min": 241}, "escalate_after_min"),
        ({"routing": {**CUSTOM, "same_day": [STEP, STEP]}}, "routing.same_day"),
        ({"routing": {**CUSTOM, "routine": []}}, "routing.routine"),
        ({"routing": {**CUSTOM, "urgent": [STEP] * 6}}, "routing.urgent"),
        (
            {"routing": {**CUSTOM, "urgent": [{"groups": ["janitor"], "channels": ["email"]}]}},
            "routing.urgent.0.groups.0",
        ),
        (
            {"routing": {**CUSTOM, "urgent": [{"groups": [], "channels": ["email"]}]}},
            "routing.urgent.0.groups",
        ),
        (
            {"routing": {**CUSTOM, "urgent": [{"groups": ["admins"], "channels": ["fax"]}]}},
            "routing.urgent.0.channels.0",
        ),
        (
            {"routing": {**CUSTOM, "urgent": [{"groups": ["admins"], "channels": []}]}},
            "routing.urgent.0.channels",
        ),
        ({"routing": {k: v for k, v in CUSTOM.items() if k != "routine"}}, "routing.routine"),
        ({"routing": {**CUSTOM, "someday": [STEP]}}, "routing.someday"),
    ],
)
def test_routing_breaking_a_rule_is_refused_naming_where(
    client: FlaskClient, session: Session, admin: Clinician, change: dict[str, Any], field: str
) -> None:
    body = {"escalate_after_min": 15, "routing": CUSTOM, **change}

    response = client.put(ROUTING_URL, headers=bearer(session, admin), json=body)

    assert_rejected(response, field)
    session.expire_all()
    assert admin.clinic.alert_routing is None  # nothing half-written


def test_a_step_naming_a_group_twice_is_refused(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    twice = {"groups": ["admins", "admins"], "channels": ["email"]}
    body = {"escalate_after_min": 15, "routing": {**CUSTOM, "urgent": [twice]}}

    response = client.put(ROUTING_URL, headers=bearer(session, admin), json=body)

    assert_rejected(response, "routing.urgent.0.groups")


def test_only_an_admin_sets_the_routing(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    body = {"escalate_after_min": 15, "routing": CUSTOM}

    response = client.put(ROUTING_URL, headers=bearer(session, clinician), json=body)

    assert response.status_code == 403


# --- contacts ---------------------------------------------------------------------------------


def test_an_admin_adds_an_outside_contact_and_a_clinician_and_lists_them(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    colleague = make_clinician(session, admin.clinic, email="cover@harbour.example")
    outside = {"role": "on_call", "name": "Night phone", "phone": "604 555 0142"}

    added = client.post(CONTACTS_URL, headers=headers, json=outside)
    member = client.post(
        CONTACTS_URL, headers=headers, json={"role": "backup", "clinician_id": colleague.id}
    )

    assert (added.status_code, member.status_code) == (201, 201)
    assert added.get_json()["phone"] == "+16045550142"  # E.164, read in the clinic's country
    listed = client.get(CONTACTS_URL, headers=headers).get_json()
    assert [(c["role"], c["name"]) for c in listed] == [
        ("on_call", "Night phone"),
        ("backup", "cover@harbour.example"),
    ]
    actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("clinic.alert_contact_added") == 2


def test_a_clinician_contact_may_carry_a_mobile_for_the_role(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    colleague = make_clinician(session, admin.clinic, email="cover@harbour.example")

    added = client.post(
        CONTACTS_URL,
        headers=headers,
        json={"role": "on_call", "clinician_id": colleague.id, "phone": "604 555 0177"},
    )
    refused = client.post(
        CONTACTS_URL,
        headers=headers,
        json={"role": "backup", "clinician_id": colleague.id, "phone": "555"},
    )

    assert added.get_json()["phone"] == "+16045550177"
    assert_rejected(refused, "phone")


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"role": "on_call", "email": "a@b.example"}, "name", 422),
        ({"role": "on_call", "name": "Desk"}, "email", 422),
        ({"role": "on_call", "name": "Desk", "email": "not an address"}, "email", 422),
        (
            {"role": "on_call", "name": "Desk", "email": "a@b.example\r\nBcc: x@y.example"},
            "email",
            422,
        ),
        ({"role": "on_call", "name": "Desk", "phone": "12"}, "phone", 422),
        ({"role": "chief", "name": "Desk", "email": "a@b.example"}, "role", 422),
        ({"role": "on_call", "clinician_id": 2**31 - 1}, "clinician_id", 404),
    ],
)
def test_a_contact_breaking_a_rule_is_refused_naming_the_field(
    client: FlaskClient,
    session: Session,
    admin: Clinician,
    body: dict[str, Any],
    field: str,
    status: int,
) -> None:
    response = client.post(CONTACTS_URL, headers=bearer(session, admin), json=body)

    assert_rejected(response, field, status)
    assert session.scalars(select(AlertContact)).all() == []


def test_a_clinician_of_another_clinic_cannot_be_a_contact(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    stranger = make_clinician(session, make_clinic(session, name="Elsewhere"))

    response = client.post(
        CONTACTS_URL,
        headers=bearer(session, admin),
        json={"role": "on_call", "clinician_id": stranger.id},
    )

    assert_rejected(response, "clinician_id", 404)


def test_a_clinician_is_a_contact_of_a_role_once(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    body = {"role": "on_call", "clinician_id": admin.id}
    client.post(CONTACTS_URL, headers=headers, json=body)

    assert_rejected(client.post(CONTACTS_URL, headers=headers, json=body), "clinician_id", 409)


def test_an_admin_removes_a_contact(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    added = client.post(
        CONTACTS_URL, headers=headers, json={"role": "on_call", "name": "D", "email": "d@x.example"}
    ).get_json()

    assert client.delete(f"{CONTACTS_URL}/{added['id']}", headers=headers).status_code == 204
    assert client.get(CONTACTS_URL, headers=headers).get_json() == []
    assert client.delete(f"{CONTACTS_URL}/{added['id']}", headers=headers).status_code == 404


# --- acknowledging, and who was told -------------------------------------------------------------


def test_acknowledging_through_the_api_needs_what_was_done(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    headers = bearer(session, staff["treating"])
    url = f"/api/v1/alerts/{alert.id}/ack"

    assert_rejected(client.post(url, headers=headers, json={}), "action")
    assert_rejected(client.post(url, headers=headers, json={"action": "shrugged"}), "action")
    assert_rejected(
        client.post(url, headers=headers, json={"action": "called_patient", "note": "x" * 1001}),
        "note",
    )
    done = client.post(url, headers=headers, json={"action": "booked_review", "note": "Fri 9:00"})
    assert done.status_code == 200
    assert (done.get_json()["ack_action"], done.get_json()["ack_note"]) == (
        "booked_review",
        "Fri 9:00",
    )


def test_an_alerts_notices_say_who_was_told_how_and_how_it_went(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)

    notices = client.get(
        f"/api/v1/alerts/{alert.id}/notices", headers=bearer(session, staff["admin"])
    ).get_json()

    assert [(n["step"], n["recipient"], n["channel"], n["status"]) for n in notices] == [
        (1, "treating@harbour.example", "email", "pending"),
        (1, "oncall@harbour.example", "email", "pending"),
        (1, "Night phone", "email", "pending"),
        (2, "backup@harbour.example", "email", "pending"),
        (3, "lead@harbour.example", "email", "pending"),
    ]
