"""Bad input of every kind gets a clear 4xx naming what is wrong, never a 500, on both databases.

Each case here was a 500 (or silently wrong) before: ids past the columns' range, text no
database stores, days at the calendar's edge, JSON nested past the recursion limit, bodies and
addresses too long, a client_id reused for other answers, time zones that are not places.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import CheckIn, Patient, Response, Treatment
from tests.factories import (
    bearer,
    count_rows,
    enrolled_headers,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)
from tests.http import assert_error_shape, assert_rejected

BIG_IDS = [2**31, 2**63, 10**30]
NUL, SURROGATE = "a\x00b", "a\udfffb"


@dataclass
class Clinic:
    """An admin's and a patient's headers, the patient, and a check-in open now."""

    staff: dict[str, str]
    phone: dict[str, str]
    patient: Patient
    checkin: CheckIn


@pytest.fixture
def clinic(session: Session) -> Clinic:
    admin = make_clinician(session, role="admin")
    patient = make_patient(session, admin, quiet_hours=None)
    checkin = make_open_checkin_now(session, admin, patient)
    session.commit()
    return Clinic(
        bearer(session, admin), enrolled_headers(session, admin, patient), patient, checkin
    )


# --- ids past the columns' range ---------------------------------------------------------------

PATH_REQUESTS: list[tuple[str, str, str]] = [
    ("GET", "/api/v1/patients/{id}", "staff"),
    ("PATCH", "/api/v1/patients/{id}", "staff"),
    ("POST", "/api/v1/patients/{id}/enrolment", "staff"),
    ("DELETE", "/api/v1/patients/{id}/tokens", "staff"),
    ("POST", "/api/v1/patients/{id}/treatments", "staff"),
    ("GET", "/api/v1/treatments/{id}", "staff"),
    ("PATCH", "/api/v1/checkins/{id}", "staff"),
    ("GET", "/api/v1/checkins/{id}/deliveries", "staff"),
    ("POST", "/api/v1/checkins/{id}/response", "staff"),
    ("POST", "/api/v1/alerts/{id}/ack", "staff"),
    ("GET", "/api/v1/me/checkins/{id}", "phone"),
    ("POST", "/api/v1/me/checkins/{id}/response", "phone"),
    ("POST", "/api/v1/me/checkins/{id}/delivery", "phone"),
]


@pytest.mark.parametrize("big", BIG_IDS)
@pytest.mark.parametrize(("method", "path", "who"), PATH_REQUESTS)
def test_an_id_past_the_columns_range_in_a_path_is_not_found(
    client: FlaskClient, clinic: Clinic, method: str, path: str, who: str, big: int
) -> None:
    headers = clinic.staff if who == "staff" else clinic.phone
    response = client.open(path.format(id=big), method=method, headers=headers, json={})
    assert response.status_code == 404, response.get_json()
    assert_error_shape(response)


@pytest.mark.parametrize(
    "path",
    [
        "/clinic/patients/{id}",
        "/clinic/patients/{id}/treatments/new",
        "/clinic/checkins/{id}/answers",
        "/clinic/treatments/{id}/recovery.csv",
    ],
)
def test_an_id_past_the_columns_range_on_a_page_is_not_found(
    client: FlaskClient, session: Session, path: str
) -> None:
    sign_in_pages(client, make_clinician(session))
    response = client.get(path.format(id=2**31))
    assert response.status_code == 404
    assert "Not Found" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/patients?page=9223372036854775807", "page"),
        ("/api/v1/patients?page=2147483648", "page"),
        ("/api/v1/analytics/recovery?clinician_id=2147483648", "clinician_id"),
        ("/api/v1/analytics/resolution?clinician_id=9223372036854775808", "clinician_id"),
        ("/api/v1/alerts?patient_id=2147483648", "patient_id"),
        ("/api/v1/alerts?patient_id=-1", "patient_id"),
    ],
)
def test_an_id_or_page_past_its_range_in_a_query_names_the_parameter(
    client: FlaskClient, clinic: Clinic, url: str, field: str
) -> None:
    assert_rejected(client.get(url, headers=clinic.staff), field)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/alerts?stauts=all", "stauts"),
        ("/api/v1/patients?pagesize=5", "pagesize"),
        ("/api/v1/exports/answers.csv?modality=ims&date_too=2026-01-01", "date_too"),
        ("/api/v1/analytics/recovery?modality=ims&%C3%85=1", "\u00c5"),
    ],
)
def test_a_query_parameter_the_operation_does_not_name_is_refused_naming_it(
    client: FlaskClient, clinic: Clinic, url: str, field: str
) -> None:
    # a misspelt filter must not answer with the unfiltered list
    assert_rejected(client.get(url, headers=clinic.staff), field)


def test_a_patients_query_parameter_the_operation_does_not_name_is_refused(
    client: FlaskClient, clinic: Clinic
) -> None:
    assert_rejected(client.get("/api/v1/me/checkins?stat=due", headers=clinic.phone), "stat")


# --- text no database can store ----------------------------------------------------------------


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/api/v1/patients",
            {"code": "P-9", "timezone": "UTC", "display_name": "{}"},
            "display_name",
        ),
        ("PATCH", "/api/v1/patients/{patient}", {"display_name": "{}"}, "display_name"),
        ("PATCH", "/api/v1/patients/{patient}", {"timezone": "{}"}, "timezone"),
        (
            "POST",
            "/api/v1/patients/{patient}/treatments",
            {"modality": "ims", "treated_at": "2026-12-01T10:00:00Z", "regions": ["{}"]},
            "regions.0",
        ),
        ("POST", "/api/v1/auth/token", {"email": "{}", "password": "x" * 12}, "email"),
        ("POST", "/api/v1/enrol", {"token": "{}"}, "token"),
        ("PUT", "/api/v1/clinic", {"name": "{}"}, "name"),
    ],
)
def test_text_no_database_stores_is_refused_naming_its_field(
    client: FlaskClient,
    clinic: Clinic,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
    text: str,
) -> None:
    filled = _fill(body, text)
    url = path.format(patient=clinic.patient.id)
    response = client.open(url, method=method, headers=clinic.staff, json=filled)
    assert_rejected(response, field)
    assert_error_shape(response)


def _fill(value: Any, text: str) -> Any:
    """The value with each "{}" in its strings and keys replaced by ``text``."""
    if isinstance(value, str):
        return value.replace("{}", text)
    if isinstance(value, list):
        return [_fill(inner, text) for inner in value]
    if isinstance(value, dict):
        return {_fill(key, text): _fill(inner, text) for key, inner in value.items()}
    return value


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"answers": {"soreness": 2}, "note": "{}"}, "note"),
        ({"answers": {"soreness": 2, "{}": 1}}, "answers.a?b"),
    ],
)
def test_an_answer_with_text_no_database_stores_is_refused_and_nothing_stored(
    client: FlaskClient,
    session: Session,
    clinic: Clinic,
    answer: dict[str, Any],
    field: str,
    text: str,
) -> None:
    body = {"client_id": str(uuid.uuid4()), **_fill(answer, text)}
    response = client.post(
        f"/api/v1/me/checkins/{clinic.checkin.id}/response", headers=clinic.phone, json=body
    )
    assert_rejected(response, field)
    assert count_rows(session, Response) == 0


def test_a_free_text_answer_with_a_nul_is_refused(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(session, clinician, patient, modality="ims")
    week = next(c for c in treatment.checkins if c.slot == "7d")
    session.commit()
    response = client.post(
        f"/api/v1/checkins/{week.id}/response",
        headers=bearer(session, clinician),
        json={
            "client_id": str(uuid.uuid4()),
            "answers": {"comment": NUL},
            "answered_at": "2026-11-25T10:00:00Z",
            "source": "phone",
        },
    )
    assert_rejected(response, "answers.comment")


def test_a_filter_no_database_stores_is_refused(client: FlaskClient, clinic: Clinic) -> None:
    # (a surrogate cannot come this way: the query string's bytes are decoded, never JSON)
    assert_rejected(client.get("/api/v1/patients?code=a%00", headers=clinic.staff), "code")


def test_a_page_search_with_a_nul_searches_what_it_can(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    make_patient(session, clinician, code="KNEE-1")
    sign_in_pages(client, clinician)
    response = client.get("/clinic/patients?q=KNEE%00")
    assert response.status_code == 200
    assert "KNEE-1" in response.get_data(as_text=True)


def test_a_form_with_a_nul_says_so_by_the_field(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))
    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-1", "timezone": "UTC", "display_name": NUL},
    )
    assert response.status_code == 422
    assert 'id="display_name-error"' in response.get_data(as_text=True)
    assert count_rows(session, Patient) == 0


# --- days at the calendar's edge -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/analytics/recovery?date_to=9999-12-31",
        "/api/v1/analytics/responders?date_from=0001-01-01",
        "/api/v1/exports/answers.csv?date_to=9999-12-31",
        "/api/v1/exports/fhir?date_from=0001-01-01",
    ],
)
def test_a_day_at_the_calendars_edge_is_refused(
    client: FlaskClient, clinic: Clinic, url: str
) -> None:
    field = "date_to" if "date_to" in url else "date_from"
    assert_rejected(client.get(url, headers=clinic.staff), field)


def test_the_compare_page_refuses_a_day_at_the_calendars_edge(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session, role="admin"))
    page = client.get("/clinic/compare?date_to=9999-12-31")
    assert page.status_code == 422
    assert "from 2000-01-01 to 2100-12-31" in page.get_data(as_text=True)
    csv = client.get("/clinic/compare/recovery.csv?date_to=9999-12-31")
    assert csv.status_code == 422


@pytest.mark.parametrize(
    "treated_at",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
        "1999-12-31T23:59:00Z",
        "9999-12-31T23:00:00-05:00",
    ],
)
def test_a_treatment_outside_the_years_of_this_service_is_refused(
    client: FlaskClient, session: Session, clinic: Clinic, treated_at: str
) -> None:
    response = client.post(
        f"/api/v1/patients/{clinic.patient.id}/treatments",
        headers=clinic.staff,
        json={"modality": "ims", "treated_at": treated_at, "regions": ["neck"]},
    )
    assert_rejected(response, "treated_at")
    assert count_rows(session, Treatment) == 1  # the clinic fixture's own


@pytest.mark.parametrize("due_at", ["9999-12-31T00:00:00Z", "2100-01-01T00:00:00Z"])
def test_a_checkin_moved_past_any_sensible_day_is_refused(
    client: FlaskClient, session: Session, clinic: Clinic, due_at: str
) -> None:
    response = client.patch(
        f"/api/v1/checkins/{clinic.checkin.id}", headers=clinic.staff, json={"due_at": due_at}
    )
    assert_rejected(response, "due_at")
    session.expire_all()
    assert session.get(CheckIn, clinic.checkin.id).due_at.year < 2100  # type: ignore[union-attr]


def test_an_answer_dated_at_the_calendars_edge_is_refused(
    client: FlaskClient, clinic: Clinic
) -> None:
    body = {"client_id": str(uuid.uuid4()), "answers": {"soreness": 2}}
    for moment in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        response = client.post(
            f"/api/v1/me/checkins/{clinic.checkin.id}/response",
            headers=clinic.phone,
            json={**body, "answered_at": moment},
        )
        assert_rejected(response, "answered_at")


# --- bodies, JSON and addresses ----------------------------------------------------------------


def test_json_nested_past_the_recursion_limit_is_a_bad_request(
    client: FlaskClient, clinic: Clinic
) -> None:
    response = client.post(
        "/api/v1/patients", headers=clinic.staff, data="[" * 20000, content_type="application/json"
    )
    assert response.status_code == 400
    assert_error_shape(response)
    assert "body" in response.get_json()["errors"]


def test_a_chunked_body_over_64_kb_is_too_large_as_one_with_a_length(
    client: FlaskClient, clinic: Clinic
) -> None:
    body = b'{"code": "' + b"x" * (65 * 1024) + b'", "timezone": "UTC"}'
    streamed = client.post(
        "/api/v1/patients",
        headers={**clinic.staff, "Content-Type": "application/json"},
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets for chunks
    )
    with_length = client.post(
        "/api/v1/patients",
        headers={**clinic.staff, "Content-Type": "application/json"},
        data=body,
    )
    assert streamed.status_code == with_length.status_code == 413
    assert streamed.get_json() == with_length.get_json()


def test_a_chunked_body_under_the_limit_is_read_whole(
    client: FlaskClient, session: Session, clinic: Clinic
) -> None:
    body = b'{"code": "P-2", "timezone": "UTC", "display_name": "' + b"S" * 150 + b'"}'
    response = client.post(
        "/api/v1/patients",
        headers={**clinic.staff, "Content-Type": "application/json"},
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["display_name"] == "S" * 150


@pytest.mark.parametrize("prefix", ["/api/v1/patients?code=", "/api/v1/nowhere/"])
def test_an_address_over_2_kb_is_414_in_json(
    client: FlaskClient, clinic: Clinic, prefix: str
) -> None:
    response = client.get(prefix + "a" * 2100, headers=clinic.staff)
    assert response.status_code == 414
    assert_error_shape(response)


def test_a_method_an_address_does_not_take_says_which_it_does(
    client: FlaskClient, clinic: Clinic
) -> None:
    response = client.delete("/api/v1/patients", headers=clinic.staff)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_error_shape(response)


# --- answers -----------------------------------------------------------------------------------


def test_a_client_id_reused_with_other_answers_is_a_conflict_naming_it(
    client: FlaskClient, session: Session, clinic: Clinic
) -> None:
    url = f"/api/v1/me/checkins/{clinic.checkin.id}/response"
    client_id = str(uuid.uuid4())
    first = client.post(
        url, headers=clinic.phone, json={"client_id": client_id, "answers": {"soreness": 2}}
    )
    assert first.status_code == 201
    other = client.post(
        url, headers=clinic.phone, json={"client_id": client_id, "answers": {"soreness": 7}}
    )
    assert_rejected(other, "client_id", 409)
    same = client.post(
        url, headers=clinic.phone, json={"client_id": client_id, "answers": {"soreness": 2}}
    )
    assert same.status_code == 200
    stored = session.scalars(select(Response)).one()
    assert stored.answers[0].value_num == 2


# --- time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "Mars/Olympus"])
def test_only_a_real_iana_time_zone_is_taken(
    client: FlaskClient, clinic: Clinic, zone: str
) -> None:
    created = client.post(
        "/api/v1/patients", headers=clinic.staff, json={"code": "P-3", "timezone": zone}
    )
    assert_rejected(created, "timezone")
    assert_rejected(
        client.put("/api/v1/clinic", headers=clinic.staff, json={"timezone": zone}), "timezone"
    )
