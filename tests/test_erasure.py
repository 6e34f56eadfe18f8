"""Erasing a patient: confirmed by their code, admins only, all in one transaction; afterwards
no table holds their name, contact details, answers or free text, the clinic's analytics equal
those of a clinic that never had them, and one audit entry says it happened with no personal
data; the same from the pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Base, Clinician, Patient
from server.services import analytics
from server.services.answers import answer_checkin
from server.services.erasure import erase_patient
from server.services.red_flags import acknowledge_alert, list_alerts
from tests.analytics_data import Cohort, as_dict
from tests.factories import (
    bearer,
    enrolled_headers,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    post_form,
    sign_in_pages,
)
from tests.http import assert_rejected

NAME, EMAIL, PHONE, NOTE, ACK_NOTE = (
    "Zelda Quintessa",
    "zelda.q@example.org",
    "+16045550187",
    "a sharp ache behind the shoulder blade",
    "rang Zelda back at home",
)
# the treatment's free text: the points needled and the clinician's note
POINTS, CLINICAL_NOTE = "GB21 and SI11 on the left", "Zelda guarded the shoulder; stopped early"


def figures(session: Session, admin: Clinician) -> dict[str, Any]:
    """Everything the Compare page reads, every cell shown (no suppression)."""
    scope = analytics.scope_for(
        session, clinician=admin, filters=analytics.Filters(), min_patients=1
    )
    return {
        "recovery": as_dict(
            analytics.recovery(session, scope=scope, measures=["soreness", "pain", "mobility"])
        ),
        "outcomes": as_dict(analytics.outcomes(session, scope=scope)),
    }


def cohort(session: Session, admin: Clinician) -> None:
    """Three patients of each modality with answers: the clinic's other patients."""
    people = Cohort(session, admin.clinic, admin)
    for modality in ("ims", "dry_needling", "acupuncture"):
        for offset in range(3):
            treatment = people.treatment(modality)
            people.answer(treatment, "baseline", soreness=2, pain=6 + offset, mobility=4)
            people.answer(treatment, "24h", soreness=4 - offset, pain=5 - offset, mobility=6)
    session.commit()


def the_patient_to_erase(session: Session, admin: Clinician) -> Patient:
    """A patient with everything a patient can have: details, a device, a push subscription,
    a treatment with its points and a clinical note, answers with a note, a red flag
    acknowledged with a note, check-ins with a ledger."""
    patient = make_patient(
        session,
        admin,
        code="ERASE-1",
        display_name=NAME,
        email=EMAIL,
        phone=PHONE,
        sms_consent="paper",
        quiet_hours=None,
    )
    headers = enrolled_headers(session, admin, patient)
    checkin = make_open_checkin_now(
        session, admin, patient, side="left", points=POINTS, note=CLINICAL_NOTE
    )
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 9, "bruise_bleed": "none", "rf_breath_chest": True, "rf_neuro": False},
        note=NOTE,
        now=datetime.now(UTC),
    )
    [alert] = list_alerts(session, clinic_id=admin.clinic_id, patient_id=patient.id)
    acknowledge_alert(
        session,
        clinician=admin,
        alert_id=alert.id,
        action="called_patient",
        note=ACK_NOTE,
        now=datetime.now(UTC),
    )
    session.commit()
    assert headers  # the device token exists until the erasure
    return patient


def every_text_stored(session: Session) -> str:
    """Every text and JSON value of every table, as one string to search."""
    found: list[str] = []
    for table in Base.metadata.sorted_tables:
        columns = [
            column
            for column in table.columns
            if isinstance(column.type, (String, Text)) or column.type.__class__.__name__ == "JSON"
        ]
        if columns:
            for row in session.execute(select(*columns)).all():
                found.extend(str(value) for value in row if value is not None)
    return "\n".join(found)


@pytest.fixture
def admin(session: Session) -> Clinician:
    lead = make_clinician(session, role="admin", email="lead@harbour.example")
    session.commit()
    return lead


def test_after_erasure_nothing_of_the_patient_is_stored_and_the_figures_are_as_without_them(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    cohort(session, admin)
    without = figures(session, admin)
    patient = the_patient_to_erase(session, admin)
    assert figures(session, admin) != without  # the patient counted
    stored = every_text_stored(session)
    secrets = (NAME, EMAIL, PHONE, NOTE, ACK_NOTE, POINTS, CLINICAL_NOTE)
    assert all(secret in stored for secret in secrets)

    patient_id = patient.id
    response = client.post(
        f"/api/v1/patients/{patient_id}/erasure",
        headers=bearer(session, admin),
        json={"confirm": "ERASE-1"},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"patient_id": patient_id, "treatments": 1, "responses": 1}
    session.expire_all()
    stored = every_text_stored(session)
    for secret in (*secrets, "ERASE-1"):
        assert secret not in stored, secret
    assert figures(session, admin) == without


def test_the_erasure_leaves_one_audit_entry_without_personal_data(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient_id = the_patient_to_erase(session, admin).id

    client.post(
        f"/api/v1/patients/{patient_id}/erasure",
        headers=bearer(session, admin),
        json={"confirm": "ERASE-1"},
    )

    event = session.scalars(select(AuditEvent).filter_by(action="patient.erased")).one()
    assert (event.actor, event.patient_id, event.details) == (
        f"clinician:{admin.id}",
        patient_id,
        {"treatments": 1, "responses": 1},
    )
    earlier = session.scalars(select(AuditEvent).filter_by(patient_id=patient_id)).all()
    assert len(earlier) > 1  # who read and changed the record stays, naming only the bare id


def test_the_patients_device_and_links_stop_working(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, code="ERASE-1")
    device = enrolled_headers(session, admin, patient)
    client.post(
        f"/api/v1/patients/{patient.id}/erasure",
        headers=bearer(session, admin),
        json={"confirm": "ERASE-1"},
    )

    assert client.get("/api/v1/me/checkins", headers=device).status_code == 401


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"confirm": "erase-1"}, "confirm", 422),
        ({"confirm": "ERASE-2"}, "confirm", 422),
        ({}, "confirm", 422),
        ({"confirm": ""}, "confirm", 422),
    ],
)
def test_an_unconfirmed_erasure_changes_nothing(
    client: FlaskClient,
    session: Session,
    admin: Clinician,
    body: dict[str, str],
    field: str,
    status: int,
) -> None:
    patient = make_patient(session, admin, code="ERASE-1", display_name=NAME)

    response = client.post(
        f"/api/v1/patients/{patient.id}/erasure", headers=bearer(session, admin), json=body
    )

    assert_rejected(response, field, status)
    session.expire_all()
    assert session.get(Patient, patient.id) is not None


def test_only_a_clinic_admin_erases(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, code="ERASE-1")
    clinician = make_clinician(session, admin.clinic)

    response = client.post(
        f"/api/v1/patients/{patient.id}/erasure",
        headers=bearer(session, clinician),
        json={"confirm": "ERASE-1"},
    )

    assert response.status_code == 403
    assert session.get(Patient, patient.id) is not None


def test_the_page_names_the_patient_and_erases_once_the_code_is_typed(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient_id = make_patient(session, admin, code="ERASE-1", display_name=NAME).id
    sign_in_pages(client, admin)
    url = f"/clinic/patients/{patient_id}/erase"

    form = client.get(url).get_data(as_text=True)
    wrong = post_form(client, url, url, {"confirm": "ERASE"})
    done = post_form(client, url, url, {"confirm": "ERASE-1"})

    assert "Erase everything about patient ERASE-1 (Zelda Quintessa)" in form
    assert wrong.status_code == 422
    assert "type the patient&#39;s code exactly" in wrong.get_data(as_text=True)
    assert (done.status_code, done.headers["Location"]) == (302, "/clinic/patients")
    session.expire_all()
    assert session.get(Patient, patient_id) is None
    assert client.get(f"/clinic/patients/{patient_id}").status_code == 404


def test_a_clinician_who_is_not_an_admin_has_no_erasure_page(
    client: FlaskClient, session: Session, admin: Clinician
) -> None:
    patient = make_patient(session, admin, code="ERASE-1")
    sign_in_pages(client, make_clinician(session, admin.clinic))

    assert client.get(f"/clinic/patients/{patient.id}/erase").status_code == 403
    assert "erase everything" not in client.get(f"/clinic/patients/{patient.id}").get_data(
        as_text=True
    )


def test_an_erased_patients_id_is_not_given_to_a_new_patient(
    session: Session, admin: Clinician
) -> None:
    """The audit log's bare ids must go on naming nobody (SQLite reuses the highest id unless
    the table says AUTOINCREMENT)."""
    make_patient(session, admin, code="KEEP-1")
    erased = make_patient(session, admin, code="ERASE-1")
    erase_patient(
        session, clinician=admin, patient=erased, confirm="ERASE-1", now=datetime.now(UTC)
    )
    session.commit()

    later = make_patient(session, admin, code="NEW-1")

    assert later.id > erased.id
