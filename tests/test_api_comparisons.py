"""Case mix and the tests between modalities: in the API, its OpenAPI document, and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.analytics_data import Cohort
from tests.factories import bearer, make_clinic, make_clinician, sign_in_pages


@pytest.fixture
def cohort(session: Session) -> Cohort:
    """Five IMS and five dry-needling patients, alike but for their baseline pain."""
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for modality, pains, resolved in (
        ("ims", [6, 7, 8, 5, 4], "48h"),
        ("dry_needling", [3, 4, 5, 4, 4], "24h"),
    ):
        for index, pain in enumerate(pains):
            treatment = cohort.treatment(modality, regions=["neck"])
            cohort.answer(treatment, "baseline", soreness=1, pain=pain)
            cohort.answer(treatment, "6h", soreness=5)
            cohort.answer(treatment, resolved, soreness=1)
            cohort.answer(treatment, "7d", soreness=0, pain=pain - 2 * (index % 2))
            cohort.checkin(treatment, "7d", "answered")
    return cohort


def headers(cohort: Cohort) -> dict[str, str]:
    assert cohort.clinician is not None
    return bearer(cohort.session, cohort.clinician)


def test_case_mix_follows_the_contract(client: FlaskClient, cohort: Cohort) -> None:
    response = client.get("/api/v1/analytics/case-mix", headers=headers(cohort))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    assert body["modalities"] == [
        {"modality": "ims", "patients": 5, "treatments": 5, "suppressed": False},
        {"modality": "dry_needling", "patients": 5, "treatments": 5, "suppressed": False},
    ]
    pain = next(row for row in body["characteristics"] if row["code"] == "baseline_pain")
    assert [(cell["modality"], cell["n"], cell["mean"]) for cell in pain["cells"]] == [
        ("ims", 5, 6.0),
        ("dry_needling", 5, 4.0),
    ]
    (difference,) = pain["differences"]
    assert (difference["first"], difference["second"], difference["is_imbalanced"]) == (
        "ims",
        "dry_needling",
        True,
    )
    assert difference["smd"] == pytest.approx(2.0 / ((2.5 + 0.5) / 2) ** 0.5)
    neck = next(row for row in body["characteristics"] if row["code"] == "region:neck")
    assert [cell["mean"] for cell in neck["cells"]] == [1.0, 1.0]
    assert neck["differences"][0] == {
        "first": "ims",
        "second": "dry_needling",
        "smd": 0.0,
        "is_imbalanced": False,
    }


def test_significance_gives_each_p_value_with_its_effect(
    client: FlaskClient, cohort: Cohort
) -> None:
    response = client.get("/api/v1/analytics/significance", headers=headers(cohort))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    resolution, responders = body["resolution"], body["responders"]
    assert (resolution["modalities"], resolution["df"]) == (["ims", "dry_needling"], 1)
    (pair,) = resolution["pairs"]
    assert pair["hazard_ratio"] < 1  # IMS resolves later (48 h against 24 h)
    assert pair["ci_low"] < pair["hazard_ratio"] < pair["ci_high"]
    assert pair["p_holm"] == pair["p_value"] == pytest.approx(resolution["p_value"])
    (pair,) = responders["pairs"]
    # responders: IMS 5→3 only (7→5 is 29 %); DN 4→2 twice: 1 of 5 against 2 of 5
    assert (pair["difference"], pair["method"]) == (pytest.approx(-0.2), "Fisher exact")
    assert pair["ci_low"] < -0.2 < pair["ci_high"]
    assert (body["resolution_left_out"], body["responders_left_out"]) == ([], [])


@pytest.mark.parametrize("path", ["case-mix", "significance"])
@pytest.mark.parametrize(
    ("query", "field"),
    [("region=nowhere", "region"), ("date_from=2026-02-01&date_to=2026-01-01", "date_to")],
)
def test_bad_filters_are_refused_naming_the_field(
    client: FlaskClient, cohort: Cohort, path: str, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/analytics/{path}?{query}", headers=headers(cohort))
    assert response.status_code == 422
    assert field in str(response.get_json()["errors"])


@pytest.mark.parametrize("path", ["case-mix", "significance"])
def test_comparisons_need_a_clinician_token(client: FlaskClient, path: str) -> None:
    assert client.get(f"/api/v1/analytics/{path}").status_code == 401


def test_comparisons_are_in_the_openapi_document_with_schemas(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for path, schema in (("case-mix", "CaseMix"), ("significance", "Significance")):
        operation = document["paths"][f"/api/v1/analytics/{path}"]["get"]
        reference = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert reference["$ref"].endswith(f"/{schema}")
        assert "by" not in {parameter["name"] for parameter in operation["parameters"]}
    schemas = document["components"]["schemas"]
    assert "smd" in schemas["StandardisedDifference"]["properties"]
    assert "p_holm" in schemas["ResolutionPair"]["properties"]


def csv_rows(client: FlaskClient, cohort: Cohort, analytic: str) -> list[dict[str, str]]:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    response = client.get(f"/clinic/compare/{analytic}.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_case_mix_as_csv_has_a_row_per_cell_and_per_pair(
    client: FlaskClient, cohort: Cohort
) -> None:
    rows = csv_rows(client, cohort, "case-mix")
    pain = [row for row in rows if row["characteristic"] == "baseline_pain"]
    assert [(row["modality"], row["compared_with"], row["mean"]) for row in pain] == [
        ("ims", "", "6.0"),
        ("dry_needling", "", "4.0"),
        ("ims", "dry_needling", ""),
    ]
    assert pain[-1]["is_imbalanced"] == "True"
    patients = [row for row in rows if row["characteristic"] == "patients"]
    assert [row["count"] for row in patients] == ["5", "5"]


def test_tests_as_csv_keep_effect_and_interval_beside_each_p_value(
    client: FlaskClient, cohort: Cohort
) -> None:
    rows = csv_rows(client, cohort, "significance")
    assert [(row["outcome"], row["comparison"]) for row in rows] == [
        ("time to soreness resolution", "IMS, Dry needling"),
        ("time to soreness resolution", "IMS vs Dry needling"),
        ("pain responders", "IMS, Dry needling"),
        ("pain responders", "IMS vs Dry needling"),
    ]
    for row in rows[1::2]:
        assert row["estimate"]
        assert row["ci_low"]
        assert row["ci_high"]
        assert row["p_holm"]
