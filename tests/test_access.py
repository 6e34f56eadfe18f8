"""Sessions and API tokens that can be ended: sign-out, expiry, revoking one or all at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ApiToken, AuditEvent, ClinicianSession
from server.services.access import issue_api_token, live_session, revoke_all, start_session
from server.services.enrolment import revoke_patient_tokens
from server.services.links import checkin_link_token
from tests.factories import (
    PASSWORD,
    bearer,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    post_form,
    sign_in_pages,
)
from tests.http import assert_rejected

TOKENS_URL = "/api/v1/auth/tokens"


def now() -> datetime:
    return datetime.now(UTC)


def cookie_of(client: FlaskClient) -> str:
    with client.session_transaction() as cookie:
        token: str = cookie["session_token"]
        return token


def with_cookie(app: Flask, token: str) -> FlaskClient:
    """Another browser holding a copy of a session cookie."""
    thief = app.test_client()
    with thief.session_transaction() as cookie:
        cookie["session_token"] = token
    return thief


# --- sessions of the pages ---------------------------------------------------------------------


def test_signing_out_ends_the_session_for_a_copied_cookie_too(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="lee@example.org")
    post_form(
        client, "/clinic/login", "/clinic/login", {"email": "lee@example.org", "password": PASSWORD}
    )
    copied = cookie_of(client)
    assert with_cookie(app, copied).get("/clinic/").status_code == 200

    post_form(client, "/clinic/", "/clinic/logout", {})

    assert with_cookie(app, copied).get("/clinic/").status_code == 302  # to the login page
    ended = session.scalars(select(ClinicianSession).filter_by(clinician_id=clinician.id)).one()
    assert ended.ended_at is not None


def test_each_sign_in_is_a_session_of_its_own(session: Session) -> None:
    clinician = make_clinician(session)
    phone = start_session(session, clinician=clinician, now=now())
    desk = start_session(session, clinician=clinician, now=now())
    assert phone.token != desk.token
    assert phone.row.token_hash != phone.token  # only its hash is kept


def test_a_session_of_a_clinician_made_inactive_ends(session: Session) -> None:
    clinician = make_clinician(session)
    started = start_session(session, clinician=clinician, now=now())
    clinician.is_active = False
    assert live_session(session, token=started.token, now=now()) is None


def test_revoking_all_ends_every_session_and_token_but_the_one_making_the_change(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    kept = start_session(session, clinician=clinician, now=now())
    other = start_session(session, clinician=clinician, now=now())
    headers = bearer(session, clinician)
    colleague = bearer(session, make_clinician(session, clinician.clinic))

    ended, revoked = revoke_all(
        session, clinician=clinician, now=now(), keep_session_id=kept.row.id
    )
    session.commit()

    assert (ended, revoked) == (1, 1)
    assert live_session(session, token=kept.token, now=now()) is not None
    assert live_session(session, token=other.token, now=now()) is None
    assert client.get("/api/v1/patients", headers=headers).status_code == 401
    assert client.get("/api/v1/patients", headers=colleague).status_code == 200
    event = session.scalars(select(AuditEvent).filter_by(action="clinician.access_revoked")).one()
    assert event.details == {"sessions": 1, "api_tokens": 1}


def test_a_cookie_of_before_sessions_were_kept_signs_in_no_one(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    with client.session_transaction() as cookie:
        cookie["clinician_id"] = clinician.id  # what cookies held before
    assert client.get("/clinic/").status_code == 302


# --- API tokens --------------------------------------------------------------------------------


def test_a_token_has_a_name_and_expires_in_90_days_unless_told(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")
    made = client.post(
        "/api/v1/auth/token",
        json={"email": "lee@example.org", "password": PASSWORD, "name": "nightly export"},
    )
    headers = {"Authorization": f"Bearer {made.get_json()['token']}"}

    [listed] = client.get(TOKENS_URL, headers=headers).get_json()

    assert listed["name"] == "nightly export"
    assert listed["last_used_at"] is not None  # this very request
    lifetime = datetime.fromisoformat(listed["expires_at"]) - datetime.fromisoformat(
        listed["created_at"]
    )
    assert lifetime == timedelta(days=90)
    assert "token" not in listed


def test_a_token_for_a_chosen_number_of_days(client: FlaskClient, session: Session) -> None:
    make_clinician(session, email="lee@example.org")
    body = {"email": "lee@example.org", "password": PASSWORD, "days": 7}
    token = client.post("/api/v1/auth/token", json=body).get_json()["token"]
    [row] = session.scalars(select(ApiToken)).all()
    assert row.expires_at - row.created_at == timedelta(days=7)  # type: ignore[operator]
    assert token


@pytest.mark.parametrize(("field", "value"), [("days", 0), ("days", 366), ("name", "x" * 101)])
def test_a_token_past_its_bounds_is_refused(
    client: FlaskClient, session: Session, field: str, value: object
) -> None:
    make_clinician(session, email="lee@example.org")
    body = {"email": "lee@example.org", "password": PASSWORD, field: value}
    assert_rejected(client.post("/api/v1/auth/token", json=body), field)


def test_an_expired_token_works_no_more(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    token = issue_api_token(session, clinician=clinician, now=now() - timedelta(days=91))
    session.commit()
    response = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert_rejected(response, "authorization", status=401)


def test_revoking_a_token_ends_it_at_once(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    keep, drop = bearer(session, clinician), bearer(session, clinician)
    [dropped, _] = sorted(session.scalars(select(ApiToken.id)).all(), reverse=True)

    assert client.delete(f"{TOKENS_URL}/{dropped}", headers=keep).status_code == 204

    assert client.get("/api/v1/patients", headers=drop).status_code == 401
    assert client.get("/api/v1/patients", headers=keep).status_code == 200
    assert [row["id"] for row in client.get(TOKENS_URL, headers=keep).get_json()] != [dropped]


def test_a_colleagues_token_cannot_be_revoked(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    headers = bearer(session, clinician)
    colleague = make_clinician(session, clinician.clinic)
    theirs = bearer(session, colleague)
    their_id = session.scalars(select(ApiToken.id).filter_by(clinician_id=colleague.id)).one()

    assert client.delete(f"{TOKENS_URL}/{their_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/patients", headers=theirs).status_code == 200


def test_the_cli_lists_and_revokes_tokens(app: Flask, session: Session) -> None:
    clinician = make_clinician(session, email="lee@example.org")
    runner = app.test_cli_runner()
    made = runner.invoke(args=["create-token", "lee@example.org", "--name", "lab", "--days", "30"])
    assert made.exit_code == 0, made.output

    listed = runner.invoke(args=["list-tokens", "lee@example.org"])
    [row_id] = session.scalars(select(ApiToken.id).filter_by(clinician_id=clinician.id)).all()
    assert listed.output.startswith(f"{row_id}\tlab\t")
    revoked = runner.invoke(args=["revoke-token", "lee@example.org", str(row_id)])

    assert revoked.exit_code == 0, revoked.output
    session.expire_all()
    assert session.get(ApiToken, row_id).revoked_at is not None  # type: ignore[union-attr]
    assert runner.invoke(args=["list-tokens", "lee@example.org"]).output == ""


# --- a patient's devices and links ---------------------------------------------------------------


def test_revoking_a_patients_devices_voids_the_links_already_sent(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None, email="sam@example.org")
    checkin = make_open_checkin_now(session, clinician, patient)
    session.commit()
    link = checkin_link_token(
        app.config["SECRET_KEY"],
        checkin_id=checkin.id,
        patient_id=patient.id,
        expires_at=checkin.expires_at,
        version=patient.link_version,
    )
    headers = {"Authorization": f"Bearer {link}"}
    assert client.get(f"/api/v1/me/checkins/{checkin.id}", headers=headers).status_code == 200

    revoke_patient_tokens(session, clinician=clinician, patient=patient, now=now())
    session.commit()

    response = client.get(f"/api/v1/me/checkins/{checkin.id}", headers=headers)
    assert_rejected(response, "authorization", status=401)


def test_signing_in_to_the_pages_helper_makes_a_live_session(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))
    assert client.get("/clinic/").status_code == 200
