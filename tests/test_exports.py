"""Exports: the tidy CSV (streamed, one row per answer) and the FHIR R4 Bundle, through the API."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fhir.resources.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinician, Response, Treatment
from server.services import exports
from server.services.answers import answer_checkin, enter_response
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

CSV_URL = "/api/v1/exports/answers.csv"
FHIR_URL = "/api/v1/exports/fhir"
T0 = "2026-11-24T17:00:00Z"  # NOW as the exports write it


def treated_with_answers(session: Session, clinician: Clinician, code: str = "P-001") -> Treatment:
    """Dry needling at NOW over neck and upper back: a baseline half an hour before, and the
    6 h check-in answered in the app 6.5 h after."""
    patient = make_patient(session, clinician, code=code, timezone="UTC", quiet_hours=None)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        regions=["neck", "upper_back"],
        baseline={"soreness": 2, "pain": 6, "mobility_activity": "Climbing stairs"},
        baseline_at=NOW - timedelta(minutes=30),
    )
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4, "bruise_bleed": "small", "rf_breath_chest": False},
        note=None,
        now=NOW + timedelta(hours=6, minutes=30),
    )
    return treatment


def entered_by_phone(
    session: Session, treatment: Treatment, clinician: Clinician, answers: dict[str, object]
) -> Response:
    """The 24 h check-in, read out over the phone and typed in by a clinician at T0 + 25 h."""
    answered_at = NOW + timedelta(hours=25)
    return enter_response(
        session,
        clinician=clinician,
        checkin_id=checkin_for(treatment, "24h").id,
        client_id=uuid.uuid4(),
        answers=answers,
        answered_at=answered_at,
        source="phone",
        note=None,
        now=answered_at,
    ).response


def csv_rows(client: FlaskClient, headers: dict[str, str], **query: str) -> list[dict[str, str]]:
    """GET the CSV export and parse it."""
    # buffered: the stream is read while the request's own context is still there (the test
    # client runs each request in a fresh context, which is gone once open() returns)
    response = client.get(CSV_URL, headers=headers, query_string=query, buffered=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def fhir_bundle(client: FlaskClient, headers: dict[str, str], **query: str) -> dict[str, Any]:
    """GET the FHIR export; it must be a valid R4 Bundle."""
    response = client.get(FHIR_URL, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body: dict[str, Any] = response.get_json(force=True)
    Bundle.parse_obj(body)
    return body


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The bundle's resources of one type, in order."""
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def references(node: object) -> Iterator[str]:
    """Every ``reference`` anywhere inside a resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_has_one_row_per_answer_with_readable_values(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treatment = treated_with_answers(session, clinician)
    baseline, checkin = sorted(
        session.scalars(select(Response).filter_by(treatment_id=treatment.id)),
        key=lambda response: response.answered_at,
    )
    t, c, b, r = treatment.id, clinician.id, baseline.id, checkin.id
    headers = bearer(session, clinician)

    response = client.get(CSV_URL, headers=headers, buffered=True)  # see csv_rows

    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="answers-\d{4}-\d{2}-\d{2}\.csv"',
        response.headers["Content-Disposition"],
    )
    common = f"P-001,{t},dry_needling,{T0},{c},neck;upper_back"
    assert response.get_data(as_text=True).splitlines() == [
        ",".join(exports.CSV_COLUMNS),
        f"{common},baseline,,{b},baseline,{c},2026-11-24T16:30:00Z,-0.50,soreness,2,2,,,,",
        f"{common},baseline,,{b},baseline,{c},2026-11-24T16:30:00Z,-0.50,pain,6,6,,,,",
        f"{common},baseline,,{b},baseline,{c},2026-11-24T16:30:00Z,-0.50,"
        "mobility_activity,Climbing stairs,,Climbing stairs,,,",
        f"{common},6h,6,{r},app,,2026-11-24T23:30:00Z,6.50,soreness,4,4,,,,",
        f"{common},6h,6,{r},app,,2026-11-24T23:30:00Z,6.50,bruise_bleed,small,,small,,,",
        f"{common},6h,6,{r},app,,2026-11-24T23:30:00Z,6.50,rf_breath_chest,no,0,,,,",
    ]


def test_csv_names_who_typed_in_a_phone_answer(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = treated_with_answers(session, clinician)
    entered_by_phone(session, treatment, clinician, {"pain": 3, "rf_infection": True})

    rows = [row for row in csv_rows(client, bearer(session, clinician)) if row["slot"] == "24h"]

    assert [(row["item_code"], row["value"], row["value_num"]) for row in rows] == [
        ("pain", "3", "3"),
        ("rf_infection", "yes", "1"),
    ]
    assert {(row["source"], row["entered_by_id"], row["nominal_hours"]) for row in rows} == {
        ("phone", str(clinician.id), "24")
    }
    assert {row["hours_since_treatment"] for row in rows} == {"25.00"}


def test_csv_filters_by_inclusive_utc_days_of_treatment(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    moments = {
        "before": datetime(2026, 11, 20, 23, 59, tzinfo=NOW.tzinfo),
        "first_day": datetime(2026, 11, 21, 0, 0, tzinfo=NOW.tzinfo),
        "last_day": datetime(2026, 11, 23, 23, 59, tzinfo=NOW.tzinfo),
        "after": datetime(2026, 11, 24, 0, 0, tzinfo=NOW.tzinfo),
    }
    ids = {
        name: make_treatment(session, clinician, patient, treated_at=at, baseline={"pain": 5}).id
        for name, at in moments.items()
    }

    rows = csv_rows(
        client, bearer(session, clinician), date_from="2026-11-21", date_to="2026-11-23"
    )

    assert [int(row["treatment_id"]) for row in rows] == [ids["first_day"], ids["last_day"]]


def test_csv_filters_by_modality(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    for modality in ("ims", "dry_needling", "acupuncture"):
        make_treatment(session, clinician, patient, modality=modality, baseline={"pain": 5})

    rows = csv_rows(client, bearer(session, clinician), modality="ims")

    assert [(row["modality"], row["item_code"]) for row in rows] == [("ims", "pain")]


def test_csv_never_shows_another_clinics_answers(client: FlaskClient, session: Session) -> None:
    ours = make_clinician(session)
    treated_with_answers(session, ours, code="OURS-1")
    theirs = make_clinician(session, make_clinic(session, name="Other Clinic"))
    treated_with_answers(session, theirs, code="THEIRS-1")

    rows = csv_rows(client, bearer(session, ours))

    assert {row["patient_code"] for row in rows} == {"OURS-1"}


@pytest.mark.parametrize("typed", ["=HYPERLINK(1)", "+1+2", "-1+2", "@SUM(A1)"])
def test_csv_quotes_free_text_a_spreadsheet_would_run(
    client: FlaskClient, session: Session, typed: str
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code=f"{typed[0]}P")
    make_treatment(session, clinician, patient, baseline={"mobility_activity": f"{typed} stairs"})

    [row] = csv_rows(client, bearer(session, clinician))

    assert row["patient_code"] == f"'{typed[0]}P"
    assert row["value"] == row["value_text"] == f"'{typed} stairs"


def test_csv_export_is_audited_with_its_filters_and_row_count(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treated_with_answers(session, clinician)

    csv_rows(client, bearer(session, clinician), date_from="2026-11-01", modality="dry_needling")

    event = session.scalar(select(AuditEvent).filter_by(action="export.csv"))
    assert event is not None
    assert (event.clinic_id, event.actor) == (clinician.clinic_id, f"clinician:{clinician.id}")
    assert event.details == {
        "date_from": "2026-11-01",
        "date_to": None,
        "modality": "dry_needling",
        "rows": 6,
    }


def test_csv_stream_comes_in_chunks(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    clinician = make_clinician(session)
    treated_with_answers(session, clinician)
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", 4)

    scope = exports.begin_csv_export(session, clinician=clinician, now=NOW)
    chunks = list(exports.csv_lines(session, scope=scope))

    assert [chunk.count("\r\n") for chunk in chunks] == [1, 4, 2]


# --- FHIR ----------------------------------------------------------------------------------------


def test_fhir_bundle_is_valid_r4_with_a_questionnaire_per_checkin_and_baseline(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treated_with_answers(session, clinician)

    bundle = fhir_bundle(client, bearer(session, clinician))

    assert bundle["type"] == "collection"
    urls = [q["url"] for q in resources(bundle, "Questionnaire")]
    # ims: baseline + 5, dry needling: baseline + 7 (12 h included: a clinic may turn it on),
    # acupuncture: baseline + 4
    assert len(urls) == 19
    assert "http://testserver/Questionnaire/needling-dry_needling-24h" in urls
    assert "http://testserver/Questionnaire/needling-acupuncture-baseline" in urls
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])


def test_fhir_pain_is_a_loinc_coded_integer_slider(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)

    bundle = fhir_bundle(client, bearer(session, clinician))

    [questionnaire] = [
        q for q in resources(bundle, "Questionnaire") if q["url"].endswith("needling-ims-24h")
    ]
    items = {item["linkId"]: item for item in questionnaire["item"]}
    pain, soreness = items["pain"], items["soreness"]
    local = "http://testserver/CodeSystem/needling-checkin-items"
    assert pain["code"] == [
        {"system": "http://loinc.org", "code": "72514-3"},
        {"system": local, "code": "pain"},
    ]
    assert soreness["code"] == [{"system": local, "code": "soreness"}]
    assert pain["type"] == "integer"
    extensions = {ext["url"].rsplit("/", 1)[1]: ext for ext in pain["extension"]}
    assert extensions["minValue"]["valueInteger"] == 0
    assert extensions["maxValue"]["valueInteger"] == 10
    assert (
        extensions["questionnaire-itemControl"]["valueCodeableConcept"]["coding"][0]["code"]
        == "slider"
    )
    assert extensions["questionnaire-sliderStepValue"]["valueInteger"] == 1
    assert [child["text"] for child in pain["item"]] == [
        "0 = No pain",
        "10 = Worst pain imaginable",
    ]
    assert items["rf_infection"]["type"] == "boolean"
    assert [option["valueCoding"]["code"] for option in items["bruise_bleed"]["answerOption"]] == [
        "none",
        "small",
        "large",
        "bleeding",
    ]


def test_fhir_free_text_about_elsewhere_is_enabled_by_a_yes(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)

    bundle = fhir_bundle(client, bearer(session, clinician))

    [questionnaire] = [
        q
        for q in resources(bundle, "Questionnaire")
        if q["url"].endswith("needling-acupuncture-evening_d0")
    ]
    [item] = [item for item in questionnaire["item"] if item["linkId"] == "wb_elsewhere_text"]
    assert item["type"] == "text"
    assert item["enableWhen"] == [
        {"question": "wb_elsewhere", "operator": "=", "answerBoolean": True}
    ]


def test_fhir_responses_reference_resources_inside_the_bundle(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    treatment = treated_with_answers(session, clinician)
    entered_by_phone(session, treatment, clinician, {"pain": 3})

    bundle = fhir_bundle(client, bearer(session, clinician))

    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    canonicals = {f"{q['url']}|{q['version']}" for q in resources(bundle, "Questionnaire")}
    answers = resources(bundle, "QuestionnaireResponse")
    assert len(answers) == 3
    for answer in answers:
        assert set(references(answer)) <= full_urls
        assert answer["questionnaire"] in canonicals
    for procedure in resources(bundle, "Procedure"):
        assert set(references(procedure)) <= full_urls


def test_fhir_response_values_and_who_gave_them(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    treatment = treated_with_answers(session, clinician)
    entered_by_phone(session, treatment, clinician, {"pain": 3})

    bundle = fhir_bundle(client, bearer(session, clinician))

    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    baseline, app, phone = resources(bundle, "QuestionnaireResponse")
    assert baseline["questionnaire"].endswith("needling-dry_needling-baseline|1")
    assert baseline["authored"] == "2026-11-24T16:30:00Z"
    assert baseline["item"][2] == {
        "linkId": "mobility_activity",
        "answer": [{"valueString": "Climbing stairs"}],
    }
    assert app["status"] == "completed"
    assert [(item["linkId"], item["answer"]) for item in app["item"]] == [
        ("soreness", [{"valueInteger": 4}]),
        ("bruise_bleed", [{"valueCoding": {
            "system": "http://testserver/CodeSystem/needling-bruise_bleed",
            "code": "small",
            "display": "Small bruise, smaller than a large coin",
        }}]),
        ("rf_breath_chest", [{"valueBoolean": False}]),
    ]  # fmt: skip
    patient = by_url[app["subject"]["reference"]]
    assert patient["identifier"][0]["value"] == "P-001"
    assert by_url[app["author"]["reference"]] is patient
    assert app["extension"][0]["valueCode"] == "app"
    assert phone["extension"][0]["valueCode"] == "phone"
    typist = by_url[phone["author"]["reference"]]
    assert typist["resourceType"] == "Practitioner"
    assert typist["identifier"][0]["value"] == str(clinician.id)
    assert by_url[phone["source"]["reference"]] is patient
    procedure = by_url[app["partOf"][0]["reference"]]
    assert procedure["performedPeriod"] == {"end": T0}
    assert procedure["code"]["coding"][0]["code"] == "dry_needling"


def test_fhir_patient_carries_only_the_clinic_code(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, display_name="Ada Lovelace", email="a@example.org")
    make_treatment(session, clinician, patient, baseline={"pain": 5})

    bundle = fhir_bundle(client, bearer(session, clinician))

    [exported] = resources(bundle, "Patient")
    assert exported == {
        "resourceType": "Patient",
        "identifier": [
            {
                "system": f"http://testserver/clinics/{clinician.clinic_id}/patient-codes",
                "value": "P-001",
            }
        ],
    }


def test_fhir_never_shows_another_clinic_and_is_audited(
    client: FlaskClient, session: Session
) -> None:
    ours = make_clinician(session)
    treated_with_answers(session, ours, code="OURS-1")
    theirs = make_clinician(session, make_clinic(session, name="Other Clinic"))
    treated_with_answers(session, theirs, code="THEIRS-1")

    bundle = fhir_bundle(client, bearer(session, ours), modality="dry_needling")

    codes = [p["identifier"][0]["value"] for p in resources(bundle, "Patient")]
    assert codes == ["OURS-1"]
    assert len(resources(bundle, "QuestionnaireResponse")) == 2
    event = session.scalar(select(AuditEvent).filter_by(action="export.fhir"))
    assert event is not None
    assert event.clinic_id == ours.clinic_id
    assert event.details == {
        "date_from": None,
        "date_to": None,
        "modality": "dry_needling",
        "patients": 1,
        "treatments": 1,
        "responses": 2,
    }


# --- auth and arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CSV_URL, FHIR_URL])
def test_export_requires_a_clinician_token(client: FlaskClient, url: str) -> None:
    assert_rejected(client.get(url), "authorization", status=401)


@pytest.mark.parametrize("url", [CSV_URL, FHIR_URL])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "2026-11-24", "date_to": "2026-11-23"}, "date_to"),
        ({"date_from": "24/11/2026"}, "date_from"),
        ({"modality": "cupping"}, "modality"),
    ],
)
def test_export_rejects_bad_filters_naming_the_field(
    client: FlaskClient, session: Session, url: str, query: dict[str, str], field: str
) -> None:
    headers = bearer(session, make_clinician(session))

    assert_rejected(client.get(url, headers=headers, query_string=query), field)
