"""A treatment's dose (number of needle sites, retention in minutes, needle diameter in mm):
recorded through the API and the form, each range refused by its field with nothing saved,
and read back on the patient page and the printable summary in words."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import InvalidInput
from server.models import CheckIn, Treatment
from server.pages.formatting import dose_text
from server.services.erasure import erase_patient
from server.services.fhir import UCUM, export_fhir_bundle, export_patient_bundle
from tests.factories import bearer, count_rows, make_clinician, make_patient, make_treatment
from tests.http import assert_error_shape, assert_rejected
from tests.test_treatment_notes import post_treatment, record, signed_in

NOW_LATER = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # a day after the factories' NOW
DOSE: dict[str, Any] = {"needle_sites": 8, "retention_minutes": 20, "needle_diameter_mm": 0.25}

# --- the API -----------------------------------------------------------------------------------


def test_the_api_records_the_dose_and_reads_it_back(client: FlaskClient, session: Session) -> None:
    response = post_treatment(client, session, **DOSE)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {field: body[field] for field in DOSE} == DOSE
    treatment = session.scalars(select(Treatment)).one()
    dose = (treatment.needle_sites, treatment.retention_minutes, treatment.needle_diameter_mm)
    assert dose == (8, 20.0, 0.25)


def test_the_api_leaves_the_dose_unrecorded_when_not_given(
    client: FlaskClient, session: Session
) -> None:
    body = post_treatment(client, session, retention_minutes=None).get_json()

    assert [body[field] for field in DOSE] == [None, None, None]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"needle_sites": 0}, "needle_sites", "greater than or equal to 1"),
        ({"needle_sites": 101}, "needle_sites", "less than or equal to 100"),
        ({"needle_sites": 2.5}, "needle_sites", "Not a valid integer."),
        ({"needle_sites": "8"}, "needle_sites", "Not a valid integer."),
        ({"retention_minutes": -1}, "retention_minutes", "greater than or equal to 0"),
        ({"retention_minutes": 181}, "retention_minutes", "less than or equal to 180"),
        ({"retention_minutes": "20"}, "retention_minutes", "Not a valid number."),
        ({"retention_minutes": True}, "retention_minutes", "Not a valid number."),
        ({"needle_diameter_mm": 0.05}, "needle_diameter_mm", "greater than or equal to 0.1"),
        ({"needle_diameter_mm": 30}, "needle_diameter_mm", "less than or equal to 0.6"),
    ],
    ids=[
        "no-sites",
        "too-many-sites",
        "fractional-sites",
        "sites-as-text",
        "negative-retention",
        "retention-over-3-hours",
        "retention-as-text",
        "retention-boolean",
        "diameter-too-fine",
        "diameter-as-gauge",
    ],
)
def test_the_api_refuses_a_dose_out_of_range_naming_the_field_and_saves_nothing(
    client: FlaskClient, session: Session, fields: dict[str, Any], field: str, reason: str
) -> None:
    response = post_treatment(client, session, **fields)

    assert_rejected(response, field)
    assert_error_shape(response)
    [message] = response.get_json()["errors"][field]
    assert reason in message
    assert count_rows(session, Treatment) == 0
    assert count_rows(session, CheckIn) == 0


def test_the_openapi_document_describes_the_dose_with_its_units_and_ranges(
    client: FlaskClient,
) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    create = schemas["TreatmentCreate"]["properties"]
    assert (create["needle_sites"]["minimum"], create["needle_sites"]["maximum"]) == (1, 100)
    assert create["retention_minutes"]["maximum"] == 180
    assert create["needle_diameter_mm"]["minimum"] == 0.1
    assert "minutes" in create["retention_minutes"]["description"]
    assert "gauge" in create["needle_diameter_mm"]["description"]
    assert set(DOSE) <= set(schemas["Treatment"]["properties"])


# --- the service and the database --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("needle_sites", 0), ("retention_minutes", 200.0), ("needle_diameter_mm", 0.9)],
)
def test_the_service_refuses_a_dose_out_of_range_by_its_field(
    session: Session, field: str, value: float
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)

    dose: dict[str, Any] = {field: value}

    with pytest.raises(InvalidInput) as refused:
        make_treatment(session, clinician, patient, **dose)

    assert list(refused.value.errors) == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [("needle_sites", 0), ("retention_minutes", -0.5), ("needle_diameter_mm", 1.2)],
)
def test_the_database_refuses_a_dose_out_of_range(
    session: Session, field: str, value: float
) -> None:
    clinician = make_clinician(session)
    treatment = make_treatment(session, clinician, make_patient(session, clinician))
    setattr(treatment, field, value)

    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


# --- exports and erasure ----------------------------------------------------------------------


def test_the_csv_export_gives_each_answer_its_treatments_dose(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    make_treatment(session, clinician, patient, baseline={"soreness": 2}, **DOSE)
    make_treatment(session, clinician, patient, baseline={"soreness": 3}, treated_at=NOW_LATER)

    response = client.get(
        "/api/v1/exports/answers.csv", headers=bearer(session, clinician), buffered=True
    )

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[-3:] == ["needle_sites", "retention_minutes", "needle_diameter_mm"]
    assert [tuple(row[field] for field in DOSE) for row in rows] == [
        ("8", "20", "0.25"),
        ("", "", ""),
    ]


def test_fhir_carries_the_dose_as_extensions_with_ucum_units(session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    make_treatment(session, clinician, patient, needle_sites=5, retention_minutes=0.1)
    make_treatment(session, clinician, patient, treated_at=NOW_LATER)
    base = "https://clinic.example"

    bundle = export_fhir_bundle(session, clinician=clinician, base_url=base, now=NOW_LATER)
    own = export_patient_bundle(
        session, clinician=clinician, patient=patient, base_url=base, now=NOW_LATER
    )

    for exported in (bundle, own):
        Bundle.parse_obj(exported)
        dosed, undosed = [
            e["resource"] for e in exported["entry"] if e["resource"]["resourceType"] == "Procedure"
        ]
        assert dosed["extension"] == [
            {"url": f"{base}/StructureDefinition/needle-sites", "valueInteger": 5},
            {
                "url": f"{base}/StructureDefinition/needle-retention",
                "valueQuantity": {"value": 0.1, "unit": "min", "system": UCUM, "code": "min"},
            },
        ]
        assert "extension" not in undosed  # FHIR allows no empty lists


def test_the_dose_goes_with_the_patients_erasure(session: Session) -> None:
    admin = make_clinician(session, role="admin")
    patient = make_patient(session, admin, code="ERASE-2")
    make_treatment(session, admin, patient, needle_sites=37, needle_diameter_mm=0.18)

    erase_patient(session, clinician=admin, patient=patient, confirm="ERASE-2", now=NOW_LATER)

    assert session.scalar(select(Treatment.id).filter_by(needle_sites=37)) is None


# --- the form and the pages --------------------------------------------------------------------


def test_the_form_asks_for_the_dose_with_its_units(client: FlaskClient, session: Session) -> None:
    _, patient = signed_in(client, session)

    page = client.get(f"/clinic/patients/{patient.id}/treatments/new").get_data(as_text=True)

    assert '<label for="needle_sites">Number of needle sites</label>' in page
    assert '<label for="retention_minutes">Needle retention (minutes)</label>' in page
    assert '<label for="needle_diameter_mm">Needle diameter (mm)</label>' in page
    assert "gauge numbers differ between countries" in page


def test_the_form_records_the_dose_and_the_pages_show_it_in_words(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in(client, session)

    response = record(
        client,
        patient,
        {"needle_sites": "6", "retention_minutes": "0.1", "needle_diameter_mm": "0.30"},
    )

    assert response.status_code == 302
    treatment = session.scalars(select(Treatment)).one()
    dose = (treatment.needle_sites, treatment.retention_minutes, treatment.needle_diameter_mm)
    assert dose == (6, 0.1, 0.3)
    words = "Dose: 6 needle sites, needles in 6 s, 0.30 mm needles."
    assert words in client.get(response.headers["Location"]).get_data(as_text=True)
    summary = client.get(f"/clinic/patients/{patient.id}/summary").get_data(as_text=True)
    assert words in summary


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"needle_sites": "0"}, "needle_sites", "Enter a number from 1 to 100."),
        ({"needle_sites": "eight"}, "needle_sites", "Enter a whole number, like 5."),
        ({"needle_sites": "2.5"}, "needle_sites", "Enter a whole number, like 5."),
        ({"retention_minutes": "500"}, "retention_minutes", "Enter a number from 0 to 180."),
        ({"retention_minutes": "nan"}, "retention_minutes", "Enter a number."),
        ({"needle_diameter_mm": "32"}, "needle_diameter_mm", "Enter a number from 0.1 to 0.6."),
        ({"needle_diameter_mm": "0,25"}, "needle_diameter_mm", "Enter a number, like 5."),
    ],
    ids=[
        "no-sites",
        "sites-in-words",
        "fractional-sites",
        "long-retention",
        "nan-retention",
        "gauge-not-mm",
        "decimal-comma",
    ],
)
def test_the_form_shows_a_bad_dose_beside_its_field_and_saves_nothing(
    client: FlaskClient, session: Session, fields: dict[str, str], field: str, reason: str
) -> None:
    _, patient = signed_in(client, session)

    response = record(client, patient, fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error = page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert reason in error
    assert count_rows(session, Treatment) == 0


@pytest.mark.parametrize(
    ("dose", "words"),
    [
        ((None, None, None), "Dose not recorded"),
        ((1, None, None), "Dose: 1 needle site"),
        ((None, 17.5, None), "Dose: needles in 17.5 min"),
        ((None, 1.0, 0.2), "Dose: needles in 1 min, 0.20 mm needles"),
        ((12, 0.05, None), "Dose: 12 needle sites, needles in 3 s"),
    ],
)
def test_the_dose_reads_in_words(
    dose: tuple[int | None, float | None, float | None], words: str
) -> None:
    assert dose_text(*dose) == words
