"""The Protocols page: everyone reads it; only admins override or reset time points."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ProtocolOverride
from tests.factories import count_rows, make_clinician, post_form, sign_in_pages

PAGE = "/clinic/protocols"
TWO_TIMEPOINTS = {
    "timepoints-0-slot": "1h",
    "timepoints-0-label": "1 hour",
    "timepoints-0-offset_h": "1",
    "timepoints-0-window_h": "2",
    "timepoints-0-items": "soreness, rf_faint",
    "timepoints-0-enabled": "on",
    "timepoints-1-slot": "4d",
    "timepoints-1-label": "4 days",
    "timepoints-1-offset_h": "96",
    "timepoints-1-window_h": "24",
    "timepoints-1-reminder_after_h": "6",
    "timepoints-1-items": "pain",
    "timepoints-1-enabled": "on",
}


def signed_in(client: FlaskClient, session: Session, role: str) -> None:
    sign_in_pages(client, make_clinician(session, role=role))


def test_clinician_reads_the_protocols_without_forms(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "clinician")

    page = client.get(PAGE).get_data(as_text=True)

    assert "IMS (intramuscular stimulation): time points in force" in page
    assert "Only a clinic admin can change them." in page
    assert 'action="/clinic/protocols/ims"' not in page


def test_the_protocols_name_their_items_and_time_points_in_words(
    client: FlaskClient, session: Session
) -> None:
    signed_in(client, session, "clinician")

    page = client.get(PAGE).get_data(as_text=True)

    # acupuncture's evening check-in: what it asks, and where fainting goes when it is skipped
    assert "Soreness, Bruising or bleeding," in page
    assert "“Fainted or nearly” is asked at 1 day instead" in page
    assert "rf_breath_chest, " not in page
    assert "rf_faint moves to" not in page
    # the reference table keeps the code an admin types, beside the words
    assert 'Fainted or nearly <span class="subtle">(rf_faint)</span>' in page
    # dry needling's optional 12-hour check-in, off by default, says what that means
    assert "Optional: not sent unless turned on." in page
    assert "Off (optional)" not in page


@pytest.mark.parametrize("role", ["admin", "network_admin"])
def test_admins_get_the_forms(client: FlaskClient, session: Session, role: str) -> None:
    signed_in(client, session, role)

    page = client.get(PAGE).get_data(as_text=True)

    assert 'action="/clinic/protocols/ims"' in page
    assert 'name="timepoints-0-offset_h" type="text" value="2"' in page


def test_clinician_cannot_override(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "clinician")

    response = post_form(client, PAGE, f"{PAGE}/ims", TWO_TIMEPOINTS)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert count_rows(session, ProtocolOverride) == 0


def test_admin_overrides_the_time_points(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "admin")

    response = post_form(client, PAGE, f"{PAGE}/ims", TWO_TIMEPOINTS)

    override = session.scalars(select(ProtocolOverride)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == "/clinic/protocols#ims"
    assert [(point["slot"], point["items"]) for point in override.timepoints] == [
        ("1h", ["soreness", "rf_faint"]),
        ("4d", ["pain"]),
    ]
    assert override.timepoints[1]["reminder_after_h"] == 6
    page = client.get(PAGE).get_data(as_text=True)
    assert "the clinic&#39;s own time points" in page


def test_removed_and_blank_rows_are_left_out(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "admin")
    fields = TWO_TIMEPOINTS | {"timepoints-1-remove": "on", "timepoints-2-slot": ""}

    post_form(client, PAGE, f"{PAGE}/ims", fields)

    override = session.scalars(select(ProtocolOverride)).one()
    assert [point["slot"] for point in override.timepoints] == ["1h"]


def test_a_bad_time_point_is_reported_by_its_field(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "admin")
    fields = TWO_TIMEPOINTS | {"timepoints-1-items": "pain, no_such_item"}

    response = post_form(client, PAGE, f"{PAGE}/ims", fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="ims-timepoints-1-items-error"' in page
    assert "unknown item codes: no_such_item" in page
    assert 'aria-describedby="ims-timepoints-1-items-hint ims-timepoints-1-items-error"' in page
    assert 'value="pain, no_such_item"' in page  # what the admin typed is kept
    assert count_rows(session, ProtocolOverride) == 0


def test_a_number_that_is_not_one_is_reported_by_its_field(
    client: FlaskClient, session: Session
) -> None:
    signed_in(client, session, "admin")
    fields = TWO_TIMEPOINTS | {"timepoints-0-window_h": "two"}

    response = post_form(client, PAGE, f"{PAGE}/ims", fields)

    assert response.status_code == 422
    assert 'id="ims-timepoints-0-window_h-error"' in response.get_data(as_text=True)


def test_admin_resets_to_the_defaults(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "admin")
    post_form(client, PAGE, f"{PAGE}/ims", TWO_TIMEPOINTS)

    response = post_form(client, PAGE, f"{PAGE}/ims/reset", {})

    assert response.status_code == 302
    assert count_rows(session, ProtocolOverride) == 0


def test_clinician_cannot_reset(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "clinician")

    response = post_form(client, PAGE, f"{PAGE}/ims/reset", {})

    assert response.status_code == 403


def test_unknown_modality_is_not_found(client: FlaskClient, session: Session) -> None:
    signed_in(client, session, "admin")

    response = post_form(client, PAGE, f"{PAGE}/cupping", TWO_TIMEPOINTS)

    assert response.status_code == 404
