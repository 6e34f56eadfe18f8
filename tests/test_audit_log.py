"""The audit log, readable: what is written (reads of a record and the list, check-in changes,
sign-ins, from where), what is not (the Today page's live refresh), and the admins' page, API
and CSV with their filters; an entry never holds answers or notes."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinician
from server.services.answers import answer_checkin
from tests.factories import (
    bearer,
    checkin_for,
    make_clinic,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    sign_in_pages,
)
from tests.http import assert_rejected

URL = "/api/v1/audit"


@pytest.fixture
def admin(session: Session) -> Clinician:
    lead = make_clinician(session, role="admin", email="lead@harbour.example")
    session.commit()
    return lead


def actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- what is written --------------------------------------------------------------------------


def test_reading_a_patient_and_the_list_is_audited_with_the_patient_and_address(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin)
    headers = bearer(session, admin)

    client.get(f"/api/v1/patients/{patient.id}", headers=headers)
    client.get("/api/v1/patients", headers=headers)

    viewed = session.scalars(select(AuditEvent).filter_by(action="patient.viewed")).one()
    assert (viewed.patient_id, viewed.actor, viewed.address) == (
        patient.id,
        f"clinician:{admin.id}",
        "127.0.0.1",
    )
    assert "patients.listed" in actions(session)


def test_the_pages_reads_are_audited_but_not_the_today_pages_live_refresh(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin)
    sign_in_pages(client, admin)

    client.get(f"/clinic/patients/{patient.id}")
    client.get("/clinic/patients")
    before = actions(session)
    client.get("/clinic/today/alerts")

    assert {"patient.viewed", "patients.listed"} <= set(before)
    assert actions(session) == before


def test_cancelling_and_moving_a_checkin_is_audited(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, quiet_hours=None)
    checkin = make_open_checkin_now(session, admin, patient)
    later = checkin_for(checkin.treatment, "24h")
    headers = bearer(session, admin)

    moved_to = (later.due_at + timedelta(hours=1)).isoformat()
    client.patch(f"/api/v1/checkins/{later.id}", headers=headers, json={"due_at": moved_to})
    client.patch(f"/api/v1/checkins/{checkin.id}", headers=headers, json={"status": "cancelled"})

    events = {
        event.action: event
        for event in session.scalars(select(AuditEvent).where(AuditEvent.action.like("checkin.%")))
    }
    assert set(events) == {"checkin.moved", "checkin.cancelled"}
    assert {event.patient_id for event in events.values()} == {patient.id}
    assert events["checkin.moved"].details["new"] == moved_to


def test_an_entry_holds_no_answers_or_notes(session: Session, admin: Clinician) -> None:
    patient = make_patient(session, admin, quiet_hours=None)
    checkin = make_open_checkin_now(session, admin, patient)
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4, "bruise_bleed": "none", "rf_breath_chest": True, "rf_neuro": False},
        note="my secret worry",
        now=datetime.now(UTC),
    )
    session.commit()
    from server.services.red_flags import acknowledge_alert, list_alerts

    [alert] = list_alerts(session, clinic_id=admin.clinic_id, patient_id=patient.id)
    acknowledge_alert(
        session,
        clinician=admin,
        alert_id=alert.id,
        action="called_patient",
        note="told her to call 911",
        now=datetime.now(UTC),
    )
    session.commit()

    written = json.dumps(
        [[e.actor, e.action, e.target, e.details] for e in session.scalars(select(AuditEvent))]
    )
    assert "secret worry" not in written
    assert "911" not in written
    assert "soreness" not in written


# --- reading it -----------------------------------------------------------------------------


def test_an_admin_reads_the_log_newest_first_in_words(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, code="KNEE-7")
    headers = bearer(session, admin)
    client.get(f"/api/v1/patients/{patient.id}", headers=headers)

    body = client.get(URL, headers=headers).get_json()

    newest = body[0]
    assert (newest["what"], newest["who"], newest["record"]) == (
        "viewed a patient's record",
        "lead@harbour.example",
        "patient KNEE-7",
    )
    assert [entry["id"] for entry in body] == sorted((entry["id"] for entry in body), reverse=True)


def test_the_log_is_filtered_by_clinician_patient_action_and_days(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    colleague = make_clinician(session, admin.clinic, email="sam@harbour.example")
    first, second = (
        make_patient(session, admin, code="A-1"),
        make_patient(session, admin, code="A-2"),
    )
    for reader in (admin, colleague):
        headers = bearer(session, reader)
        for patient in (first, second):
            client.get(f"/api/v1/patients/{patient.id}", headers=headers)
    headers = bearer(session, admin)
    today = datetime.now(UTC).astimezone().date()

    by_colleague = client.get(
        URL,
        headers=headers,
        query_string={"clinician_id": colleague.id, "action": "patient.viewed"},
    ).get_json()
    of_second = client.get(
        URL, headers=headers, query_string={"patient_id": second.id, "action": "patient.viewed"}
    ).get_json()
    yesterday = (today - timedelta(days=2)).isoformat()
    old = client.get(
        URL, headers=headers, query_string={"until": yesterday, "action": "patient.viewed"}
    ).get_json()

    assert [(e["actor"], e["patient_id"]) for e in by_colleague] == [
        (f"clinician:{colleague.id}", second.id),
        (f"clinician:{colleague.id}", first.id),
    ]
    assert {e["actor"] for e in of_second} == {f"clinician:{admin.id}", f"clinician:{colleague.id}"}
    assert old == []
    backwards = {"since": today.isoformat(), "until": yesterday}
    assert client.get(URL, headers=headers, query_string=backwards).get_json() == []


def test_the_log_is_paginated(client: FlaskClient, session: Session, admin: Clinician) -> None:
    patient = make_patient(session, admin)
    headers = bearer(session, admin)
    for _ in range(5):
        client.get(f"/api/v1/patients/{patient.id}", headers=headers)

    response = client.get(
        URL, headers=headers, query_string={"action": "patient.viewed", "page_size": 2, "page": 3}
    )

    assert len(response.get_json()) == 1
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"clinician_id": "x"}, "clinician_id"),
        ({"patient_id": 0}, "patient_id"),
        ({"since": "2026-13-01"}, "since"),
        ({"action": "x" * 65}, "action"),
        ({"who": "me"}, "who"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    client: FlaskClient, session: Session, admin: Clinician, args: dict[str, object], field: str
) -> None:
    response = client.get(URL, headers=bearer(session, admin), query_string=args)

    assert_rejected(response, field)


def test_only_admins_read_the_log_and_only_their_clinics(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    other_admin = make_clinician(session, make_clinic(session, name="Other"), role="admin")
    make_patient(session, admin)
    client.get("/api/v1/patients", headers=bearer(session, admin))

    assert (
        client.get(URL, headers=bearer(session, make_clinician(session, admin.clinic))).status_code
        == 403
    )
    others = client.get(URL, headers=bearer(session, other_admin)).get_json()
    assert all(entry["actor"] != f"clinician:{admin.id}" for entry in others)


def test_the_page_filters_by_patient_code_and_downloads_csv(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, code="=HYPERLINK")
    admin.name = "=cmd"
    session.commit()
    sign_in_pages(client, admin)
    client.get(f"/clinic/patients/{patient.id}")

    page = client.get("/clinic/audit", query_string={"patient": "=HYPERLINK"})
    unknown = client.get("/clinic/audit", query_string={"patient": "NOPE"})
    download = client.get("/clinic/audit.csv", query_string={"action": "patient.viewed"})

    assert page.status_code == 200
    assert "Viewed a patient&#39;s record" in page.get_data(as_text=True)
    assert unknown.status_code == 422
    assert "no patient of this clinic has that code" in unknown.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [row["action"] for row in rows] == ["patient.viewed"]
    assert rows[0]["who"] == "'=cmd"  # never a formula in a spreadsheet
    assert rows[0]["record"] == "patient =HYPERLINK"  # not a formula: it starts with a letter
    assert "audit.exported" in actions(session)


def test_an_entry_made_outside_a_web_request_says_the_server_made_it(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    # a patient registered by a command (the demo's loading) or a change by the worker has no
    # address; it read "the worker" for a command too
    make_patient(session, admin, code="CLI-1")
    session.commit()
    sign_in_pages(client, admin)

    html = client.get("/clinic/audit", query_string={"patient": "CLI-1"}).get_data(as_text=True)

    assert '<td data-label="From">the server itself</td>' in html
    assert "the worker" not in html
