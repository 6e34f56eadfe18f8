"""The patient page: the course chart above the treatments, and the newest five treatments'
recovery charts built with the page, an older one's only when asked."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.charts import patient as patient_charts
from server.models import Clinician, Patient
from server.pages import patients as patient_pages
from tests.course_data import make_course
from tests.factories import make_clinician, make_patient, make_treatment, sign_in_pages


@pytest.fixture
def clinician(session: Session) -> Clinician:
    return make_clinician(session)


@pytest.fixture
def patient(session: Session, clinician: Clinician, client: FlaskClient) -> Patient:
    patient = make_patient(session, clinician, quiet_hours=None)
    sign_in_pages(client, clinician)
    return patient


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many recovery figures the page builds: one entry per call."""
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return patient_charts.recovery_figure(*args, **kwargs)

    monkeypatch.setattr(patient_pages, "recovery_figure", counted)
    return calls


def recovery_charts(page: str) -> list[str]:
    """The treatments whose recovery chart the page carries, by the chart's element id."""
    return re.findall(r'<div class="chart" id="(recovery-\d+)" data-figure=', page)


def figure(page: str, chart_id: str) -> dict[str, Any]:
    """The Plotly figure JSON the page carries for a chart."""
    text = page.split(f'<script type="application/json" id="{chart_id}-figure">', 1)[1]
    loaded: dict[str, Any] = json.loads(text.split("</script>", 1)[0])
    return loaded


def test_a_patient_with_eight_treatments_gets_five_recovery_charts_built_on_load(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient, built: list[int]
) -> None:
    course = make_course(session, clinician, patient, treatments=8)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert len(built) == 5
    newest = [treatment.id for treatment in reversed(course)][:5]
    assert recovery_charts(page) == [f"recovery-{treatment_id}" for treatment_id in newest]
    assert "Show the recovery chart" not in page


def test_older_treatments_are_listed_with_their_numbers_and_a_link_to_their_chart(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient, built: list[int]
) -> None:
    course = make_course(session, clinician, patient, treatments=8)

    page = client.get(f"/clinic/patients/{patient.id}?page=2").get_data(as_text=True)

    assert built == []
    assert recovery_charts(page) == []
    for treatment in course[:3]:
        assert f'id="treatment-{treatment.id}"' in page
        assert f'id="recovery-{treatment.id}-caption"' in page  # the numbers' table
        link = f"/clinic/patients/{patient.id}?page=2&amp;chart={treatment.id}#recovery-"
        assert link in page
    assert 'id="course"' not in page  # the course is charted on the first page


def test_an_older_treatments_chart_is_drawn_when_asked(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient, built: list[int]
) -> None:
    oldest = make_course(session, clinician, patient, treatments=8)[0]

    page = client.get(f"/clinic/patients/{patient.id}?page=2&chart={oldest.id}")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert recovery_charts(html) == [f"recovery-{oldest.id}"]
    assert len(built) == 1
    assert html.count("Show the recovery chart") == 2  # the other two older ones


@pytest.mark.parametrize("chart", ["soon", "0", "-3", "99999999999"])
def test_a_chart_argument_that_is_no_id_shows_the_first_page(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient, chart: str
) -> None:
    make_course(session, clinician, patient, treatments=2)

    response = client.get(f"/clinic/patients/{patient.id}?chart={chart}")

    assert response.status_code == 200
    assert len(recovery_charts(response.get_data(as_text=True))) == 2


def test_the_course_chart_sits_above_the_treatments_oldest_first_in_words(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient
) -> None:
    make_course(session, clinician, patient, treatments=8)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert page.index('id="course-title"') < page.index('id="treatments-title"')
    course = figure(page, "course")
    ticks = course["layout"]["yaxis"]["ticktext"]
    assert len(ticks) == 8
    assert [tick.split("<br>")[1] for tick in ticks[:3]] == ["Dry needling", "IMS", "Acupuncture"]
    assert all(re.fullmatch(r"\w{3} \d{1,2} \w{3}( \d{4})?<br>[\w ]+", tick) for tick in ticks)
    # the table beside it, newest first, before -> last answer
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>', page.split('id="course-caption"')[1])
    assert rows[0].endswith(", Dry needling") or rows[0].endswith(", IMS")
    assert len(rows) >= 8


def test_one_treatment_gets_a_course_chart_and_a_sentence_saying_so(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient
) -> None:
    make_course(session, clinician, patient, treatments=1)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert figure(page, "course")["layout"]["yaxis"]["range"] == [-0.6, 0.6]
    assert "One treatment with answers so far" in page


def test_treatments_without_answers_get_a_sentence_instead_of_a_course_chart(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient
) -> None:
    make_treatment(session, clinician, patient)
    session.commit()

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert 'id="course"' not in page
    assert "No soreness, pain or mobility answer yet, before or after any treatment" in page


def test_a_patient_with_no_treatment_reads_that_the_course_starts_with_the_first(
    client: FlaskClient, patient: Patient
) -> None:
    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert "The course chart starts with the first treatment." in page
