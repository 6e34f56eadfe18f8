"""Signing in and out of the clinician pages: credentials, the rate limit, CSRF, login_required."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import AuditEvent
from server.services.access import live_session
from tests.factories import (
    PASSWORD,
    csrf_token,
    make_clinician,
    post_form,
    sign_in_pages,
)

LOGIN_URL = "/clinic/login"
PER_MINUTE = 10  # the default LOGIN_RATE_LIMIT: "10 per minute;50 per hour"


def log_in(
    client: FlaskClient, email: str, password: str = PASSWORD, next_page: str = ""
) -> TestResponse:
    """Fill in and post the login form, as a browser would."""
    return post_form(
        client,
        LOGIN_URL,
        LOGIN_URL,
        {"email": email, "password": password, "next": next_page},
    )


def signed_in_id(client: FlaskClient, session: Session) -> int | None:
    """The clinician whose live session the cookie holds (None: signed out)."""
    with client.session_transaction() as cookie:
        token = cookie.get("session_token")
    row = None if token is None else live_session(session, token=token, now=datetime.now(UTC))
    return None if row is None else row.clinician_id


def test_login_with_the_right_password_starts_a_session(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="lee@example.org")

    response = log_in(client, "Lee@Example.org")

    assert response.status_code == 302
    assert response.headers["Location"] == "/clinic/"
    assert signed_in_id(client, session) == clinician.id
    assert session.scalar(select(AuditEvent).filter_by(action="clinician.signed_in")) is not None


def test_login_replaces_the_session_it_came_with(client: FlaskClient, session: Session) -> None:
    make_clinician(session, email="lee@example.org")
    with client.session_transaction() as cookie:
        cookie["planted"] = "by someone else"

    log_in(client, "lee@example.org")

    with client.session_transaction() as cookie:
        assert "planted" not in cookie


def test_login_with_a_wrong_password_is_refused(client: FlaskClient, session: Session) -> None:
    make_clinician(session, email="lee@example.org")

    response = log_in(client, "lee@example.org", password="not-the-password")

    assert response.status_code == 422
    assert "Wrong e-mail or password" in response.get_data(as_text=True)
    assert signed_in_id(client, session) is None


def test_login_of_an_unknown_email_says_the_same(client: FlaskClient, session: Session) -> None:
    response = log_in(client, "nobody@example.org")

    assert response.status_code == 422
    assert "Wrong e-mail or password" in response.get_data(as_text=True)


def test_inactive_clinician_cannot_log_in(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session, email="lee@example.org")
    clinician.is_active = False

    response = log_in(client, "lee@example.org")

    assert response.status_code == 422
    assert signed_in_id(client, session) is None


def test_clinician_made_inactive_is_signed_out_on_the_next_page(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    sign_in_pages(client, clinician)
    clinician.is_active = False

    response = client.get("/clinic/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN_URL)


def test_login_form_without_an_email_names_the_field(client: FlaskClient, session: Session) -> None:
    response = log_in(client, "")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="email-error"' in page
    assert 'aria-describedby="email-error"' in page


def test_eleventh_login_in_a_minute_gets_the_too_many_page(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")
    token = csrf_token(client.get(LOGIN_URL).get_data(as_text=True))
    attempt = {"csrf_token": token, "email": "lee@example.org", "password": "wrong-one"}
    statuses = [client.post(LOGIN_URL, data=attempt).status_code for _ in range(PER_MINUTE)]

    response = client.post(LOGIN_URL, data=attempt | {"password": PASSWORD})

    assert statuses == [422] * PER_MINUTE
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert signed_in_id(client, session) is None


def test_login_limit_is_read_from_the_config(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    log_in(client, "nobody@example.org")
    log_in(client, "nobody@example.org")

    assert log_in(client, "nobody@example.org").status_code == 429


def test_api_token_attempts_count_against_the_login_page(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")
    for _ in range(PER_MINUTE):
        client.post("/api/v1/auth/token", json={"email": "lee@example.org", "password": "x"})

    assert log_in(client, "lee@example.org").status_code == 429


def test_showing_the_login_form_is_not_limited(client: FlaskClient, session: Session) -> None:
    statuses = {client.get(LOGIN_URL).status_code for _ in range(PER_MINUTE + 2)}

    assert statuses == {200}


def test_logout_ends_the_session(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    response = post_form(client, "/clinic/", "/clinic/logout", {})

    assert response.status_code == 302
    assert response.headers["Location"] == LOGIN_URL
    assert signed_in_id(client, session) is None
    assert client.get("/clinic/").status_code == 302


def test_logout_is_not_a_link(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    response = client.get("/clinic/logout")

    assert response.status_code == 405
    assert signed_in_id(client, session) is not None


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    response = client.post("/clinic/logout")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert signed_in_id(client, session) is not None


def test_login_without_a_csrf_token_is_refused(client: FlaskClient, session: Session) -> None:
    make_clinician(session, email="lee@example.org")

    response = client.post(LOGIN_URL, data={"email": "lee@example.org", "password": PASSWORD})

    assert response.status_code == 400
    assert signed_in_id(client, session) is None


def test_login_required_sends_to_the_login_page_and_back(
    client: FlaskClient, session: Session
) -> None:
    make_clinician(session, email="lee@example.org")

    first = client.get("/clinic/patients?q=P-0")
    after_login = log_in(client, "lee@example.org", next_page="/clinic/patients?q=P-0")

    assert first.status_code == 302
    assert first.headers["Location"] == "/clinic/login?next=/clinic/patients?q%3DP-0"
    assert after_login.headers["Location"] == "/clinic/patients?q=P-0"


@pytest.mark.parametrize(
    "next_page",
    [
        "https://evil.example/clinic/",
        "//evil.example/clinic/",
        "/\\evil.example",
        "/api/v1/patients",
        "javascript:alert(1)",
        "/clinic/\r\nLocation: https://evil.example",
    ],
)
def test_login_never_goes_on_to_another_site(
    client: FlaskClient, session: Session, next_page: str
) -> None:
    make_clinician(session, email="lee@example.org")

    response = log_in(client, "lee@example.org", next_page=next_page)

    assert response.status_code == 302
    assert response.headers["Location"] == "/clinic/"


def test_signed_in_clinician_skips_the_login_form(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    response = client.get(f"{LOGIN_URL}?next=/clinic/protocols")

    assert response.status_code == 302
    assert response.headers["Location"] == "/clinic/protocols"


def test_clinician_label_is_shown_in_the_header(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    clinician.name = "Dr Lee"
    sign_in_pages(client, clinician)

    page = client.get("/clinic/").get_data(as_text=True)

    assert "Signed in as Dr Lee" in page
