"""The Compare page's adjusted comparison: how fresh it is, its chart and table, its words."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.charts.adjusted import forest_figure
from server.models import Clinician, utcnow
from server.pages.formatting import covariates
from server.services.adjusted.comparison import compare
from server.services.adjusted.store import refit_stale
from server.services.analytics import Scope
from tests.factories import make_clinic, make_clinician, sign_in_pages
from tests.test_adjusted_fits import treated_cohort

PAGE = "/clinic/compare"


@pytest.fixture
def clinician(session: Session) -> Clinician:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=6)
    return make_clinician(session, clinic=clinic)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_estimates_of_fewer_patients_than_the_threshold_are_hidden_and_not_drawn(
    client: FlaskClient, session: Session
) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=3)
    refit_stale(session, now=utcnow())
    session.commit()
    sign_in_pages(client, make_clinician(session, clinic=clinic))

    html = client.get(PAGE).get_data(as_text=True)

    assert "hidden (fewer than 5 patients)" in text_of(html)
    assert 'id="chart-adjusted"' not in html


def test_before_the_first_fit_the_page_says_when_it_comes(
    client: FlaskClient, clinician: Clinician
) -> None:
    sign_in_pages(client, clinician)

    html = client.get(PAGE).get_data(as_text=True)

    assert "Not fitted yet for these filters: the worker fits the model within 5 minutes" in (
        text_of(html)
    )
    assert 'id="chart-adjusted"' not in html


def test_fitted_comparison_shows_chart_table_and_plain_words(
    client: FlaskClient, session: Session, clinician: Clinician
) -> None:
    refit_stale(session, now=utcnow() - timedelta(minutes=12))
    session.commit()
    sign_in_pages(client, clinician)

    html = client.get(PAGE).get_data(as_text=True)
    words = text_of(html)

    assert "Fitted 12 minutes ago on answers up to" in words
    # on the clinic's clock (Vancouver), as every time on a clinician page
    assert re.search(r"on answers up to \w{3} \d\d \w{3}(?: \d{4})?, \d\d:\d\d P[SD]T\.", words)
    assert 'id="chart-adjusted"' in html
    assert "1 day and 7 days for soreness; 1 day and 7 days for pain; 7 days for mobility" in words
    assert "not a randomised trial" in words
    assert "fewer than 20 patients: read with care" in words  # 6 patients a modality
    assert "Odds of being a pain responder against IMS" in words
    assert "(the modality with most patients answering at these check-ins)" in words
    assert "region: " not in words  # the region groups read as one phrase
    # this small cohort's responders follow its baselines exactly: the odds are infinite,
    # and the page says so once instead of printing the optimiser's 550921886.16
    odds = re.findall(r"(\d+\.\d\d) \((\d+\.\d\d) to (\d+\.\d\d)\)", words)
    assert all(float(high) < 100 for _, _, high in odds)
    assert words.count("no finite odds") == 1


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (
            ["region: Neck", "region: Knee", "repeat treatment"],
            "the region treated (Neck, Knee), repeat treatment",
        ),
        (
            ["repeat treatment", "region: Neck", "needle sites"],
            "repeat treatment, the region treated (Neck), needle sites",
        ),
        (["repeat treatment"], "repeat treatment"),
    ],
)
def test_what_a_model_adjusted_for_names_the_regions_once(names: list[str], words: str) -> None:
    assert covariates(names) == words


def test_forest_figure_draws_each_shown_estimate_grey_when_too_few(session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=4)
    comparison = compare(session, scope=Scope((clinic.id,), min_patients=1))

    figure = forest_figure(comparison.measures, lambda slot: {"24h": "1 day"}.get(slot, slot))

    points = [trace for trace in figure.data if trace.type == "scatter"]
    assert len(points) == 2 * 2 + 2 * 2 + 2  # two modalities at 1 and 7 days, 7 days mobility
    assert {trace.marker.color for trace in points} == {"white"}  # hollow: too few patients
    assert "Dry needling, 1 day" in {trace.y[0] for trace in points}
    assert figure.layout.showlegend is False  # each row's label names its modality
    assert json.loads(figure.to_json())["layout"]["height"] > 200
