"""Staff and accounts from the pages: the staff page (admins), inviting with the link shown
once, roles, ending access, the last admin kept; one's own password and mobile; a forgotten
password reset through a one-time link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.models import AccountLink, Clinician, ClinicianSession
from server.services.clinics import authenticate
from tests.factories import PASSWORD, csrf_token, make_clinician, post_form, sign_in_pages

NEW_PASSWORD = "lantern kelp meadow"


@pytest.fixture
def admin(client: FlaskClient, session: Session) -> Clinician:
    lead = make_clinician(session, role="admin", email="lead@harbour.example")
    sign_in_pages(client, lead)
    return lead


def shown_link(page: str) -> str:
    found = re.search(r'value="(http://testserver/clinic/password/[\w-]+)"', page)
    assert found is not None, page
    return found.group(1).removeprefix("http://testserver")


def test_an_admin_invites_a_clinician_and_sees_the_link_once(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    response = post_form(
        client,
        "/clinic/staff",
        "/clinic/staff",
        {"email": "Sam@Harbour.example", "name": "Sam Lee", "role": "clinician"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert "could not be e-mailed (no mail server is set up (SMTP_HOST))" in page
    assert shown_link(page)
    staff = client.get("/clinic/staff").get_data(as_text=True)
    assert "Invited, not signed up yet" in staff
    assert "sam@harbour.example" in staff


def test_an_invited_clinician_sets_a_password_through_the_link_and_signs_in(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    page = post_form(client, "/clinic/staff", "/clinic/staff", {"email": "sam@harbour.example"})
    link = shown_link(page.get_data(as_text=True))
    client.post("/clinic/logout", data={"csrf_token": _token(client, "/clinic/")})

    form = client.get(link).get_data(as_text=True)
    weak = post_form(client, link, link, {"password": "password1234"})
    done = post_form(client, link, link, {"password": NEW_PASSWORD})
    again = client.get(link)

    assert "Welcome to" in form
    assert weak.status_code == 422
    assert "most common passwords" in weak.get_data(as_text=True)
    assert (done.status_code, done.headers["Location"]) == (302, "/clinic/login")
    assert again.status_code == 410
    assert authenticate(session, email="sam@harbour.example", password=NEW_PASSWORD)


def _token(client: FlaskClient, page_url: str) -> str:
    return csrf_token(client.get(page_url).get_data(as_text=True))


def test_an_unknown_link_is_not_found(client: FlaskClient, session: Session) -> None:
    response = client.get("/clinic/password/not-a-token")

    assert response.status_code == 404
    assert "This link no longer works" in response.get_data(as_text=True)


def test_an_expired_link_is_gone(client: FlaskClient, session: Session, admin: Clinician) -> None:
    page = post_form(client, "/clinic/staff", "/clinic/staff", {"email": "sam@harbour.example"})
    link = shown_link(page.get_data(as_text=True))
    session.execute(update(AccountLink).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    session.commit()

    assert client.get(link).status_code == 410
    assert post_form(client, link, link, {"password": NEW_PASSWORD}).status_code == 410


def test_ending_access_signs_the_clinician_out_of_the_pages(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    session.add(ClinicianSession(clinician_id=colleague.id, token_hash="x" * 64))
    session.commit()

    response = post_form(client, "/clinic/staff", f"/clinic/staff/{colleague.id}/deactivate", {})

    assert response.status_code == 302
    session.expire_all()
    assert session.get_one(Clinician, colleague.id).is_active is False
    assert (
        session.scalars(
            select(ClinicianSession.ended_at).filter_by(clinician_id=colleague.id)
        ).one()
        is not None
    )
    assert "No access" in client.get("/clinic/staff").get_data(as_text=True)


def test_the_last_admin_is_told_why_they_cannot_step_down(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    response = post_form(
        client, "/clinic/staff", f"/clinic/staff/{admin.id}/role", {"role": "clinician"}
    )

    assert response.status_code == 422
    assert "last active admin cannot be demoted" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Clinician, admin.id).role == "admin"


def test_a_clinician_who_is_not_an_admin_has_no_staff_page(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))

    assert client.get("/clinic/staff").status_code == 403
    assert "/clinic/staff" not in client.get("/clinic/").get_data(as_text=True)


def test_a_clinician_changes_their_password_and_stays_signed_in_here(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    response = post_form(
        client,
        "/clinic/account",
        "/clinic/account/password",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert client.get("/clinic/account").status_code == 200  # this session kept
    assert authenticate(session, email=admin.email, password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"old_password": "wrong one here", "new_password": NEW_PASSWORD}, "not your current"),
        ({"old_password": PASSWORD, "new_password": "tiny"}, "at least 10 characters"),
    ],
)
def test_a_refused_password_change_says_why(
    client: FlaskClient, session: Session, admin: Clinician, fields: dict[str, str], says: str
) -> None:
    response = post_form(client, "/clinic/account", "/clinic/account/password", fields)

    assert response.status_code == 422
    assert says in response.get_data(as_text=True)


def test_a_clinician_sets_their_own_mobile_for_urgent_alerts(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    saved = post_form(client, "/clinic/account", "/clinic/account/phone", {"phone": "604 555 0177"})
    refused = post_form(client, "/clinic/account", "/clinic/account/phone", {"phone": "555"})

    assert saved.status_code == 302
    assert refused.status_code == 422
    session.expire_all()
    assert session.get_one(Clinician, admin.id).phone == "+16045550177"


def test_the_forgotten_password_form_answers_the_same_for_any_address(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="sam@harbour.example")
    session.commit()

    known = post_form(
        client,
        "/clinic/password/forgot",
        "/clinic/password/forgot",
        {"email": "sam@harbour.example"},
    )
    unknown = post_form(
        client, "/clinic/password/forgot", "/clinic/password/forgot", {"email": "who@x.example"}
    )

    assert known.status_code == unknown.status_code == 200
    assert "If an account has this address" in known.get_data(as_text=True)
    assert known.get_data(as_text=True).replace("sam@harbour.example", "") == unknown.get_data(
        as_text=True
    ).replace("who@x.example", "")
    assert len(session.scalars(select(AccountLink)).all()) == 1
    assert "Forgotten your password?" in client.get("/clinic/login").get_data(as_text=True)
