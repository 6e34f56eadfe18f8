"""Compare's dose section: soreness at 24 h by dose within a modality, as a chart, a table in
words and CSV, with small cells hidden; no chart when no dose is recorded."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.charts.dose import dose_figure
from server.services.analytics import Scope
from server.services.analytics.dose import dose_response
from tests.analytics_data import Cohort
from tests.factories import make_clinic, make_clinician, sign_in_pages
from tests.test_pages_compare import PAGE, figures, table_rows, visible_text


@pytest.fixture
def cohort(session: Session) -> Cohort:
    """IMS at 2 and 8 sites (five patients each), four acupuncture patients at 20 min."""
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for modality, dose, soreness in (
        ("ims", {"needle_sites": 2, "retention_minutes": 0.1}, [2, 2, 3, 3, 4]),
        ("ims", {"needle_sites": 8, "retention_minutes": 0.1}, [5, 6, 6, 7, 7]),
        ("acupuncture", {"retention_minutes": 20.0}, [1, 1, 2, 2]),
    ):
        for value in soreness:
            treatment = cohort.treatment(modality)
            for field, figure in dose.items():
                setattr(treatment, field, figure)
            cohort.answer(treatment, "24h", soreness=value)
    return cohort


def dose_tables(html: str) -> list[list[list[str]]]:
    """Each dose table of the page as its rows' words, the header row first."""
    section = html.split('id="dose-title"', 1)[1]
    return [
        [[" ".join(cell.split()) for cell in row] for row in table_rows(table)]
        for table in section.split("<table")[1:]
    ]


def signed_in(client: FlaskClient, cohort: Cohort) -> str:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    return client.get(PAGE).get_data(as_text=True)


def test_the_page_charts_soreness_by_dose_with_its_numbers_in_words(
    client: FlaskClient, cohort: Cohort
) -> None:
    html = signed_in(client, cohort)

    assert "chart-dose" in figures(html)
    sites, retention, diameter = dose_tables(html)
    assert sites[0] == ["Range", "IMS", "Acupuncture"]
    assert sites[1:] == [
        ["1-3 sites", "2.8 (1.8 to 3.8; n = 5)", "no answers"],
        ["7-10 sites", "6.2 (5.2 to 7.2; n = 5)", "no answers"],
        ["Not recorded", "no answers", "hidden (fewer than 5 patients)"],
    ]
    assert retention[1] == ["Under 1 min", "4.5 (3.1 to 5.9; n = 10)", "no answers"]
    assert diameter[1:] == [
        ["Not recorded", "4.5 (3.1 to 5.9; n = 10)", "hidden (fewer than 5 patients)"]
    ]
    text = visible_text(html)
    assert "Soreness at 24 h by dose" in text
    assert "needle_sites" not in text
    assert "compare a modality with itself" in text


def test_a_dose_range_of_too_few_patients_is_hidden_not_zero(
    client: FlaskClient, cohort: Cohort
) -> None:
    _, retention, _ = dose_tables(signed_in(client, cohort))

    assert retention[2] == ["20-30 min", "no answers", "hidden (fewer than 5 patients)"]


def test_the_chart_draws_a_bar_per_modality_in_each_dose_range_it_can_show(
    session: Session, cohort: Cohort
) -> None:
    series = dose_response(session, scope=Scope((cohort.clinic.id,)))

    figure = dose_figure(series)

    sites = [t for t in figure.data if t.yaxis == "y"]
    assert [(t.name, list(t.y), list(t.x)) for t in sites] == [
        ("IMS", ["1-3 sites", "7-10 sites"], [2.8, 6.2]),
        ("Acupuncture", [], []),  # no sites recorded: in the legend, no bar
    ]
    retention = [t for t in figure.data if t.yaxis == "y2"]
    assert [(t.name, list(t.y)) for t in retention] == [
        ("IMS", ["under 1 min"]),
        ("Acupuncture", []),  # hidden: too few patients
    ]
    assert figure.layout.yaxis.categoryarray[-1] == "11+ sites"  # "not recorded": table


def test_the_dose_numbers_download_as_csv(client: FlaskClient, cohort: Cohort) -> None:
    html = signed_in(client, cohort)
    assert 'href="/clinic/compare/dose.csv"' in html

    response = client.get("/clinic/compare/dose.csv")

    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    ims_few = next(r for r in rows if r["modality"] == "ims" and r["bin"] == "1-3 sites")
    assert (ims_few["dose"], ims_few["n"], ims_few["mean"], ims_few["low"]) == (
        "needle_sites",
        "5",
        "2.8",
        "1",
    )
    hidden = next(r for r in rows if r["modality"] == "acupuncture" and r["bin"] == "20-30 min")
    assert (hidden["suppressed"], hidden["n"]) == ("True", "")


def test_with_no_dose_recorded_the_table_says_so_and_no_chart_is_drawn(
    client: FlaskClient, session: Session
) -> None:
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for value in (1, 2, 3, 4, 5):
        cohort.answer(cohort.treatment("dry_needling"), "24h", soreness=value)

    html = signed_in(client, cohort)

    assert "chart-dose" not in figures(html)
    sites, _, _ = dose_tables(html)
    assert sites == [["Range", "Dry needling"], ["Not recorded", "3.0 (1.0 to 5.0; n = 5)"]]
