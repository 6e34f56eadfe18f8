"""The pages' CSRF token is masked afresh in every response (BREACH), and still checked."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.csrf import mask_token, unmask_token
from tests.factories import csrf_token, make_clinician, sign_in_pages


def save_phone(client: FlaskClient, token: str) -> int:
    """Remove one's mobile (a form that may be posted again and again): the answer's status."""
    return client.post("/clinic/account/phone", data={"csrf_token": token, "phone": ""}).status_code


def session_token(masked: str) -> str:
    """The session's token inside a masked one: the signed value's payload."""
    signed = unmask_token(masked)
    assert signed is not None
    return signed.split(".")[0]


def test_two_renders_of_a_page_carry_different_tokens_that_both_validate(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))

    first = csrf_token(client.get("/clinic/account").get_data(as_text=True))
    second = csrf_token(client.get("/clinic/account").get_data(as_text=True))

    assert first != second
    # one session token under both masks; it is signed with the second it was rendered in,
    # so two renders either side of a second's turn differ in their timestamps only
    assert session_token(first) == session_token(second)
    assert save_phone(client, first) == 302
    assert save_phone(client, second) == 302


def test_the_unmasked_token_is_refused(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))
    masked = csrf_token(client.get("/clinic/account").get_data(as_text=True))
    signed = unmask_token(masked)
    assert signed is not None

    assert save_phone(client, signed) == 400


def test_a_masked_token_of_another_session_is_refused(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))
    masked = csrf_token(client.get("/clinic/account").get_data(as_text=True))
    signed = unmask_token(masked)
    assert signed is not None
    forged = mask_token(signed[:-2] + ("AA" if signed[-2:] != "AA" else "BB"))

    assert save_phone(client, forged) == 400


def test_masking_round_trips_and_rejects_what_it_did_not_make() -> None:
    token = "ImFiYyI.aZ1x2w.c2lnbmF0dXJl"

    assert unmask_token(mask_token(token)) == token
    assert mask_token(token) != mask_token(token)
    assert unmask_token("not base64 at all!") is None
    assert unmask_token("") is None
