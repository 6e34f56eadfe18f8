"""Alerts (list, acknowledge) and protocols (list, override, reset) through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, Clinician
from server.services.answers import answer_checkin
from tests.factories import (
    NOW,
    bearer,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_rejected

ALERTS_URL = "/api/v1/alerts"
ACK = {"action": "called_patient", "note": "Rang at 14:10; no breathlessness now."}
PROTOCOLS_URL = "/api/v1/protocols"
DRY_NEEDLING_DEFAULT_SLOTS = ["0h", "6h", "24h", "48h", "72h", "7d"]
CLINIC_TIMEPOINTS: list[dict[str, Any]] = [
    {"slot": "1h", "label": "1 hour", "offset_h": 1, "window_h": 2, "items": ["soreness"]},
    {"slot": "4d", "label": "4 days", "offset_h": 96, "window_h": 24, "items": ["pain"]},
]


def raise_breathing_alert(session: Session, clinician: Clinician) -> Alert:
    """Answer 'yes' to new breathlessness at 6 h after dry needling: an RF-1 alert."""
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    treatment = make_treatment(session, clinician, patient)
    six_hours = checkin_for(treatment, "6h")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=six_hours.id,
        client_id=uuid.uuid4(),
        answers={"rf_breath_chest": True},
        note=None,
        now=NOW + timedelta(hours=6, minutes=30),
    )
    alert = session.scalar(select(Alert).filter_by(treatment_id=treatment.id))
    assert alert is not None
    return alert


def slots_of(body: dict[str, Any]) -> list[str]:
    """The check-in slots of a treatment body."""
    return [checkin["slot"] for checkin in body["checkins"]]


# --- alerts --------------------------------------------------------------------------------


def test_open_alerts_are_listed(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    alert = raise_breathing_alert(session, clinician)
    headers = bearer(session, clinician)

    response = client.get(ALERTS_URL, headers=headers)

    assert response.status_code == 200
    listed = response.get_json()
    assert [(item["id"], item["rule"], item["severity"]) for item in listed] == [
        (alert.id, "RF-1", "urgent")
    ]
    assert listed[0]["acknowledged_at"] is None


def test_acknowledging_an_alert_records_when_and_by_whom(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    alert = raise_breathing_alert(session, clinician)
    headers = bearer(session, clinician)

    response = client.post(f"{ALERTS_URL}/{alert.id}/ack", headers=headers, json=ACK)

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == alert.id
    assert body["acknowledged_at"] is not None
    assert datetime.fromisoformat(body["acknowledged_at"]) <= datetime.now(UTC)
    assert body["acknowledged_by_id"] == clinician.id


def test_acknowledging_twice_keeps_the_first_acknowledgement(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    alert = raise_breathing_alert(session, clinician)
    headers = bearer(session, clinician)
    first = client.post(f"{ALERTS_URL}/{alert.id}/ack", headers=headers, json=ACK).get_json()

    again = client.post(f"{ALERTS_URL}/{alert.id}/ack", headers=headers, json=ACK)

    assert again.status_code == 200
    assert again.get_json()["acknowledged_at"] == first["acknowledged_at"]


def test_acknowledged_alert_leaves_the_default_list(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    alert = raise_breathing_alert(session, clinician)
    headers = bearer(session, clinician)
    client.post(f"{ALERTS_URL}/{alert.id}/ack", headers=headers, json=ACK)

    response = client.get(ALERTS_URL, headers=headers)

    assert response.status_code == 200
    assert response.get_json() == []


def test_acknowledged_alert_is_listed_with_status_acknowledged(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    alert = raise_breathing_alert(session, clinician)
    headers = bearer(session, clinician)
    client.post(f"{ALERTS_URL}/{alert.id}/ack", headers=headers, json=ACK)

    response = client.get(ALERTS_URL, headers=headers, query_string={"status": "acknowledged"})

    assert [item["id"] for item in response.get_json()] == [alert.id]


def test_unknown_alert_status_filter_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.get(ALERTS_URL, headers=headers, query_string={"status": "closed"})

    assert_rejected(response, "status")


# --- protocols -----------------------------------------------------------------------------


def test_protocols_list_the_three_modalities(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.get(PROTOCOLS_URL, headers=headers)

    assert response.status_code == 200
    protocols = {protocol["modality"]: protocol for protocol in response.get_json()}
    assert set(protocols) == {"ims", "dry_needling", "acupuncture"}
    for protocol in protocols.values():
        assert protocol["overridden"] is False
        assert protocol["timepoints"]
        assert {"slot", "offset_h", "items"} <= set(protocol["timepoints"][0])
        item_codes = {item["code"] for item in protocol["items"]}
        assert {"soreness", "pain"} <= item_codes


def test_admin_overrides_a_protocols_timepoints(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))

    response = client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["overridden"] is True
    assert [point["slot"] for point in body["timepoints"]] == ["1h", "4d"]
    listed = client.get(PROTOCOLS_URL, headers=headers).get_json()
    assert {protocol["modality"]: protocol["overridden"] for protocol in listed} == {
        "ims": False,
        "dry_needling": True,
        "acupuncture": False,
    }


def test_treatment_recorded_after_an_override_uses_its_slots(
    client: FlaskClient, session: Session
) -> None:
    admin = make_clinician(session, role="admin")
    patient = make_patient(session, admin, timezone="UTC", quiet_hours=None)
    headers = bearer(session, admin)
    client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    response = client.post(
        f"/api/v1/patients/{patient.id}/treatments",
        headers=headers,
        json={
            "modality": "dry_needling",
            "treated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        },
    )

    assert response.status_code == 201, response.get_json()
    assert slots_of(response.get_json()) == ["1h", "4d"]


def test_treatment_recorded_before_an_override_keeps_its_checkins(
    client: FlaskClient, session: Session
) -> None:
    admin = make_clinician(session, role="admin")
    now = datetime.now(UTC)
    patient = make_patient(session, admin, timezone="UTC", quiet_hours=None)
    earlier = make_treatment(session, admin, patient, treated_at=now - timedelta(hours=1), now=now)
    headers = bearer(session, admin)

    client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    body = client.get(f"/api/v1/treatments/{earlier.id}", headers=headers).get_json()
    assert slots_of(body) == DRY_NEEDLING_DEFAULT_SLOTS


def test_another_clinics_override_leaves_this_clinics_protocol(
    client: FlaskClient, session: Session
) -> None:
    other_admin = make_clinician(session, make_clinic(session, "Other Clinic"), role="admin")
    own_headers = bearer(session, make_clinician(session, make_clinic(session, "Own Clinic")))
    client.put(
        f"{PROTOCOLS_URL}/dry_needling",
        headers=bearer(session, other_admin),
        json={"timepoints": CLINIC_TIMEPOINTS},
    )

    body = client.get(f"{PROTOCOLS_URL}/dry_needling", headers=own_headers).get_json()

    assert body["overridden"] is False
    assert [point["slot"] for point in body["timepoints"]] == [
        "0h",
        "6h",
        "12h",
        "24h",
        "48h",
        "72h",
        "7d",
    ]


def test_non_admin_cannot_override_a_protocol(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="clinician"))

    response = client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    assert response.status_code == 403
    listed = client.get(PROTOCOLS_URL, headers=headers).get_json()
    assert not any(protocol["overridden"] for protocol in listed)


def test_overlapping_timepoints_are_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))
    overlapping = [
        {"slot": "early", "label": "Early", "offset_h": 0, "window_h": 10, "items": ["soreness"]},
        {"slot": "late", "label": "Late", "offset_h": 5, "window_h": 2, "items": ["soreness"]},
    ]

    response = client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": overlapping}
    )

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors
    assert all(field.startswith("timepoints") for field in errors)


def test_timepoint_with_an_unknown_item_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))
    unknown_item = [{**CLINIC_TIMEPOINTS[0], "items": ["soreness", "telepathy"]}]

    response = client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": unknown_item}
    )

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert "timepoints.0.items" in errors
    assert "telepathy" in " ".join(errors["timepoints.0.items"])


def test_override_of_an_unknown_modality_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))

    response = client.put(
        f"{PROTOCOLS_URL}/cupping", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    assert response.status_code == 404  # the modalities are the path's enum in the document


def test_deleting_an_override_restores_the_defaults(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))
    default = client.get(f"{PROTOCOLS_URL}/dry_needling", headers=headers).get_json()
    client.put(
        f"{PROTOCOLS_URL}/dry_needling", headers=headers, json={"timepoints": CLINIC_TIMEPOINTS}
    )

    response = client.delete(f"{PROTOCOLS_URL}/dry_needling", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["overridden"] is False
    assert response.get_json()["timepoints"] == default["timepoints"]
    assert client.get(f"{PROTOCOLS_URL}/dry_needling", headers=headers).get_json() == default


def test_deleting_when_there_is_no_override_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    headers = bearer(session, make_clinician(session, role="admin"))

    response = client.delete(f"{PROTOCOLS_URL}/dry_needling", headers=headers)

    assert_rejected(response, "modality", status=404)
