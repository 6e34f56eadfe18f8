"""A patient's record over its life: discharged (open check-ins cancelled, no more prompts,
the record kept, no new treatment), re-admitted (what the discharge cancelled and is still to
come planned again), and their devices signed out, from the API and the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import AuditEvent, CheckIn, Patient, PatientToken
from tests.factories import (
    NOW,
    bearer,
    enrolled_headers,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)
from tests.http import assert_rejected
from tests.push_service import PushService
from tests.test_dispatch import subscribe_local


def statuses(session: Session, treatment_id: int) -> dict[str, str]:
    session.expire_all()
    return {
        checkin.slot: checkin.status
        for checkin in session.scalars(select(CheckIn).filter_by(treatment_id=treatment_id))
    }


def test_discharging_cancels_open_checkins_and_nothing_more_is_prompted(
    client: FlaskClient, session: Session, worker: Worker, push: PushService
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    subscribe_local(session, patient, push.subscribe())
    treatment = make_treatment(session, clinician, patient, modality="ims")
    session.commit()

    response = client.post(
        f"/api/v1/patients/{patient.id}/discharge", headers=bearer(session, clinician)
    )
    dispatch_due_checkins(worker, NOW + timedelta(hours=3))

    assert response.status_code == 200
    assert response.get_json()["discharged_at"] is not None
    assert set(statuses(session, treatment.id).values()) == {"cancelled"}
    assert push.received == []
    event = session.scalars(select(AuditEvent).filter_by(action="patient.discharged")).one()
    assert event.patient_id == patient.id


def test_a_discharged_patient_keeps_their_record_and_gets_no_new_treatment(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = bearer(session, clinician)
    client.post(f"/api/v1/patients/{patient.id}/discharge", headers=headers)

    again = client.post(f"/api/v1/patients/{patient.id}/discharge", headers=headers)
    treatment = client.post(
        f"/api/v1/patients/{patient.id}/treatments",
        headers=headers,
        json={"modality": "ims", "treated_at": NOW.isoformat(), "regions": ["neck"]},
    )

    assert client.get(f"/api/v1/patients/{patient.id}", headers=headers).status_code == 200
    assert_rejected(again, "discharged", 409)
    assert_rejected(treatment, "patient", 409)


def test_readmitting_plans_again_what_the_discharge_cancelled_and_is_still_to_come(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    now = datetime.now(UTC)
    treatment = make_treatment(
        session, clinician, patient, modality="ims", treated_at=now - timedelta(hours=30), now=now
    )
    answered_before = statuses(session, treatment.id)
    headers = bearer(session, clinician)
    client.post(f"/api/v1/patients/{patient.id}/discharge", headers=headers)

    response = client.delete(f"/api/v1/patients/{patient.id}/discharge", headers=headers)

    after = statuses(session, treatment.id)
    assert response.get_json()["discharged_at"] is None
    # what had closed before the discharge stays as it was; what is to come is planned again
    assert after["7d"] == "scheduled"
    assert {slot: status for slot, status in after.items() if status == "cancelled"} == {
        slot: status for slot, status in answered_before.items() if status == "cancelled"
    }
    assert_rejected(
        client.delete(f"/api/v1/patients/{patient.id}/discharge", headers=headers),
        "discharged",
        409,
    )


def test_the_page_discharges_readmits_and_signs_out_devices(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    enrolled_headers(session, clinician, patient)
    sign_in_pages(client, clinician)
    page_url = f"/clinic/patients/{patient.id}"

    signed_out = post_form(client, page_url, f"{page_url}/devices/revoke", {})
    discharged = post_form(client, page_url, f"{page_url}/discharge", {})
    page = client.get(page_url).get_data(as_text=True)
    readmitted = post_form(client, page_url, f"{page_url}/readmit", {})

    assert (signed_out.status_code, discharged.status_code, readmitted.status_code) == (302,) * 3
    assert "Discharged" in page
    assert "Re-admit" in page
    assert "Record a treatment" not in page
    session.expire_all()
    assert session.get_one(Patient, patient.id).discharged_at is None
    assert all(token.revoked_at for token in session.scalars(select(PatientToken)))
