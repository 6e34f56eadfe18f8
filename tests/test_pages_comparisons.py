"""The Compare page's case mix above the curves and the tests under the figures."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.analytics_data import Cohort
from tests.factories import make_clinic, make_clinician, sign_in_pages

PAGE = "/clinic/compare"


@pytest.fixture
def cohort(session: Session) -> Cohort:
    """IMS patients in more pain than dry needling's; three acupuncture patients, too few."""
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for modality, pains, resolved in (
        ("ims", [6, 7, 8, 5, 4], "48h"),
        ("dry_needling", [3, 4, 5, 4, 4], "24h"),
    ):
        for pain in pains:
            treatment = cohort.treatment(modality, regions=["neck"])
            cohort.answer(treatment, "baseline", soreness=1, pain=pain)
            cohort.answer(treatment, resolved, soreness=1)
            cohort.answer(treatment, "7d", soreness=0, pain=pain - 2)
            cohort.checkin(treatment, "7d", "answered")
    for _ in range(3):
        cohort.answer(cohort.treatment("acupuncture"), "24h", soreness=0)
    return cohort


def page(client: FlaskClient, cohort: Cohort, query: str = "") -> str:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    response = client.get(PAGE + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_case_mix_comes_before_the_curves_and_flags_imbalance(
    client: FlaskClient, cohort: Cohort
) -> None:
    html = page(client, cohort)
    assert html.index('id="case-mix-title"') < html.index('id="recovery-title"')
    table = html[html.index('id="case-mix-caption"') : html.index('id="recovery-title"')]
    pain = re.search(r"Baseline pain \(0-10\)</th>(.*?)</tr>", table, re.S)
    assert pain is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", pain.group(1))).strip()
    # IMS 6.0 (SD 1.6), dry needling 4.0 (SD 0.7); 2 / sqrt(1.5) = 1.63
    assert cells.startswith("6.0 (1.6) 4.0 (0.7)")  # every baseline answered: no count
    assert "1.63 differs" in cells
    assert "hidden (fewer than 5 patients)" in table  # acupuncture
    assert "Region: Neck" in table
    assert "Download case mix as CSV" in table


def test_each_p_value_is_shown_beside_its_effect_and_interval(
    client: FlaskClient, cohort: Cohort
) -> None:
    html = page(client, cohort)
    resolution = html[html.index('id="resolution-title"') : html.index('id="responders-title"')]
    assert "log-rank test" in resolution
    assert re.search(r"Hazard ratio \(95% CI\)</td>|data-label=\"Hazard ratio", resolution)
    assert re.search(r"\d\.\d\d \(\d\.\d\d to \d+\.\d\d\)", resolution)
    assert "interval censoring" in resolution
    assert "Acupuncture: fewer than 5 patients, so not tested." in resolution
    responders = html[html.index('id="responders-title"') : html.index('id="rates-title"')]
    assert re.search(r"[+-]\d+ points \([+-]\d+ to [+-]\d+\)", responders)
    assert "Fisher exact" in responders
    assert "Download both tests as CSV" in responders


def test_split_by_clinician_the_page_says_the_tests_take_everyone(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    cohort.clinician.role = "admin"
    cohort.session.commit()
    html = page(client, cohort, "?by=clinician")
    assert "The tests compare modalities, all clinicians together." in html
