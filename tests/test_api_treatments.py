"""Treatments and check-ins through the API: record, validate, read, cancel and move."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import AuditEvent, CheckIn, Clinician, Response, Treatment
from server.services.answers import answer_checkin
from tests.factories import (
    NOW,
    bearer,
    checkin_for,
    count_rows,
    latest_utc,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_rejected


def post_treatment(
    client: FlaskClient, headers: dict[str, str], patient_id: int, **fields: Any
) -> TestResponse:
    """POST a dry-needling treatment that ended five minutes ago, unless fields say otherwise."""
    body: dict[str, Any] = {
        "modality": "dry_needling",
        "treated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        **fields,
    }
    return client.post(f"/api/v1/patients/{patient_id}/treatments", headers=headers, json=body)


# --- recording -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modality", "slots"),
    [
        ("ims", ["2h", "6h", "24h", "48h", "7d"]),
        ("dry_needling", ["0h", "6h", "24h", "48h", "72h", "7d"]),
        ("acupuncture", ["evening_d0", "24h", "72h", "7d"]),
    ],
)
def test_recording_a_treatment_schedules_the_protocols_checkins(
    client: FlaskClient, session: Session, modality: str, slots: list[str]
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)
    # 09:00 UTC: acupuncture's evening check-in opens at 13:00 local, before its 21:00 cut-off
    treated_at = latest_utc(9)

    response = post_treatment(
        client, headers, patient.id, modality=modality, treated_at=treated_at.isoformat()
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body["modality"] == modality
    assert [checkin["slot"] for checkin in body["checkins"]] == slots
    now = datetime.now(UTC)
    for checkin in body["checkins"]:
        assert {"id", "slot", "due_at", "expires_at", "status", "entry_only"} <= set(checkin)
        # a window already closed is kept for a paper diary, never prompted
        passed = datetime.fromisoformat(checkin["expires_at"]) <= now
        assert checkin["entry_only"] is passed
        assert checkin["status"] == ("missed" if passed else "scheduled")


def test_checkins_open_at_treated_at_plus_their_offset(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)
    treated_at = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)

    response = post_treatment(client, headers, patient.id, treated_at=treated_at.isoformat())

    windows = {
        checkin["slot"]: (
            datetime.fromisoformat(checkin["due_at"]),
            datetime.fromisoformat(checkin["expires_at"]),
            checkin["status"],
        )
        for checkin in response.get_json()["checkins"]
    }
    assert windows["6h"] == (
        treated_at + timedelta(hours=6),
        treated_at + timedelta(hours=10),
        "scheduled",
    )
    assert windows["7d"][0] == treated_at + timedelta(days=7)


def test_treated_at_without_offset_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)
    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)

    response = post_treatment(client, headers, patient.id, treated_at=naive.isoformat())

    assert_rejected(response, "treated_at")


def test_unknown_modality_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, modality="cupping")

    assert_rejected(response, "modality")


def test_treated_at_in_the_future_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    response = post_treatment(client, headers, patient.id, treated_at=tomorrow.isoformat())

    assert_rejected(response, "treated_at")


def test_unknown_region_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, regions=["neck", "left_elbow_tip"])

    assert_rejected(response, "regions.1")


def test_baseline_with_an_unknown_item_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, baseline={"pain": 5, "happiness": 3})

    assert_rejected(response, "baseline.happiness")


def test_baseline_value_off_its_scale_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, baseline={"pain": 11})

    assert_rejected(response, "baseline.pain")


def test_rejected_treatment_leaves_no_treatment_or_checkins(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    # the baseline is checked after the treatment row is flushed: the rollback must undo it
    response = post_treatment(client, headers, patient.id, baseline={"soreness": 42})

    assert response.status_code == 422
    assert count_rows(session, Treatment) == 0
    assert count_rows(session, CheckIn) == 0


def test_lower_back_treatment_does_not_ask_about_breathing(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, regions=["lower_back"])

    assert response.status_code == 201
    body = response.get_json()
    assert body["thoracic_region"] is False
    asked = {code for checkin in body["checkins"] for code in checkin["items"]}
    assert "rf_breath_chest" not in asked
    assert "soreness" in asked


def test_neck_treatment_asks_about_breathing(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    headers = bearer(session, clinician)

    response = post_treatment(client, headers, patient.id, regions=["neck"])

    assert response.status_code == 201
    body = response.get_json()
    assert body["thoracic_region"] is True
    asked = {code for checkin in body["checkins"] for code in checkin["items"]}
    assert "rf_breath_chest" in asked


# --- reading -------------------------------------------------------------------------------


def answered_treatment(session: Session, clinician: Clinician) -> Treatment:
    """A dry-needling treatment at NOW with a baseline and a 6 h answer that raised RF-1."""
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    treatment = make_treatment(session, clinician, patient, baseline={"pain": 6})
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4, "rf_breath_chest": True},
        note=None,
        now=NOW + timedelta(hours=6, minutes=30),
    )
    return treatment


def test_get_treatment_includes_checkins(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = answered_treatment(session, clinician)
    headers = bearer(session, clinician)

    response = client.get(f"/api/v1/treatments/{treatment.id}", headers=headers)

    assert response.status_code == 200
    checkins = {checkin["slot"]: checkin for checkin in response.get_json()["checkins"]}
    assert checkins["6h"]["status"] == "answered"
    assert checkins["24h"]["status"] == "scheduled"


def test_get_treatment_includes_responses_with_answers(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treatment = answered_treatment(session, clinician)
    headers = bearer(session, clinician)

    response = client.get(f"/api/v1/treatments/{treatment.id}", headers=headers)

    responses = {item["slot"]: item for item in response.get_json()["responses"]}
    assert responses["baseline"]["answers"] == {"pain": 6}
    assert responses["6h"]["answers"] == {"soreness": 4, "rf_breath_chest": True}
    assert responses["6h"]["flagged_rules"] == ["RF-1"]


def test_get_treatment_includes_alerts(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = answered_treatment(session, clinician)
    headers = bearer(session, clinician)

    response = client.get(f"/api/v1/treatments/{treatment.id}", headers=headers)

    alerts = response.get_json()["alerts"]
    assert [(alert["rule"], alert["severity"]) for alert in alerts] == [("RF-1", "urgent")]
    assert alerts[0]["acknowledged_at"] is None


def test_get_treatment_writes_an_audit_event(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = make_treatment(
        session, clinician, make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    )
    headers = bearer(session, clinician)

    client.get(f"/api/v1/treatments/{treatment.id}", headers=headers)

    session.expire_all()
    viewed = session.scalars(select(AuditEvent).filter_by(action="treatment.viewed")).all()
    assert [(event.actor, event.target) for event in viewed] == [
        (f"clinician:{clinician.id}", f"treatment:{treatment.id}")
    ]


# --- changing a check-in -------------------------------------------------------------------


def recent_treatment(session: Session, clinician: Clinician) -> Treatment:
    """A dry-needling treatment that ended an hour ago (real clock), windows still to come."""
    now = datetime.now(UTC)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    return make_treatment(session, clinician, patient, treated_at=now - timedelta(hours=1), now=now)


def test_cancel_a_checkin(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    checkin = checkin_for(recent_treatment(session, clinician), "24h")
    headers = bearer(session, clinician)

    response = client.patch(
        f"/api/v1/checkins/{checkin.id}", headers=headers, json={"status": "cancelled"}
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    session.expire_all()
    stored = session.get(CheckIn, checkin.id)
    assert stored is not None
    assert stored.status == "cancelled"


def test_move_a_checkin_keeps_its_window_length(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    checkin = checkin_for(recent_treatment(session, clinician), "7d")
    due_at, expires_at = checkin.due_at, checkin.expires_at
    headers = bearer(session, clinician)
    new_due_at = due_at + timedelta(hours=3)

    response = client.patch(
        f"/api/v1/checkins/{checkin.id}", headers=headers, json={"due_at": new_due_at.isoformat()}
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert datetime.fromisoformat(body["due_at"]) == new_due_at
    assert datetime.fromisoformat(body["expires_at"]) == expires_at + timedelta(hours=3)
    assert body["status"] == "scheduled"


def test_move_before_the_treatment_is_rejected(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = recent_treatment(session, clinician)
    checkin = checkin_for(treatment, "7d")
    headers = bearer(session, clinician)
    too_early = treatment.treated_at - timedelta(hours=1)

    response = client.patch(
        f"/api/v1/checkins/{checkin.id}", headers=headers, json={"due_at": too_early.isoformat()}
    )

    assert_rejected(response, "due_at")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="neither"),
        pytest.param({"status": "cancelled", "due_at": "2030-01-01T09:00:00+00:00"}, id="both"),
    ],
)
def test_checkin_patch_needs_exactly_one_change(
    client: FlaskClient, session: Session, change: dict[str, str]
) -> None:
    clinician = make_clinician(session)
    checkin = checkin_for(recent_treatment(session, clinician), "24h")
    headers = bearer(session, clinician)

    response = client.patch(f"/api/v1/checkins/{checkin.id}", headers=headers, json=change)

    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_cancelling_an_answered_checkin_is_a_conflict(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treatment = answered_treatment(session, clinician)
    headers = bearer(session, clinician)

    response = client.patch(
        f"/api/v1/checkins/{checkin_for(treatment, '6h').id}",
        headers=headers,
        json={"status": "cancelled"},
    )

    assert response.status_code == 409
    assert response.get_json()["errors"]
    session.expire_all()
    assert count_rows(session, Response, Response.slot == "6h") == 1
