"""The patient page: the course chart above the treatments."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.models import Clinician, Patient
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


def figure(page: str, chart_id: str) -> dict[str, Any]:
    """The Plotly figure JSON the page carries for a chart."""
    text = page.split(f'<script type="application/json" id="{chart_id}-figure">', 1)[1]
    loaded: dict[str, Any] = json.loads(text.split("</script>", 1)[0])
    return loaded


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
