"""A treatment's side, the points needled (free text beside the coded regions) and a clinical
note: recorded through the API and the form, each rule refused by its field with nothing
saved, and read back on the patient page in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.inputs import REASON
from server.models import CheckIn, Clinician, Patient, Treatment
from server.services.fhir import SNOMED, export_fhir_bundle
from tests.factories import (
    bearer,
    count_rows,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)
from tests.http import assert_error_shape, assert_rejected
from tests.test_pages_treatments import local_input

POINTS = "GB21, LI4, upper trapezius trigger point"
NOTE = "Taut band in the left upper trapezius.\nReferred pain to the temple reproduced."


def post_treatment(client: FlaskClient, session: Session, **fields: Any) -> TestResponse:
    """POST a dry-needling treatment of five minutes ago with ``fields`` besides."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, timezone="UTC", quiet_hours=None)
    body = {
        "modality": "dry_needling",
        "treated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        **fields,
    }
    return client.post(
        f"/api/v1/patients/{patient.id}/treatments", headers=bearer(session, clinician), json=body
    )


# --- the API -----------------------------------------------------------------------------------


def test_the_api_records_the_side_points_and_note_and_reads_them_back(
    client: FlaskClient, session: Session
) -> None:
    response = post_treatment(
        client, session, regions=["neck"], side="left", points=f"  {POINTS} ", note=NOTE
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["side"], body["points"], body["note"]) == ("left", POINTS, NOTE)
    treatment = session.scalars(select(Treatment)).one()
    assert (treatment.side, treatment.points, treatment.note) == ("left", POINTS, NOTE)
    assert treatment.regions == ["neck"]  # the regions stay the coded vocabulary


def test_the_api_leaves_side_points_and_note_unrecorded_when_not_given(
    client: FlaskClient, session: Session
) -> None:
    body = post_treatment(client, session, side=None, points="   ").get_json()

    assert (body["side"], body["points"], body["note"]) == (None, None, None)


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"side": "top"}, "side", "Must be one of: left, right, both."),
        ({"points": "x" * 501}, "points", "Longer than maximum length 500."),
        ({"note": "x" * 2001}, "note", "Longer than maximum length 2000."),
        ({"points": "GB21\x00"}, "points", REASON),
        ({"note": "fine\udfff"}, "note", REASON),
        ({"note": 12}, "note", "Not a valid string."),
    ],
    ids=["unknown-side", "long-points", "long-note", "nul-points", "surrogate-note", "not-text"],
)
def test_the_api_refuses_a_bad_side_points_or_note_naming_the_field_and_saves_nothing(
    client: FlaskClient, session: Session, fields: dict[str, Any], field: str, reason: str
) -> None:
    response = post_treatment(client, session, **fields)

    assert_rejected(response, field)
    assert_error_shape(response)
    assert response.get_json()["errors"][field] == [reason]
    assert count_rows(session, Treatment) == 0
    assert count_rows(session, CheckIn) == 0


def test_the_openapi_document_describes_side_points_and_note(client: FlaskClient) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    create = schemas["TreatmentCreate"]["properties"]
    assert create["side"]["enum"] == ["left", "right", "both", None]
    assert create["points"]["maxLength"] == 500
    assert create["note"]["maxLength"] == 2000
    assert "regions" in create["points"]["description"]
    assert {"side", "points", "note"} <= set(schemas["Treatment"]["properties"])


# --- the form ----------------------------------------------------------------------------------


def record(client: FlaskClient, patient: Patient, fields: dict[str, str]) -> TestResponse:
    """Post the treatment form: a dry-needling session ended a minute ago, with ``fields``."""
    url = f"/clinic/patients/{patient.id}/treatments/new"
    posted = {
        "modality": "dry_needling",
        "treated_at": local_input(datetime.now(UTC) - timedelta(minutes=1)),
        **fields,
    }
    return post_form(client, url, url, posted)


def signed_in(client: FlaskClient, session: Session) -> tuple[Clinician, Patient]:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    sign_in_pages(client, clinician)
    return clinician, patient


def test_the_form_asks_for_the_side_the_points_and_a_note(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in(client, session)

    page = client.get(f"/clinic/patients/{patient.id}/treatments/new").get_data(as_text=True)

    for value in ("", "left", "right", "both"):
        assert f'name="side" value="{value}"' in page
    assert '<label for="points">Points needled (optional)</label>' in page
    assert '<textarea id="note" name="note"' in page


def test_the_form_records_them_and_the_patient_page_shows_them_in_words(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in(client, session)

    response = record(
        client,
        patient,
        {"regions": "neck", "side": "both", "points": POINTS, "note": NOTE, "thoracic_region": ""},
    )

    assert response.status_code == 302
    treatment = session.scalars(select(Treatment)).one()
    assert (treatment.side, treatment.points, treatment.note) == ("both", POINTS, NOTE)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Both sides." in page
    assert f"Points needled: {POINTS}" in page
    assert "Taut band in the left upper trapezius.\nReferred pain" in page
    assert ">both<" not in page


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"side": "up"}, "side", "choose left, right, both, or not recorded"),
        ({"points": "x" * 501}, "points", "write the points in at most 500 characters"),
        ({"note": "x" * 2001}, "note", "keep the note to 2000 characters"),
        ({"points": "GB21\x00"}, "points", REASON),
        ({"note": "a\x00b"}, "note", REASON),
    ],
    ids=["unknown-side", "long-points", "long-note", "nul-points", "nul-note"],
)
def test_the_form_shows_a_bad_side_points_or_note_beside_the_field_and_saves_nothing(
    client: FlaskClient, session: Session, fields: dict[str, str], field: str, reason: str
) -> None:
    _, patient = signed_in(client, session)

    response = record(client, patient, fields)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">' in page
    error = page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert reason in error
    assert count_rows(session, Treatment) == 0


def test_a_treatment_recorded_before_them_reads_side_not_recorded(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = signed_in(client, session)
    make_treatment(session, clinician, patient, treated_at=datetime.now(UTC))
    session.commit()

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert "Side not recorded." in page
    assert "Points needled" not in page
    assert "Clinical note" not in page


# --- the clinic's FHIR export ------------------------------------------------------------------


def test_the_clinics_fhir_export_gives_each_site_its_side_and_leaves_the_note_out(
    session: Session,
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    make_treatment(
        session,
        clinician,
        patient,
        regions=["neck", "knee"],
        side="right",
        points=POINTS,
        note=NOTE,
    )

    bundle = export_fhir_bundle(
        session, clinician=clinician, base_url="https://clinic.example", now=datetime.now(UTC)
    )

    Bundle.parse_obj(bundle)
    [procedure] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure"
    ]
    sites = procedure["bodySite"]
    assert [site.get("coding", [{}])[0].get("code") for site in sites] == ["neck", "knee", None]
    assert sites[2]["text"] == POINTS
    for site in sites:
        assert site["extension"] == [
            {
                "url": "https://clinic.example/StructureDefinition/laterality",
                "valueCoding": {"system": SNOMED, "code": "24028007", "display": "Right"},
            }
        ]
    assert "note" not in procedure  # the clinician's free text stays in the patient's own copy
