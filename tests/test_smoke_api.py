"""An end-to-end walk through the API: clinician records, patient enrols and answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import CheckIn, Response
from tests.factories import PASSWORD, count_rows, make_clinician


def test_clinician_to_patient_walkthrough(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session, role="admin")
    session.commit()
    token = client.post(
        "/api/v1/auth/token", json={"email": clinician.email, "password": PASSWORD}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/patients",
        headers=headers,
        json={"code": "A-1", "timezone": "Europe/London", "quiet_hours": None},
    )
    assert created.status_code == 201, created.get_json()
    patient_id = created.get_json()["id"]
    link = client.post(f"/api/v1/patients/{patient_id}/enrolment", headers=headers).get_json()
    assert link["url"].endswith(link["token"])
    assert "<svg" in link["qr_svg"]
    treated_at = datetime.now(UTC) - timedelta(hours=7)
    treatment = client.post(
        f"/api/v1/patients/{patient_id}/treatments",
        headers=headers,
        json={
            "modality": "dry_needling",
            "treated_at": treated_at.isoformat(),
            "baseline": {"soreness": 1, "pain": 6},
        },
    )
    assert treatment.status_code == 201, treatment.get_json()
    enrolled = client.post("/api/v1/enrol", json={"token": link["token"]})
    assert enrolled.status_code == 201
    patient_headers = {"Authorization": f"Bearer {enrolled.get_json()['patient_token']}"}
    due = client.get("/api/v1/me/checkins?status=due", headers=patient_headers).get_json()
    assert [checkin["slot"] for checkin in due] == ["6h"]
    checkin = session.scalar(select(CheckIn).filter_by(slot="6h"))
    assert checkin is not None
    body = {"client_id": str(uuid.uuid4()), "answers": {"soreness": 4, "rf_neuro": False}}
    first = client.post(
        f"/api/v1/me/checkins/{checkin.id}/response", headers=patient_headers, json=body
    )
    again = client.post(
        f"/api/v1/me/checkins/{checkin.id}/response", headers=patient_headers, json=body
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert count_rows(session, Response, Response.slot == "6h") == 1
