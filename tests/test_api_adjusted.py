"""GET /api/v1/analytics/adjusted: the stored fit, how fresh it is, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.services.adjusted.store import refit_stale
from tests.factories import NOW, bearer, make_clinic, make_clinician
from tests.test_adjusted_fits import treated_cohort

URL = "/api/v1/analytics/adjusted"


@pytest.fixture
def headers(session: Session) -> dict[str, str]:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=4)
    return bearer(session, make_clinician(session, clinic=clinic))


def test_not_fitted_yet_says_when_it_will_be(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get(URL, headers=headers)

    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    assert body["status"] == "not_fitted"
    assert body["comparison"] is None
    assert body["refit_within_minutes"] == 5


def test_fitted_comparison_follows_the_contract(
    client: FlaskClient, session: Session, headers: dict[str, str]
) -> None:
    refit_stale(session, now=NOW)

    body: dict[str, Any] = client.get(URL, headers=headers).get_json()

    assert body["status"] == "fitted"
    assert body["fitted_at"] == NOW.isoformat()
    comparison = body["comparison"]
    assert comparison["reference"] == "ims"
    soreness = comparison["measures"][0]
    assert (soreness["measure"], soreness["slots"]) == ("soreness", ["24h", "7d"])
    assert set(soreness) >= {"n", "patients", "converged", "note", "adjusted_for", "left_out"}
    difference = soreness["differences"][0]
    assert set(difference) == {
        "modality",
        "slot",
        "estimate",
        "ci_low",
        "ci_high",
        "patients",
        "too_few",
    }
    assert difference["too_few"] is True  # 4 patients a modality
    assert comparison["responders"]["measure"] == "responders"


def test_a_filter_of_its_own_is_a_scope_of_its_own(
    client: FlaskClient, session: Session, headers: dict[str, str]
) -> None:
    refit_stale(session, now=NOW)

    body = client.get(f"{URL}?course=repeat", headers=headers).get_json()

    assert body["status"] == "not_fitted"


@pytest.mark.parametrize(
    ("query", "field"),
    [("region=elbow", "region"), ("by=clinician", "by"), ("date_from=yesterday", "date_from")],
)
def test_bad_filters_are_422_naming_the_field(
    client: FlaskClient, headers: dict[str, str], query: str, field: str
) -> None:
    response = client.get(f"{URL}?{query}", headers=headers)

    assert response.status_code == 422
    assert field in str(response.get_json()["errors"])
