"""Two-factor sign-in: codes of the current step and its neighbours, never twice; recovery codes
once each; the pages' sign-in asking for the code (or its setup where the clinic requires it);
API tokens asking for it too; an admin's reset; the clinic's requirement audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput
from server.models import AuditEvent, Clinician, RecoveryCode
from server.services.two_factor import check_code, enable, new_secret, set_requirement
from tests.factories import PASSWORD, bearer, csrf_token, make_clinician, sign_in_pages
from tests.http import assert_rejected

NOW = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def with_two_factor(
    session: Session, clinician: Clinician, now: datetime = NOW
) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for the clinician; their secret and recovery codes."""
    secret = new_secret()
    codes = enable(session, clinician=clinician, secret=secret, code=code_at(secret, now), now=now)
    session.commit()
    return secret, codes


# --- codes ------------------------------------------------------------------------------------


def test_enabling_needs_a_code_made_with_the_secret(session: Session) -> None:
    clinician = make_clinician(session)
    secret = new_secret()

    with pytest.raises(InvalidInput, match="not right"):
        enable(session, clinician=clinician, secret=secret, code="000000", now=NOW)
    codes = enable(session, clinician=clinician, secret=secret, code=code_at(secret, NOW), now=NOW)

    assert clinician.totp_secret == secret
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert not set(codes) & set(stored)  # only hashes are kept


@pytest.mark.parametrize("offset_s", [-30, 0, 30])
def test_a_code_of_this_step_or_a_neighbour_is_accepted(session: Session, offset_s: int) -> None:
    clinician = make_clinician(session)
    secret, _ = with_two_factor(session, clinician)
    later = NOW + timedelta(minutes=5)

    check_code(
        session,
        clinician=clinician,
        code=code_at(secret, later + timedelta(seconds=offset_s)),
        now=later,
    )


@pytest.mark.parametrize("offset_s", [-90, 90])
def test_a_code_two_steps_away_is_refused(session: Session, offset_s: int) -> None:
    clinician = make_clinician(session)
    secret, _ = with_two_factor(session, clinician)
    later = NOW + timedelta(minutes=5)

    with pytest.raises(InvalidInput):
        check_code(
            session,
            clinician=clinician,
            code=code_at(secret, later + timedelta(seconds=offset_s)),
            now=later,
        )


def test_a_code_is_accepted_once(session: Session) -> None:
    clinician = make_clinician(session)
    secret, _ = with_two_factor(session, clinician)
    later = NOW + timedelta(minutes=5)
    code = code_at(secret, later)

    check_code(session, clinician=clinician, code=code, now=later)
    with pytest.raises(InvalidInput, match="already used"):
        check_code(session, clinician=clinician, code=code, now=later + timedelta(seconds=10))


def test_a_recovery_code_signs_in_once_whatever_its_case_and_hyphen(session: Session) -> None:
    clinician = make_clinician(session)
    _, codes = with_two_factor(session, clinician)

    check_code(session, clinician=clinician, code=codes[0].upper().replace("-", " "), now=NOW)
    with pytest.raises(InvalidInput):
        check_code(session, clinician=clinician, code=codes[0], now=NOW)
    event = session.scalars(
        select(AuditEvent).filter_by(action="clinician.recovery_code_used")
    ).one()
    assert event.details == {"left": 9}


# --- the pages' sign-in ----------------------------------------------------------------------


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> object:
    token = csrf_token(client.get("/clinic/login").get_data(as_text=True))
    return client.post(
        "/clinic/login", data={"csrf_token": token, "email": email, "password": password}
    )


def post_code(client: FlaskClient, page: str, action: str, code: str) -> object:
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, "code": code})


def test_signing_in_with_two_factor_asks_for_the_code_before_a_session_starts(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="sam@harbour.example")
    secret, _ = with_two_factor(session, clinician)

    answer = log_in(client, "sam@harbour.example")

    assert answer.headers["Location"] == "/clinic/login/code"  # type: ignore[attr-defined]
    assert client.get("/clinic/").status_code == 302  # not signed in yet
    wrong = post_code(client, "/clinic/login/code", "/clinic/login/code", "123456")
    assert wrong.status_code == 422  # type: ignore[attr-defined]
    right = post_code(client, "/clinic/login/code", "/clinic/login/code", pyotp.TOTP(secret).now())
    assert right.status_code == 302  # type: ignore[attr-defined]
    assert client.get("/clinic/").status_code == 200


def test_a_wrong_code_counts_against_the_sign_in_allowance(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="sam@harbour.example")
    with_two_factor(session, clinician)
    log_in(client, "sam@harbour.example")

    statuses = [
        post_code(client, "/clinic/login/code", "/clinic/login/code", "000000").status_code  # type: ignore[attr-defined]
        for _ in range(11)
    ]

    assert statuses == [422] * 10 + [429]  # as many wrong codes as wrong passwords


def test_a_pending_sign_in_lapses_after_ten_minutes(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session, email="sam@harbour.example")
    secret, _ = with_two_factor(session, clinician)
    log_in(client, "sam@harbour.example")
    with client.session_transaction() as cookie:
        pending = dict(cookie["pending"])
        cookie["pending"] = {**pending, "since": pending["since"] - 11 * 60}

    answer = post_code(client, "/clinic/login", "/clinic/login/code", pyotp.TOTP(secret).now())

    assert answer.headers["Location"] == "/clinic/login"  # type: ignore[attr-defined]
    assert client.get("/clinic/").status_code == 302


def test_where_the_clinic_requires_it_the_first_sign_in_sets_it_up(
    client: FlaskClient, session: Session
) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    set_requirement(session, admin=admin, required=True, now=NOW)
    session.commit()

    answer = log_in(client, "lead@harbour.example")
    page = client.get("/clinic/login/two-factor")
    secret = re.search(r'class="secret">([A-Z2-7 ]+)<', page.get_data(as_text=True))

    assert answer.headers["Location"] == "/clinic/login/two-factor"  # type: ignore[attr-defined]
    assert page.headers["Cache-Control"] == "no-store"
    assert "<svg" in page.get_data(as_text=True)
    assert secret is not None
    done = post_code(
        client,
        "/clinic/login/two-factor",
        "/clinic/login/two-factor",
        pyotp.TOTP(secret.group(1).replace(" ", "")).now(),
    )
    assert "Your recovery codes" in done.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/clinic/").status_code == 200
    session.expire_all()
    assert session.get_one(Clinician, admin.id).totp_secret == secret.group(1).replace(" ", "")


def test_the_requirement_is_audited_with_old_and_new(session: Session) -> None:
    admin = make_clinician(session, role="admin")

    set_requirement(session, admin=admin, required=True, now=NOW)

    event = session.scalars(select(AuditEvent).filter_by(action="clinic.updated")).one()
    assert event.details == {"field": "require_two_factor", "old": False, "new": True}


def test_an_admin_resets_a_clinicians_two_factor(client: FlaskClient, session: Session) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    with_two_factor(session, colleague)
    sign_in_pages(client, admin)

    token = csrf_token(client.get("/clinic/staff").get_data(as_text=True))
    client.post(f"/clinic/staff/{colleague.id}/two-factor-reset", data={"csrf_token": token})

    session.expire_all()
    assert session.get_one(Clinician, colleague.id).totp_secret is None
    assert session.scalars(select(RecoveryCode)).all() == []


def test_turning_it_off_needs_a_code_and_is_refused_where_required(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, role="admin", email="lead@harbour.example")
    secret, _ = with_two_factor(session, clinician)
    sign_in_pages(client, clinician)

    wrong = post_code(client, "/clinic/account", "/clinic/account/two-factor/off", "000000")
    set_requirement(session, admin=clinician, required=True, now=NOW)
    session.commit()
    refused = post_code(
        client, "/clinic/account", "/clinic/account/two-factor/off", pyotp.TOTP(secret).now()
    )

    assert wrong.status_code == 422  # type: ignore[attr-defined]
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "requires two-factor" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    session.expire_all()
    assert session.get_one(Clinician, clinician.id).totp_secret == secret


# --- API tokens -------------------------------------------------------------------------------


def ask_token(client: FlaskClient, **fields: str) -> object:
    body = {"email": "sam@harbour.example", "password": PASSWORD, **fields}
    return client.post("/api/v1/auth/token", json=body)


def test_an_api_token_asks_for_the_code_of_an_account_with_two_factor(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session, email="sam@harbour.example")
    secret, codes = with_two_factor(session, clinician)

    assert_rejected(ask_token(client), "code", 401)  # type: ignore[arg-type]
    assert_rejected(ask_token(client, code="000000"), "code", 401)  # type: ignore[arg-type]
    assert ask_token(client, code=pyotp.TOTP(secret).now()).status_code == 201  # type: ignore[attr-defined]
    assert ask_token(client, code=codes[1]).status_code == 201  # type: ignore[attr-defined]


def test_an_api_token_is_refused_until_a_required_two_factor_is_set_up(
    client: FlaskClient, session: Session
) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    make_clinician(session, admin.clinic, email="sam@harbour.example")
    set_requirement(session, admin=admin, required=True, now=NOW)
    session.commit()

    assert_rejected(ask_token(client), "code", 403)  # type: ignore[arg-type]


def test_the_requirement_is_set_through_the_clinic_settings_api(
    client: FlaskClient, session: Session
) -> None:
    admin = make_clinician(session, role="admin")
    headers = bearer(session, admin)

    body = client.put(
        "/api/v1/clinic", headers=headers, json={"require_two_factor": True}
    ).get_json()
    refused = client.put("/api/v1/clinic", headers=headers, json={"require_two_factor": "yes"})

    assert body["require_two_factor"] is True
    assert_rejected(refused, "require_two_factor")
