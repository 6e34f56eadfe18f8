"""A clinic's staff through the API: invitations (a one-time link that sets the password),
roles, ending and restoring access, the last admin kept, passwords changed and reset, and
each rule of validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AccountLink, ApiToken, AuditEvent, Clinician
from server.services.access import clinician_for_token
from server.services.clinics import authenticate
from server.services.credentials import token_digest
from server.services.staff import use_link
from tests.conftest import Mailbox
from tests.factories import PASSWORD, bearer, make_clinic, make_clinician
from tests.http import assert_rejected

URL = "/api/v1/clinicians"
NEW_PASSWORD = "lantern kelp meadow"


@pytest.fixture
def admin(session: Session) -> Clinician:
    clinician = make_clinician(session, role="admin", email="lead@harbour.example")
    session.commit()
    return clinician


def invite(client: FlaskClient, headers: dict[str, str], **fields: Any) -> Any:
    response = client.post(URL, headers=headers, json={"email": "new@harbour.example", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --- invitations ------------------------------------------------------------------------------


def test_an_invitation_without_a_mail_server_returns_its_link_once(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    body = invite(client, bearer(session, admin), name="Sam Lee", role="clinician")

    assert body["mailed"] is False
    assert body["why_not_mailed"] == "no mail server is set up (SMTP_HOST)"
    assert body["link"]["url"].startswith("http://testserver/clinic/password/")
    expires = datetime.fromisoformat(body["link"]["expires_at"])
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)
    assert (body["clinician"]["invited"], body["clinician"]["role"]) == (True, "clinician")
    stored = session.scalars(select(AccountLink)).one()
    assert stored.token_hash == token_digest(token_of(body["link"]["url"]))  # only the hash


def test_an_invited_clinician_sets_their_password_once_and_signs_in(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    body = invite(client, bearer(session, admin))
    token = token_of(body["link"]["url"])
    now = datetime.now(UTC)

    use_link(session, token=token, password=NEW_PASSWORD, now=now)
    session.commit()

    assert authenticate(session, email="new@harbour.example", password=NEW_PASSWORD)
    with pytest.raises(Exception, match="expired or was used"):
        use_link(session, token=token, password="another fine password", now=now)


def test_an_invitation_is_mailed_when_a_mail_server_is_set_up(
    client: FlaskClient,
    session: Session,
    admin: Clinician,
    app: Flask,
    mailbox: Mailbox,
    smtp_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_port)

    body = invite(client, bearer(session, admin))

    assert (body["mailed"], body["link"]) == (True, None)
    [message] = mailbox.messages
    assert message["To"] == "new@harbour.example"
    assert "/clinic/password/" in message.get_payload()


@pytest.mark.parametrize(
    ("fields", "field", "status"),
    [
        ({"email": "not-an-address"}, "email", 422),
        ({"email": None}, "email", 422),
        ({"role": "network_admin"}, "role", 422),
        ({"role": "owner"}, "role", 422),
        ({"name": "x" * 201}, "name", 422),
        ({"email": "lead@harbour.example"}, "email", 409),
        ({"colour": "blue"}, "colour", 422),
    ],
)
def test_a_bad_invitation_is_refused_naming_the_field(
    client: FlaskClient,
    session: Session,
    admin: Clinician,
    fields: dict[str, Any],
    field: str,
    status: int,
) -> None:
    body = {"email": "new@harbour.example", **fields}

    response = client.post(URL, headers=bearer(session, admin), json=body)

    assert_rejected(response, field, status)
    assert len(session.scalars(select(Clinician)).all()) == 1


def test_a_clinician_who_is_not_an_admin_cannot_manage_staff(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, make_clinician(session, admin.clinic))

    assert client.get(URL, headers=headers).status_code == 403
    assert client.post(URL, headers=headers, json={"email": "x@y.example"}).status_code == 403
    assert (
        client.patch(f"{URL}/{admin.id}", headers=headers, json={"role": "clinician"}).status_code
        == 403
    )


def test_another_clinics_clinician_is_not_found(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    stranger = make_clinician(session, make_clinic(session, name="Other"))

    response = client.patch(
        f"{URL}/{stranger.id}", headers=bearer(session, admin), json={"is_active": False}
    )

    assert response.status_code == 404


# --- roles and access ----------------------------------------------------------------------------


def test_an_admin_lists_changes_roles_and_it_is_audited_with_old_and_new(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    headers = bearer(session, admin)

    changed = client.patch(f"{URL}/{colleague.id}", headers=headers, json={"role": "admin"})
    listed = client.get(URL, headers=headers).get_json()

    assert changed.get_json()["role"] == "admin"
    assert [member["email"] for member in listed] == ["lead@harbour.example", "sam@harbour.example"]
    event = session.scalars(select(AuditEvent).filter_by(action="clinician.role_changed")).one()
    assert (event.target, event.details) == (
        f"clinician:{colleague.id}",
        {"old": "clinician", "new": "admin"},
    )


def test_deactivating_ends_sessions_and_tokens_at_once_and_keeps_the_record(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    their_headers = bearer(session, colleague)
    assert client.get("/api/v1/patients", headers=their_headers).status_code == 200

    response = client.patch(
        f"{URL}/{colleague.id}", headers=bearer(session, admin), json={"is_active": False}
    )

    assert response.get_json()["is_active"] is False
    assert client.get("/api/v1/patients", headers=their_headers).status_code == 401
    session.expire_all()
    assert session.get(Clinician, colleague.id) is not None
    assert all(
        token.revoked_at
        for token in session.scalars(select(ApiToken).filter_by(clinician_id=colleague.id))
    )
    with pytest.raises(Exception, match="wrong e-mail or password"):
        authenticate(session, email="sam@harbour.example", password=PASSWORD)


def test_a_restored_clinician_signs_in_again(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    headers = bearer(session, admin)
    client.patch(f"{URL}/{colleague.id}", headers=headers, json={"is_active": False})

    client.patch(f"{URL}/{colleague.id}", headers=headers, json={"is_active": True})

    assert authenticate(session, email="sam@harbour.example", password=PASSWORD)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"role": "clinician"}, "role"), ({"is_active": False}, "is_active")],
    ids=["demoted", "deactivated"],
)
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    client: FlaskClient, session: Session, admin: Clinician, change: dict[str, Any], field: str
) -> None:
    invited = invite(client, bearer(session, admin), role="admin")  # cannot sign in yet

    response = client.patch(f"{URL}/{admin.id}", headers=bearer(session, admin), json=change)

    assert_rejected(response, field, 409)
    assert "last active admin" in response.get_json()["errors"][field][0]
    assert invited["clinician"]["invited"] is True
    session.expire_all()
    assert (admin.role, admin.is_active) == ("admin", True)


def test_an_admin_can_step_down_once_another_admin_can_sign_in(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    make_clinician(session, admin.clinic, role="admin", email="other@harbour.example")

    response = client.patch(
        f"{URL}/{admin.id}", headers=bearer(session, admin), json={"role": "clinician"}
    )

    assert response.get_json()["role"] == "clinician"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "_schema"),
        ({"role": "boss"}, "role"),
        ({"is_active": "no"}, "is_active"),
        ({"email": "x@y.example"}, "email"),
    ],
)
def test_a_bad_change_is_refused_naming_the_field(
    client: FlaskClient, session: Session, admin: Clinician, change: dict[str, Any], field: str
) -> None:
    colleague = make_clinician(session, admin.clinic)

    response = client.patch(f"{URL}/{colleague.id}", headers=bearer(session, admin), json=change)

    assert_rejected(response, field)


# --- passwords -----------------------------------------------------------------------------------


def test_a_clinician_changes_their_password_with_the_old_one(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    headers = bearer(session, admin)
    other_token = bearer(session, admin)

    response = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 204
    assert authenticate(session, email=admin.email, password=NEW_PASSWORD)
    for used in (headers, other_token):  # every token ends, in case the old one leaked
        assert client.get("/api/v1/patients", headers=used).status_code == 401


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"old_password": "not my password", "new_password": NEW_PASSWORD}, "old_password"),
        ({"old_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "password1234"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "qwertyuiop123"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "lead@harbour.example"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "x" * 257}, "new_password"),
        ({"old_password": PASSWORD}, "new_password"),
    ],
    ids=["wrong old", "too short", "common", "keyboard walk", "own e-mail", "too long", "none"],
)
def test_a_weak_or_unproven_password_change_is_refused(
    client: FlaskClient, session: Session, admin: Clinician, fields: dict[str, str], field: str
) -> None:
    headers = bearer(session, admin)

    response = client.post("/api/v1/auth/password", headers=headers, json=fields)

    assert_rejected(response, field)
    assert authenticate(session, email=admin.email, password=PASSWORD)
    assert clinician_for_token(session, token=headers["Authorization"][7:], now=datetime.now(UTC))


def test_a_reset_request_answers_the_same_whether_or_not_the_address_exists(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    known = client.post("/api/v1/auth/password-reset", json={"email": admin.email})
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "nobody@x.example"})

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.get_json() == unknown.get_json()
    [link] = session.scalars(select(AccountLink)).all()
    assert (link.clinician_id, link.purpose) == (admin.id, "reset")
    assert timedelta(minutes=59) < link.expires_at - link.created_at <= timedelta(hours=1)


def test_reset_requests_are_rate_limited_per_address(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    answers = [
        client.post("/api/v1/auth/password-reset", json={"email": "nobody@x.example"}).status_code
        for _ in range(11)
    ]

    assert answers[:10] == [202] * 10
    assert answers[10] == 429


def test_an_admin_makes_a_reset_link_to_hand_over(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")

    body = client.post(
        f"{URL}/{colleague.id}/reset-link", headers=bearer(session, admin)
    ).get_json()
    use_link(
        session, token=token_of(body["link"]["url"]), password=NEW_PASSWORD, now=datetime.now(UTC)
    )
    session.commit()

    assert authenticate(session, email="sam@harbour.example", password=NEW_PASSWORD)
