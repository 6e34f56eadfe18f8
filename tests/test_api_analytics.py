"""The analytics API: the fixed contract, scoping, roles, and each validation rule."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.models import Clinician, Network
from tests.analytics_data import Cohort
from tests.factories import bearer, make_clinic, make_clinician

POINT_KEYS = {"slot", "hours", "n", "mean", "sd", "ci_low", "ci_high"}


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    return Cohort(session, clinic, make_clinician(session, clinic=clinic))


def headers(cohort: Cohort, role: str = "clinician") -> dict[str, str]:
    clinician = cohort.clinician if role == "clinician" else None
    clinician = clinician or make_clinician(cohort.session, clinic=cohort.clinic, role=role)
    assert isinstance(clinician, Clinician)
    return bearer(cohort.session, clinician)


def dn(cohort: Cohort, values: list[int], slot: str = "0h") -> None:
    for value in values:
        treatment = cohort.treatment("dry_needling")
        cohort.answer(treatment, "baseline", soreness=1, pain=6)
        cohort.answer(treatment, slot, soreness=value)
        cohort.answer(treatment, "7d", soreness=0, pain=2)
        cohort.checkin(treatment, "7d", "answered")


def test_recovery_follows_the_contract(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [2, 4, 4, 6, 9])
    response = client.get("/api/v1/analytics/recovery?measure=soreness", headers=headers(cohort))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    assert body["measure"] == "soreness"
    (series,) = body["series"]
    assert series["modality"] == "dry_needling"
    baseline, zero = series["points"][0], series["points"][1]
    assert set(baseline) >= POINT_KEYS
    assert (baseline["slot"], baseline["hours"], baseline["n"]) == ("baseline", None, 5)
    assert (zero["slot"], zero["hours"], zero["n"], zero["mean"]) == ("0h", 0.0, 5, 5.0)
    assert zero["sd"] == pytest.approx(7**0.5)
    assert zero["ci_low"] < zero["mean"] < zero["ci_high"]


def test_suppressed_cell_has_null_figures_and_says_so(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3])
    body = client.get("/api/v1/analytics/recovery", headers=headers(cohort)).get_json()
    zero = body["series"][0]["points"][1]
    assert zero["suppressed"] is True
    assert all(zero[key] is None for key in ("n", "mean", "sd", "ci_low", "ci_high"))
    responders = client.get("/api/v1/analytics/responders", headers=headers(cohort)).get_json()
    assert responders["series"][0]["suppressed"] is True
    assert responders["series"][0]["rate"] is None


def test_resolution_follows_the_contract(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3])
    body = client.get("/api/v1/analytics/resolution", headers=headers(cohort)).get_json()
    (series,) = body["series"]
    assert {"modality", "n", "events", "median_hours", "ci_low", "ci_high", "curve"} <= set(series)
    assert (series["n"], series["events"], series["median_hours"]) == (5, 5, 168.0)
    assert series["curve"][0] == {"hours": 0.0, "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert {"hours", "survival"} <= set(series["curve"][-1])


def test_responders_follow_the_contract(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3])
    body = client.get("/api/v1/analytics/responders", headers=headers(cohort)).get_json()
    (series,) = body["series"]
    assert {"modality", "n", "responders", "rate", "ci_low", "ci_high"} <= set(series)
    assert (series["n"], series["responders"], series["rate"]) == (5, 5, 1.0)
    assert series["ci_high"] == 1.0
    assert series["ci_low"] == pytest.approx(0.5655, abs=1e-4)


def test_answer_rates_per_time_point(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3])
    body = client.get("/api/v1/analytics/answer-rates", headers=headers(cohort)).get_json()
    seven = next(p for p in body["series"][0]["points"] if p["slot"] == "7d")
    assert (seven["closed"], seven["answered"], seven["rate"]) == (5, 5, 1.0)


def test_elapsed_time_curve_in_bins(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3], slot="6h")
    body = client.get("/api/v1/analytics/recovery/elapsed", headers=headers(cohort)).get_json()
    cell = next(p for p in body["series"][0]["points"] if p["slot"] == "3-8h")
    assert (cell["n"], cell["mean"], cell["hours"]) == (5, 3.0, 3.0)


def test_filters_are_query_parameters(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3])
    url = "/api/v1/analytics/recovery?course=repeat"
    body = client.get(url, headers=headers(cohort)).get_json()
    assert body["series"] == []


def test_only_the_callers_clinic_counts(client: FlaskClient, cohort: Cohort) -> None:
    dn(cohort, [3, 3, 3, 3, 3])
    other = Cohort(cohort.session, make_clinic(cohort.session, name="Elsewhere"))
    other.clinician = make_clinician(cohort.session, clinic=other.clinic)
    body = client.get("/api/v1/analytics/recovery", headers=headers(other)).get_json()
    assert body["series"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("measure=bruise_bleed", "measure"),
        ("measure=nonsense", "measure"),
        ("course=second", "course"),
        ("by=patient", "by"),
        ("date_from=2026-11-02&date_to=2026-11-01", "date_to"),
        ("date_from=yesterday", "date_from"),
        ("region=elbow_of_mars", "region"),
        ("clinician_id=999999", "clinician_id"),
        ("clinician_id=abc", "clinician_id"),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    client: FlaskClient, cohort: Cohort, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/analytics/recovery?{query}", headers=headers(cohort))
    assert response.status_code == 422
    assert field in str(response.get_json()["errors"])


def test_a_colleagues_outcomes_alone_are_for_admins(client: FlaskClient, cohort: Cohort) -> None:
    colleague = make_clinician(cohort.session, clinic=cohort.clinic, email="colleague@example.org")
    url = f"/api/v1/analytics/recovery?clinician_id={colleague.id}"
    forbidden = client.get(url, headers=headers(cohort))
    assert forbidden.status_code == 403
    assert "clinician_id" in forbidden.get_json()["errors"]
    assert client.get(url, headers=headers(cohort, "admin")).status_code == 200
    assert cohort.clinician is not None
    own = f"/api/v1/analytics/recovery?clinician_id={cohort.clinician.id}"
    assert client.get(own, headers=headers(cohort)).status_code == 200


def test_comparing_clinicians_is_for_admins(client: FlaskClient, cohort: Cohort) -> None:
    url = "/api/v1/analytics/recovery?by=clinician"
    forbidden = client.get(url, headers=headers(cohort))
    assert forbidden.status_code == 403
    assert "by" in forbidden.get_json()["errors"]
    assert client.get(url, headers=headers(cohort, "admin")).status_code == 200


def test_comparing_clinics_is_for_a_network_admin(client: FlaskClient, cohort: Cohort) -> None:
    url = "/api/v1/analytics/recovery?by=clinic"
    assert client.get(url, headers=headers(cohort, "admin")).status_code == 403
    network = Network(name="Coast Physio Group")
    cohort.session.add(network)
    cohort.session.flush()
    sister = Cohort(cohort.session, make_clinic(cohort.session, name="Sister clinic"))
    cohort.clinic.network_id = sister.clinic.network_id = network.id
    dn(cohort, [2, 2, 2, 2, 2])
    dn(sister, [6, 6, 6, 6, 6])
    outsider = Cohort(cohort.session, make_clinic(cohort.session, name="Outsider"))
    dn(outsider, [9, 9, 9, 9, 9])
    body = client.get(url, headers=headers(cohort, "network_admin")).get_json()
    means = {s["group"]["label"]: s["points"][1]["mean"] for s in body["series"]}
    assert means == {cohort.clinic.name: 2.0, "Sister clinic": 6.0}


def test_analytics_need_a_clinician_token(client: FlaskClient, cohort: Cohort) -> None:
    for path in ("recovery", "resolution", "responders", "answer-rates"):
        assert client.get(f"/api/v1/analytics/{path}").status_code == 401


def test_analytics_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("recovery", "resolution", "responders", "answer-rates", "recovery/elapsed"):
        assert f"/api/v1/analytics/{path}" in paths
