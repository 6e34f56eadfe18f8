"""One error shape for every failure, the OpenAPI document, and isolation between clinics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import Alert, CheckIn, EnrolmentToken, Patient, PatientToken, Treatment
from server.services.answers import answer_checkin
from server.services.enrolment import enrol, issue_enrolment
from tests.factories import (
    NOW,
    bearer,
    count_rows,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_error_shape, assert_rejected

Request = Callable[[FlaskClient, dict[str, str]], TestResponse]
OVER_64_KB = "x" * (65 * 1024)


# --- the error shape -----------------------------------------------------------------------


ERROR_REQUESTS = [
    pytest.param(lambda client, headers: client.get("/api/v1/patients"), 401, id="no-token"),
    pytest.param(
        lambda client, headers: client.put(
            "/api/v1/protocols/ims", headers=headers, json={"timepoints": []}
        ),
        403,
        id="not-admin",
    ),
    pytest.param(
        lambda client, headers: client.get("/api/v1/patients/999999", headers=headers),
        404,
        id="no-such-patient",
    ),
    pytest.param(
        lambda client, headers: client.get("/api/v1/no-such-thing", headers=headers),
        404,
        id="no-such-route",
    ),
    pytest.param(
        lambda client, headers: client.delete("/api/v1/patients", headers=headers),
        405,
        id="method-not-allowed",
    ),
    pytest.param(
        lambda client, headers: client.post(
            "/api/v1/patients", headers=headers, json={"code": "P-001", "timezone": "UTC"}
        ),
        409,
        id="duplicate-code",
    ),
    pytest.param(
        lambda client, headers: client.post("/api/v1/patients", headers=headers, json={}),
        422,
        id="schema-validation",
    ),
    pytest.param(
        lambda client, headers: client.post(
            "/api/v1/patients", headers=headers, json={"code": "P-2", "timezone": "Mars/Olympus"}
        ),
        422,
        id="service-validation",
    ),
    pytest.param(
        lambda client, headers: client.post(
            "/api/v1/patients",
            headers=headers,
            data='{"code":',
            content_type="application/json",
        ),
        400,
        id="malformed-json",
    ),
    pytest.param(
        lambda client, headers: client.post(
            "/api/v1/patients",
            headers=headers,
            json={"code": "P-3", "timezone": "UTC", "display_name": OVER_64_KB},
        ),
        413,
        id="body-too-large",
    ),
]


@pytest.mark.parametrize(("request_", "status"), ERROR_REQUESTS)
def test_every_error_has_the_one_json_shape(
    client: FlaskClient, session: Session, request_: Request, status: int
) -> None:
    clinician = make_clinician(session)
    make_patient(session, clinician, code="P-001")
    headers = bearer(session, clinician)

    response = request_(client, headers)

    assert response.status_code == status, response.get_json()
    assert_error_shape(response)


def test_body_over_64_kb_is_too_large_naming_body(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.post(
        "/api/v1/patients",
        headers=headers,
        json={"code": "P-1", "timezone": "UTC", "display_name": OVER_64_KB},
    )

    assert_rejected(response, "body", status=413)
    assert response.is_json
    assert count_rows(session, Patient) == 0


def test_body_over_64_kb_is_too_large_before_sign_in(client: FlaskClient, session: Session) -> None:
    response = client.post(
        "/api/v1/auth/token", json={"email": "a@example.org", "password": OVER_64_KB}
    )

    assert_rejected(response, "body", status=413)


def test_malformed_json_is_a_bad_request(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.post(
        "/api/v1/patients", headers=headers, data='{"code":', content_type="application/json"
    )

    assert_rejected(response, "body", status=400)
    assert response.is_json


def test_json_array_body_is_rejected(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.post(
        "/api/v1/patients", headers=headers, json=[{"code": "P-1", "timezone": "UTC"}]
    )

    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_unknown_api_route_is_json_not_found(client: FlaskClient, session: Session) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["code"] == 404


# --- the OpenAPI document ------------------------------------------------------------------


def test_openapi_document_is_served(client: FlaskClient, session: Session) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_openapi_document_lists_the_contract_paths(client: FlaskClient, session: Session) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    for path in (
        "/api/v1/auth/token",
        "/api/v1/patients",
        "/api/v1/patients/{patient_id}",
        "/api/v1/patients/{patient_id}/enrolment",
        "/api/v1/patients/{patient_id}/treatments",
        "/api/v1/treatments/{treatment_id}",
        "/api/v1/checkins/{checkin_id}",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/protocols",
        "/api/v1/protocols/{modality}",
        "/api/v1/enrol",
        "/api/v1/me/checkins",
        "/api/v1/me/checkins/{checkin_id}/response",
        "/api/v1/me/push-subscriptions",
    ):
        assert path in paths, path


def test_openapi_document_declares_bearer_auth(client: FlaskClient, session: Session) -> None:
    document = client.get("/api/v1/openapi.json").get_json()

    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"bearerAuth": []} in document["security"]


# --- tenant isolation ----------------------------------------------------------------------


@dataclass(frozen=True)
class TwoClinics:
    """Clinic A's caller, and clinic B's patient with a treatment, an alert and a device."""

    headers_a: dict[str, str]
    patient_b: int
    treatment_b: int
    checkin_b: int
    alert_b: int


def two_clinics(session: Session) -> TwoClinics:
    """Clinic A has one patient; clinic B has a patient with a treatment, alert and device."""
    clinician_a = make_clinician(session, make_clinic(session, "Clinic A"))
    clinician_b = make_clinician(session, make_clinic(session, "Clinic B"))
    make_patient(session, clinician_a, code="A-1")
    patient_b = make_patient(session, clinician_b, code="B-SECRET", display_name="Bea Secret")
    treatment = make_treatment(session, clinician_b, patient_b)
    checkins = {checkin.slot: checkin for checkin in treatment.checkins}
    answer_checkin(
        session,
        patient=patient_b,
        checkin_id=checkins["6h"].id,
        client_id=uuid.uuid4(),
        answers={"rf_breath_chest": True},
        note=None,
        now=NOW + timedelta(hours=6, minutes=30),
    )
    link = issue_enrolment(
        session,
        clinician=clinician_b,
        patient=patient_b,
        now=NOW,
        base_url="http://testserver",
        ttl=timedelta(hours=72),
    )
    enrol(session, token=link.token, now=NOW)
    alert = session.scalar(select(Alert).filter_by(treatment_id=treatment.id))
    assert alert is not None
    return TwoClinics(
        headers_a=bearer(session, clinician_a),
        patient_b=patient_b.id,
        treatment_b=treatment.id,
        checkin_b=checkins["24h"].id,
        alert_b=alert.id,
    )


def clinic_b_state(session: Session, world: TwoClinics) -> tuple[Any, ...]:
    """What clinic A must never change: clinic B's rows as the database holds them."""
    session.expire_all()
    patient = session.get(Patient, world.patient_b)
    checkin = session.get(CheckIn, world.checkin_b)
    alert = session.get(Alert, world.alert_b)
    assert patient is not None
    assert checkin is not None
    assert alert is not None
    return (
        patient.display_name,
        patient.timezone,
        checkin.status,
        checkin.due_at,
        alert.acknowledged_at,
        count_rows(session, Treatment),
        count_rows(session, EnrolmentToken),
        count_rows(session, PatientToken, PatientToken.revoked_at.is_(None)),
    )


def treatment_body() -> dict[str, str]:
    """A valid new treatment, so only the clinic check can refuse it."""
    return {
        "modality": "dry_needling",
        "treated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }


CROSS_CLINIC_REQUESTS = [
    pytest.param("GET", "/api/v1/patients/{patient}", None, id="patient-get"),
    pytest.param(
        "PATCH",
        "/api/v1/patients/{patient}",
        {"display_name": "Taken", "timezone": "Europe/London"},
        id="patient-patch",
    ),
    pytest.param("POST", "/api/v1/patients/{patient}/enrolment", None, id="enrolment"),
    pytest.param("POST", "/api/v1/patients/{patient}/treatments", "treatment", id="treatment-post"),
    pytest.param("DELETE", "/api/v1/patients/{patient}/tokens", None, id="tokens-delete"),
    pytest.param("GET", "/api/v1/treatments/{treatment}", None, id="treatment-get"),
    pytest.param(
        "PATCH", "/api/v1/checkins/{checkin}", {"status": "cancelled"}, id="checkin-cancel"
    ),
    pytest.param(
        "POST", "/api/v1/alerts/{alert}/ack", {"action": "called_patient"}, id="alert-ack"
    ),
    pytest.param("GET", "/api/v1/alerts/{alert}/notices", None, id="alert-notices"),
]


def cross_clinic_url(template: str, ids: dict[str, int]) -> str:
    """Fill a URL template with clinic B's ids (or any other ids)."""
    return template.format(
        **{name: ids[name] for name in ("patient", "treatment", "checkin", "alert")}
    )


@pytest.mark.parametrize(("method", "template", "body"), CROSS_CLINIC_REQUESTS)
def test_another_clinics_object_is_not_found(
    client: FlaskClient, session: Session, method: str, template: str, body: Any
) -> None:
    world = two_clinics(session)
    json_body = treatment_body() if body == "treatment" else body
    ids = {
        "patient": world.patient_b,
        "treatment": world.treatment_b,
        "checkin": world.checkin_b,
        "alert": world.alert_b,
    }
    missing = dict.fromkeys(ids, 999999)

    response = client.open(
        cross_clinic_url(template, ids), method=method, headers=world.headers_a, json=json_body
    )

    assert response.status_code == 404, response.get_json()
    # exactly what an id that exists nowhere gets: nothing tells the object exists
    nowhere = client.open(
        cross_clinic_url(template, missing), method=method, headers=world.headers_a, json=json_body
    )
    assert response.get_json() == nowhere.get_json()
    assert b"B-SECRET" not in response.data
    assert b"Bea Secret" not in response.data


@pytest.mark.parametrize(("method", "template", "body"), CROSS_CLINIC_REQUESTS)
def test_another_clinics_object_is_left_unchanged(
    client: FlaskClient, session: Session, method: str, template: str, body: Any
) -> None:
    world = two_clinics(session)
    before = clinic_b_state(session, world)
    ids = {
        "patient": world.patient_b,
        "treatment": world.treatment_b,
        "checkin": world.checkin_b,
        "alert": world.alert_b,
    }

    client.open(
        cross_clinic_url(template, ids),
        method=method,
        headers=world.headers_a,
        json=treatment_body() if body == "treatment" else body,
    )

    assert clinic_b_state(session, world) == before


def test_another_clinics_patients_are_not_listed(client: FlaskClient, session: Session) -> None:
    world = two_clinics(session)

    response = client.get("/api/v1/patients", headers=world.headers_a)

    assert [patient["code"] for patient in response.get_json()] == ["A-1"]


def test_another_clinics_patients_are_not_found_by_code(
    client: FlaskClient, session: Session
) -> None:
    world = two_clinics(session)

    response = client.get("/api/v1/patients", headers=world.headers_a, query_string={"code": "B"})

    assert response.get_json() == []


@pytest.mark.parametrize("status", ["open", "acknowledged", "all"])
def test_another_clinics_alerts_are_not_listed(
    client: FlaskClient, session: Session, status: str
) -> None:
    world = two_clinics(session)

    response = client.get(
        "/api/v1/alerts", headers=world.headers_a, query_string={"status": status}
    )

    assert response.status_code == 200
    assert response.get_json() == []


def test_another_clinics_alerts_are_not_listed_by_patient(
    client: FlaskClient, session: Session
) -> None:
    world = two_clinics(session)

    response = client.get(
        "/api/v1/alerts", headers=world.headers_a, query_string={"patient_id": world.patient_b}
    )

    assert response.get_json() == []
