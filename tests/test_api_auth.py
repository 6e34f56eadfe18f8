"""POST /api/v1/auth/token and the bearer check every clinician endpoint goes through."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, make_clinician
from tests.http import assert_rejected

TOKEN_URL = "/api/v1/auth/token"
PROTECTED_URL = "/api/v1/patients"


def test_right_credentials_give_a_token(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    session.commit()

    response = client.post(TOKEN_URL, json={"email": clinician.email, "password": PASSWORD})

    assert response.status_code == 201
    assert set(response.get_json()) == {"token"}
    assert response.get_json()["token"]


def test_issued_token_works_as_bearer(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    session.commit()
    token = client.post(
        TOKEN_URL, json={"email": clinician.email, "password": PASSWORD}
    ).get_json()["token"]

    response = client.get(PROTECTED_URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


def test_email_is_matched_without_regard_to_case(client: FlaskClient, session: Session) -> None:
    make_clinician(session, email="lee@example.org")
    session.commit()

    response = client.post(TOKEN_URL, json={"email": "Lee@Example.ORG", "password": PASSWORD})

    assert response.status_code == 201


def test_wrong_password_is_unauthorized(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    session.commit()

    response = client.post(TOKEN_URL, json={"email": clinician.email, "password": "wrong-one-123"})

    assert response.status_code == 401
    assert "token" not in response.get_json()


def test_unknown_email_is_unauthorized_with_the_same_message(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    session.commit()
    wrong_password = client.post(
        TOKEN_URL, json={"email": clinician.email, "password": "wrong-one-123"}
    )

    unknown_email = client.post(
        TOKEN_URL, json={"email": "nobody@example.org", "password": PASSWORD}
    )

    assert unknown_email.status_code == 401
    assert unknown_email.get_json()["message"] == wrong_password.get_json()["message"]
    assert unknown_email.get_json()["errors"] == wrong_password.get_json()["errors"]


@pytest.mark.parametrize("missing", ["email", "password"])
def test_missing_credential_is_rejected_naming_the_field(
    client: FlaskClient, session: Session, missing: str
) -> None:
    clinician = make_clinician(session)
    session.commit()
    credentials = {"email": clinician.email, "password": PASSWORD}
    del credentials[missing]

    response = client.post(TOKEN_URL, json=credentials)

    assert_rejected(response, missing)


def test_deactivated_clinician_cannot_get_a_token(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    clinician.is_active = False
    session.commit()

    response = client.post(TOKEN_URL, json={"email": clinician.email, "password": PASSWORD})

    assert response.status_code == 401
    assert "token" not in response.get_json()


def test_deactivated_clinicians_existing_token_stops_working(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    headers = bearer(session, clinician)
    clinician.is_active = False
    session.commit()

    response = client.get(PROTECTED_URL, headers=headers)

    assert response.status_code == 401


def test_missing_authorization_header_is_unauthorized(
    client: FlaskClient, session: Session
) -> None:
    response = client.get(PROTECTED_URL)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_garbage_bearer_token_is_unauthorized_with_www_authenticate(
    client: FlaskClient, session: Session
) -> None:
    response = client.get(PROTECTED_URL, headers={"Authorization": "Bearer not-a-real-token"})

    assert_rejected(response, "authorization", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_basic_scheme_is_unauthorized(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    token = bearer(session, clinician)["Authorization"].removeprefix("Bearer ")

    response = client.get(PROTECTED_URL, headers={"Authorization": f"Basic {token}"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
