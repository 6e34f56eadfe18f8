"""The Compare page: charts with their numbers, filters, roles, CSV beside each chart."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from server.models import AuditEvent, Network
from server.pages.formatting import number
from server.protocols import default_protocols, dump_timepoints, item_bank
from server.services.protocols import override_timepoints
from tests.analytics_data import Cohort
from tests.factories import NOW, count_rows, make_clinic, make_clinician, sign_in_pages
from tests.test_answer_plans import statements_sent

PAGE = "/clinic/compare"


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for modality, slot, value in (("ims", "2h", 6), ("dry_needling", "0h", 4)):
        for _ in range(5):
            treatment = cohort.treatment(modality)
            cohort.answer(treatment, "baseline", soreness=1, pain=6)
            cohort.answer(treatment, slot, soreness=value)
            cohort.answer(treatment, "7d", soreness=0, pain=2)
            cohort.checkin(treatment, "7d", "answered")
    for _ in range(3):  # too few acupuncture patients to show
        cohort.answer(cohort.treatment("acupuncture"), "24h", soreness=2)
    return cohort


def figures(html: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/json" id="([^"]+)-figure">(.*?)</script>', html)
    return {chart_id: json.loads(body) for chart_id, body in found}


def test_compare_draws_every_chart_with_plotly_served_here(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    response = client.get(PAGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert set(figures(html)) == {
        "chart-recovery",
        "chart-measures",
        "chart-resolution",
        "chart-responders",
        "chart-answer-rates",
    }
    assert re.search(r'<script src="/clinic/static/[0-9a-f]+/plotly.min.js"', html)
    assert "cdn" not in html.lower()


def test_all_modalities_on_one_recovery_chart_with_bands(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    recovery = figures(client.get(PAGE).get_data(as_text=True))["chart-recovery"]
    names = [trace["name"] for trace in recovery["data"] if trace.get("mode") == "lines+markers"]
    assert names == ["IMS", "Dry needling", "Acupuncture"]
    assert sum(1 for trace in recovery["data"] if trace.get("fill") == "toself") == 3


def test_a_small_cell_is_hidden_in_the_table(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)
    assert "hidden (fewer than 5 patients)" in html


def test_bad_filters_show_the_field_and_reason(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    response = client.get(f"{PAGE}?date_from=2026-11-02&date_to=2026-11-01")
    assert response.status_code == 422
    assert "Choose a day on or after “Treated from”." in response.get_data(as_text=True)


def test_comparing_clinicians_is_offered_to_admins_only(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    assert 'name="by"' not in client.get(PAGE).get_data(as_text=True)
    assert client.get(f"{PAGE}?by=clinician").status_code == 403
    sign_in_pages(client, make_clinician(session, clinic=cohort.clinic, role="admin"))
    html = client.get(f"{PAGE}?by=clinician").get_data(as_text=True)
    assert 'name="by"' in html
    assert '<option value="clinician" selected>Clinician</option>' in html


def test_a_clinician_filters_by_themselves_and_an_admin_by_anyone(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    colleague = make_clinician(session, clinic=cohort.clinic, email="colleague@example.org")
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)
    assert f'<option value="{cohort.clinician.id}"' in html
    assert f'<option value="{colleague.id}"' not in html
    assert client.get(f"{PAGE}?clinician_id={colleague.id}").status_code == 403
    csv_url = f"{PAGE}/recovery.csv?clinician_id={colleague.id}"
    assert client.get(csv_url).status_code == 403
    sign_in_pages(client, make_clinician(session, clinic=cohort.clinic, role="admin"))
    assert f'<option value="{colleague.id}"' in client.get(PAGE).get_data(as_text=True)
    assert client.get(f"{PAGE}?clinician_id={colleague.id}").status_code == 200


def test_a_network_admin_compares_clinics(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    network = Network(name="Coast")
    session.add(network)
    session.flush()
    cohort.clinic.network_id = network.id
    sign_in_pages(client, make_clinician(session, clinic=cohort.clinic, role="network_admin"))
    html = client.get(f"{PAGE}?by=clinic").get_data(as_text=True)
    assert f"IMS - {cohort.clinic.name}" in html


def test_each_chart_has_its_numbers_as_csv(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)
    for analytic in ("recovery", "resolution", "responders", "answer-rates"):
        assert f'href="/clinic/compare/{analytic}.csv"' in html
    response = client.get("/clinic/compare/recovery.csv?measure=pain")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    ims_2h = next(
        r
        for r in rows
        if r["modality"] == "ims" and r["slot"] == "2h" and r["measure"] == "soreness"
    )
    assert (ims_2h["n"], ims_2h["mean"]) == ("5", "6.0")
    assert {r["measure"] for r in rows} == {"pain", "soreness", "mobility"}
    assert count_rows(cohort.session, AuditEvent, AuditEvent.action == "export.analytics_csv") == 1


def test_responders_csv_keeps_suppressed_series_visible_as_suppressed(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/clinic/compare/responders.csv").get_data(as_text=True))
        )
    )
    assert {(r["modality"], r["responders"], r["suppressed"]) for r in rows} == {
        ("ims", "5", "False"),
        ("dry_needling", "5", "False"),
        # no acupuncture session can be judged (no pain answered): the row says so, with counts
        ("acupuncture", "0", "False"),
    }


def test_compare_needs_a_signed_in_clinician(client: FlaskClient, cohort: Cohort) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/clinic/login" in response.headers["Location"]
    assert client.get("/clinic/compare/recovery.csv").status_code == 302


def test_unknown_csv_is_404(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    assert client.get("/clinic/compare/patients.csv").status_code == 404


def test_another_clinics_answers_never_show(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    sign_in_pages(client, make_clinician(session, clinic=make_clinic(session, name="Other")))
    html = client.get(PAGE).get_data(as_text=True)
    assert "No answers match these filters." in html


def visible_text(html: str) -> str:
    """The words a person reads on the page: no tags, attributes, scripts or figure JSON."""
    without_scripts = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_scripts))


def table_rows(html: str) -> list[list[str]]:
    """Each table row's cells as the words they read."""
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    ]


def test_time_points_read_as_their_protocols_labels(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>\s*<td[^>]*>(.*?)</td>", html)
    for modality, name in (
        ("ims", "IMS"),
        ("dry_needling", "Dry needling"),
        ("acupuncture", "Acupuncture"),
    ):
        first = default_protocols()[modality].timepoints[0]  # 2 hours, in clinic, the evening
        assert (name, first.label) in rows
    assert ("IMS", "Before the treatment") in rows
    assert {slot for _, slot in rows}.isdisjoint({"2h", "0h", "24h", "7d", "evening_d0"})


def test_a_measure_the_protocol_does_not_ask_reads_not_asked(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(f"{PAGE}?measure=pain").get_data(as_text=True)
    recovery = html[html.index('id="recovery-caption"') : html.index('id="measures-title"')]
    cells = {row[1]: row[3] for row in table_rows(recovery) if row[0] == "IMS" and len(row) == 4}
    # IMS asks soreness alone at 2 and 6 hours; it asks pain at 1 and 2 days, unanswered here
    assert cells["2 hours"] == "not asked"
    assert cells["6 hours"] == "not asked"
    assert cells["1 day"] == "no answers"
    assert cells["2 days"] == "no answers"


def test_the_clinics_own_time_points_reach_the_charts_and_tables(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    half_day = {
        "slot": "12h",
        "label": "Half a day",
        "offset_h": 12,
        "window_h": 6,
        "items": ["soreness", "pain"],
        "enabled": True,
    }
    timepoints = dump_timepoints(default_protocols()["ims"].timepoints)
    override_timepoints(
        session,
        clinician=cohort.clinician,
        modality="ims",
        timepoints=[*timepoints[:2], half_day, *timepoints[2:]],  # after 6 hours, before 1 day
        now=NOW,
    )
    sign_in_pages(client, cohort.clinician)
    html = client.get(f"{PAGE}?measure=pain").get_data(as_text=True)
    charts = figures(html)

    # the clinic asks pain at half a day: a gap in IMS's line there, named by the clinic's label
    ims = next(t for t in charts["chart-recovery"]["data"] if t.get("name") == "IMS")
    assert "Half a day" in [point[0] for point in ims["customdata"]]
    assert ims["y"][[point[0] for point in ims["customdata"]].index("Half a day")] is None
    assert '<td data-label="Check-in">Half a day</td>' in html
    measures = charts["chart-measures"]["data"]
    assert any("Half a day" in [p[0] for p in t.get("customdata") or []] for t in measures)


def test_measures_and_modalities_read_as_words_never_codes(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(f"{PAGE}?measure=wb_sleep").get_data(as_text=True)
    options = dict(re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]*)</option>', html))
    assert (options["soreness"], options["pain"], options["mobility"]) == (
        "Soreness",
        "Pain",
        "Mobility",
    )
    assert options["wb_sleep"] == item_bank()["wb_sleep"].label
    text = visible_text(html)
    assert f"Recovery curves: {item_bank()['wb_sleep'].label.lower()}" in text
    for code in ("wb_sleep", "dry_needling", "evening_d0", " 24h ", " 7d "):
        assert code not in text, code


def test_the_measures_heading_says_the_panels_are_stacked(
    client: FlaskClient, cohort: Cohort
) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    text = visible_text(client.get(PAGE).get_data(as_text=True))
    assert "side by side" not in text
    assert "Soreness, pain and mobility, one panel each" in text


def test_the_filters_are_one_bar_with_one_apply_button(client: FlaskClient, cohort: Cohort) -> None:
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)
    start = html.index('<div class="compare-filters">')
    bar = html[start : html.index("</form>", start)]
    assert bar.count('<div class="field') == 6
    assert re.findall(r"<button[^>]*>(.*?)</button>", bar) == ["Apply"]
    assert html.index("</form>", start) < html.index('id="chart-recovery"')


def test_the_number_tables_fold_under_their_charts(client: FlaskClient, cohort: Cohort) -> None:
    # on a phone each table row is a card: open, the tables made Compare ~24,000 px tall
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)
    html = client.get(PAGE).get_data(as_text=True)

    folded = re.findall(
        r'<details class="numbers">\s*<summary>(.*?)</summary>(.*?)</details>', html, re.S
    )
    captions = [re.findall(r'<caption id="([a-z_-]+)"', body) for _, body in folded]
    assert captions[:2] == [["recovery-caption"], ["rates-caption"]]
    assert captions[2]
    assert all(caption.startswith("dose-") for caption in captions[2])
    assert all(summary.startswith("The numbers: ") for summary, _ in folded)
    # the small tables beside a chart stay open, and so does who each modality treated
    assert re.search(r"<details[^>]*>(?:(?!</details>).)*resolution-caption", html, re.S) is None
    assert re.search(r"<details[^>]*>(?:(?!</details>).)*Case mix per modality", html, re.S) is None


@pytest.mark.parametrize(
    ("value", "digits", "signed", "text"),
    [
        (-0.04, 1, False, "0.0"),
        (-0.04, 1, True, "0.0"),
        (-0.004, 2, False, "0.00"),
        (-0.4, 0, True, "0"),
        (1.25, 1, True, "+1.2"),
        (-0.26, 1, True, "-0.3"),
        (9.4, 0, True, "+9"),
        (3.0, 1, False, "3.0"),
        (None, 1, False, "-"),
    ],
)
def test_figures_never_read_minus_zero(
    value: float | None, digits: int, signed: bool, text: str
) -> None:
    assert number(value, digits, signed=signed) == text


def test_the_outcomes_are_read_once_for_charts_and_tests(
    client: FlaskClient, session: Session, cohort: Cohort
) -> None:
    # resolution, responders and their significance tests share one GROUP BY over the
    # treatments' outcomes (about 50 ms at a million answers); split by clinician, the tests
    # still compare modalities, so they read their own
    sign_in_pages(client, make_clinician(session, clinic=cohort.clinic, role="admin"))
    engine = session.get_bind()
    assert isinstance(engine, Engine)

    def outcome_reads(query: str) -> int:
        with statements_sent(engine) as sent:
            assert client.get(PAGE + query).status_code == 200
        return sum("judged_patients" in statement for statement, _ in sent)

    assert outcome_reads("") == 1
    assert outcome_reads("?by=clinician") == 2
