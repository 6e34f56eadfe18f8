"""The pages of alerting: the Today page keeping its red flags current, the banner when urgent
alerts have no way out, the alert routing page, and each alert's history on the patient page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, AlertContact
from server.services.red_flags import acknowledge_alert
from tests.factories import post_form, sign_in_pages
from tests.test_alert_notices import ANSWERED, ROUTINE, URGENT, clinic_with_staff, flagged

NO_WAY_OUT = "Urgent red flags may reach nobody outside"


@pytest.fixture
def mail_configured(app: Flask) -> Iterator[None]:
    """The web app believes an SMTP server is set up (nothing is sent from a page)."""
    app.config["SMTP_HOST"] = "127.0.0.1"
    yield
    app.config["SMTP_HOST"] = ""


# --- the Today page -------------------------------------------------------------------------------


def test_todays_red_flags_are_served_alone_and_304_while_unchanged(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    flagged(session, staff["treating"], URGENT, code="P-001")
    sign_in_pages(client, staff["treating"])

    first = client.get("/clinic/today/alerts")
    again = client.get("/clinic/today/alerts", headers={"If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200
    assert first.headers["X-Open-Alerts"] == "1"
    assert "P-001" in first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-store"
    assert again.status_code == 304
    assert again.data == b""


def test_todays_red_flags_304_while_unchanged_when_compressed(
    client: FlaskClient, session: Session
) -> None:
    # a strong tag would come back as "...:gzip" from the compression and never match again
    staff = clinic_with_staff(session)
    for number in range(1, 6):  # enough red flags for the section to be worth compressing
        flagged(session, staff["treating"], URGENT, code=f"P-00{number}")
    sign_in_pages(client, staff["treating"])
    gzip = {"Accept-Encoding": "gzip"}

    first = client.get("/clinic/today/alerts", headers=gzip)
    again = client.get(
        "/clinic/today/alerts", headers={**gzip, "If-None-Match": first.headers["ETag"]}
    )

    assert first.headers["Content-Encoding"] == "gzip"
    assert first.headers["ETag"].startswith('W/"')
    assert again.status_code == 304


def test_a_new_red_flag_changes_what_today_serves(client: FlaskClient, session: Session) -> None:
    staff = clinic_with_staff(session)
    flagged(session, staff["treating"], URGENT, code="P-001")
    sign_in_pages(client, staff["treating"])
    before = client.get("/clinic/today/alerts").headers["ETag"]

    flagged(session, staff["treating"], ROUTINE, code="P-002")
    after = client.get("/clinic/today/alerts", headers={"If-None-Match": before})

    assert after.status_code == 200
    assert after.headers["X-Open-Alerts"] == "2"
    assert "P-002" in after.get_data(as_text=True)


def test_the_tab_title_counts_the_open_red_flags(client: FlaskClient, session: Session) -> None:
    staff = clinic_with_staff(session)
    flagged(session, staff["treating"], URGENT, code="P-001")
    sign_in_pages(client, staff["treating"])

    page = client.get("/clinic/").get_data(as_text=True)

    assert "<title>(1) Today · Harbour Physio</title>" in page


def test_an_admin_is_told_when_urgent_alerts_have_no_way_out(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["admin"])

    page = client.get("/clinic/").get_data(as_text=True)

    assert NO_WAY_OUT in page
    assert "The server has no mail server (SMTP_HOST) and no SMS provider" in page


def test_the_banner_goes_once_there_is_a_way_out(
    client: FlaskClient, session: Session, mail_configured: None
) -> None:
    staff = clinic_with_staff(session)  # on-call contacts with e-mail addresses
    sign_in_pages(client, staff["admin"])

    assert NO_WAY_OUT not in client.get("/clinic/").get_data(as_text=True)


def test_a_clinician_who_is_not_an_admin_sees_no_banner(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["treating"])

    assert NO_WAY_OUT not in client.get("/clinic/").get_data(as_text=True)


# --- the alert routing page -----------------------------------------------------------------------


def test_the_routing_page_shows_the_default_steps_and_the_contacts(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["treating"])

    page = client.get("/clinic/alert-routing").get_data(as_text=True)

    assert 'Steps <span class="subtle">(the default)</span>' in page
    assert "Night phone" in page
    assert "Only a clinic admin can change these settings." in page
    assert 'name="urgent.0.groups" value="treating" checked' in page
    assert 'name="urgent.2.groups" value="admins" checked' in page


def test_an_admin_saves_routing_from_the_page(client: FlaskClient, session: Session) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["admin"])
    fields = {
        "escalate_after_min": "10",
        "urgent.0.groups": ["treating", "admins"],
        "urgent.0.channels": "email",
        "same_day.0.groups": "on_call",
        "same_day.0.channels": "email",
        "routine.0.groups": "treating",
        "routine.0.channels": "email",
    }

    response = post_form(client, "/clinic/alert-routing", "/clinic/alert-routing", fields)

    assert response.status_code == 302
    clinic = staff["admin"].clinic
    session.refresh(clinic)
    assert clinic.escalate_after_min == 10
    assert clinic.alert_routing is not None
    assert clinic.alert_routing["urgent"] == [
        {"groups": ["treating", "admins"], "channels": ["email"]}
    ]


def test_a_step_without_a_channel_is_refused_by_the_step(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["admin"])
    fields = {
        "escalate_after_min": "15",
        "urgent.0.groups": "treating",
        "same_day.0.groups": "on_call",
        "same_day.0.channels": "email",
        "routine.0.groups": "treating",
        "routine.0.channels": "email",
    }

    response = post_form(client, "/clinic/alert-routing", "/clinic/alert-routing", fields)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="urgent-0-channels-error"' in page
    assert 'value="treating" checked' in page  # what was ticked is kept
    session.refresh(staff["admin"].clinic)
    assert staff["admin"].clinic.alert_routing is None


def test_a_clinician_cannot_change_the_routing(client: FlaskClient, session: Session) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["treating"])

    response = post_form(
        client,
        "/clinic/alert-routing",
        "/clinic/alert-routing",
        {"escalate_after_min": "5", "restore": "default"},
    )

    assert response.status_code == 403


def test_an_admin_adds_and_removes_a_contact_from_the_page(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["admin"])

    added = post_form(
        client,
        "/clinic/alert-routing",
        "/clinic/alert-routing/contacts",
        {"role": "backup", "name": "Dr Cover", "email": "cover@elsewhere.example"},
    )
    contact = session.scalars(select(AlertContact).filter_by(name="Dr Cover")).one()
    removed = post_form(
        client,
        "/clinic/alert-routing",
        f"/clinic/alert-routing/contacts/{contact.id}/remove",
        {},
    )

    assert (added.status_code, removed.status_code) == (302, 302)
    assert session.scalars(select(AlertContact).filter_by(name="Dr Cover")).all() == []


def test_a_contact_without_an_address_is_refused_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    sign_in_pages(client, staff["admin"])

    response = post_form(
        client, "/clinic/alert-routing", "/clinic/alert-routing/contacts", {"name": "Desk"}
    )

    assert response.status_code == 422
    assert 'id="contact-role-error"' in response.get_data(as_text=True)


# --- an alert's history on the patient page -------------------------------------------------------


def test_the_patient_page_shows_who_was_told_and_what_was_done(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    acknowledge_alert(
        session,
        clinician=staff["on_call"],
        alert_id=alert.id,
        action="advised_emergency_care",
        note="Ambulance called by the family.",
        now=ANSWERED,
    )
    session.commit()
    sign_in_pages(client, staff["treating"])

    page = client.get(f"/clinic/patients/{alert.patient_id}").get_data(as_text=True)

    assert "by oncall@harbour.example: Advised emergency care." in page
    assert "“Ambulance called by the family.”" in page
    assert "Who was told (5)" in page
    assert "Step 2: backup@harbour.example by e-mail,\nnot sent: acknowledged first" in page


def test_an_open_alert_on_the_patient_page_asks_what_was_done(
    client: FlaskClient, session: Session
) -> None:
    staff = clinic_with_staff(session)
    _, alert = flagged(session, staff["treating"], URGENT)
    sign_in_pages(client, staff["treating"])

    page = client.get(f"/clinic/patients/{alert.patient_id}").get_data(as_text=True)

    assert f'id="ack-action-{alert.id}" name="action" required' in page
    assert session.scalars(select(Alert)).one().acknowledged_at is None
