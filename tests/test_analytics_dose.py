"""Soreness at 24 h against the dose within a modality: per dose bin (the bins are data), the
mean, sample SD and t interval as numpy and scipy give them, a "not recorded" cell, small
cells suppressed, and only the scope's answers at 24 h counted."""

from __future__ import annotations

import numpy as np
import pytest
from flask.testing import FlaskClient
from scipy import stats
from sqlalchemy.orm import Session

from server.services.analytics import Filters, Scope
from server.services.analytics.dose import DOSE_SCALES, NOT_RECORDED, DoseCell, dose_response
from tests.analytics_data import Cohort
from tests.factories import bearer, make_clinic, make_clinician
from tests.http import assert_rejected


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    return Cohort(session, clinic, make_clinician(session, clinic=clinic))


def treated(
    cohort: Cohort,
    modality: str,
    soreness: list[int],
    *,
    slot: str = "24h",
    dose: dict[str, float] | None = None,
) -> None:
    """A patient per value, treated with ``dose`` and answering soreness at ``slot``."""
    for value in soreness:
        treatment = cohort.treatment(modality)
        for field, figure in (dose or {}).items():
            setattr(treatment, field, figure)
        cohort.answer(treatment, slot, soreness=value)


def cell(cohort: Cohort, dose: str, modality: str, label: str, **scope: object) -> DoseCell:
    found = dose_response(
        cohort.session,
        scope=Scope((cohort.clinic.id,), **scope),  # type: ignore[arg-type]
    )
    series = next(s for s in found if s.dose == dose and s.modality == modality)
    return next(c for c in series.cells if c.bin == label)


def test_a_bin_is_the_mean_sample_sd_and_t_interval_of_its_answers(cohort: Cohort) -> None:
    values = [2, 3, 5, 6, 9]
    treated(cohort, "ims", values, dose={"needle_sites": 8})

    found = cell(cohort, "needle_sites", "ims", "7-10 sites")

    sd = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, 4)) * sd / np.sqrt(5)
    assert (found.n, found.low, found.high) == (5, 7, 11)
    assert found.mean == pytest.approx(np.mean(values))
    assert found.sd == pytest.approx(sd)
    assert (found.ci_low, found.ci_high) == pytest.approx((np.mean(values) - half, 5 + half))


@pytest.mark.parametrize(
    ("dose", "figure", "label"),
    [
        ("needle_sites", 3, "1-3 sites"),
        ("needle_sites", 4, "4-6 sites"),
        ("needle_sites", 11, "11+ sites"),
        ("retention_minutes", 0.1, "under 1 min"),
        ("retention_minutes", 1.0, "1-10 min"),
        ("retention_minutes", 20.0, "20-30 min"),
        ("retention_minutes", 45.0, "30+ min"),
        ("needle_diameter_mm", 0.16, "under 0.20 mm"),
        ("needle_diameter_mm", 0.25, "0.25-0.30 mm"),
        ("needle_diameter_mm", 0.30, "0.30+ mm"),
    ],
)
def test_a_dose_falls_in_the_bin_that_starts_at_or_below_it(
    cohort: Cohort, dose: str, figure: float, label: str
) -> None:
    treated(cohort, "acupuncture", [1, 1, 2, 2, 4], dose={dose: figure})

    assert cell(cohort, dose, "acupuncture", label).n == 5


def test_each_scale_gives_each_modality_every_bin_then_not_recorded(cohort: Cohort) -> None:
    treated(cohort, "dry_needling", [1, 2, 3, 4, 5], dose={"needle_sites": 2})

    found = dose_response(cohort.session, scope=Scope((cohort.clinic.id,)))

    assert [(s.dose, s.modality) for s in found] == [
        (scale.field, "dry_needling") for scale in DOSE_SCALES
    ]
    for series, scale in zip(found, DOSE_SCALES, strict=True):
        assert [c.bin for c in series.cells] == [*(b.label for b in scale.bins), NOT_RECORDED]
    sites, retention, _ = found
    assert [c.n for c in sites.cells] == [5, None, None, None, None]
    assert [c.n for c in retention.cells] == [None] * 5 + [5]  # its retention not recorded


def test_a_bin_of_fewer_than_five_patients_is_suppressed_not_zero(cohort: Cohort) -> None:
    treated(cohort, "ims", [7, 7, 7, 7], dose={"needle_sites": 12})

    found = cell(cohort, "needle_sites", "ims", "11+ sites")

    assert found.suppressed
    assert (found.n, found.mean, found.ci_low) == (None, None, None)
    assert not cell(cohort, "needle_sites", "ims", "11+ sites", min_patients=4).suppressed


def test_only_soreness_at_24_h_in_the_scope_is_counted(cohort: Cohort) -> None:
    treated(cohort, "ims", [1, 1, 1, 1, 1], dose={"needle_sites": 5})
    treated(cohort, "ims", [9, 9, 9, 9, 9], dose={"needle_sites": 5}, slot="48h")
    for _ in range(5):
        cohort.answer(cohort.treatment("ims"), "24h", pain=9)
    elsewhere = Cohort(cohort.session, make_clinic(cohort.session, name="Elsewhere"))
    treated(elsewhere, "ims", [9, 9, 9, 9, 9], dose={"needle_sites": 5})

    found = cell(cohort, "needle_sites", "ims", "4-6 sites")

    assert (found.n, found.mean) == (5, 1.0)


def test_the_filters_apply(cohort: Cohort) -> None:
    treated(cohort, "ims", [1, 1, 1, 1, 1], dose={"needle_sites": 5})  # on the neck
    scope = Scope((cohort.clinic.id,), filters=Filters(region="knee"))

    assert dose_response(cohort.session, scope=scope) == []


# --- the API -----------------------------------------------------------------------------------


def test_the_api_gives_the_figures_per_dose_and_modality(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    treated(cohort, "ims", [2, 3, 5, 6, 9], dose={"needle_sites": 8})
    treated(cohort, "ims", [1, 1, 1], dose={"needle_sites": 2})

    response = client.get(
        "/api/v1/analytics/dose", headers=bearer(cohort.session, cohort.clinician)
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["measure"], body["slot"]) == ("soreness", "24h")
    sites = body["series"][0]
    assert (sites["dose"], sites["modality"]) == ("needle_sites", "ims")
    few, _, many, _, unrecorded = sites["cells"]
    assert few == {
        "bin": "1-3 sites",
        "low": 1,
        "high": 4,
        "n": None,
        "mean": None,
        "sd": None,
        "ci_low": None,
        "ci_high": None,
        "suppressed": True,
    }
    assert (many["n"], many["mean"]) == (5, 5.0)
    assert (unrecorded["bin"], unrecorded["low"], unrecorded["n"]) == ("not recorded", None, None)


def test_the_api_refuses_bad_filters_naming_the_field(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    response = client.get(
        "/api/v1/analytics/dose?region=elbow", headers=bearer(cohort.session, cohort.clinician)
    )

    assert_rejected(response, "region")
    assert client.get("/api/v1/analytics/dose").status_code == 401
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/analytics/dose" in paths
