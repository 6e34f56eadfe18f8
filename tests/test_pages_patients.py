"""Patients on the pages: search, one patient's recovery, enrolment, and other clinics' 404s."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, EnrolmentToken, Patient, Treatment
from server.services.answers import answer_checkin
from tests.factories import (
    checkin_for,
    count_rows,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)


def codes_on(page: str) -> list[str]:
    """The patient codes of the patients table, in order."""
    return re.findall(r'<th scope="row"><a href="/clinic/patients/\d+"[^>]*>([^<]+)</a>', page)


def recent_treatment(session: Session, patient: Patient, hours_ago: float = 30) -> Treatment:
    """A dry-needling treatment ``hours_ago`` (recorded then) with a baseline, and its 6h
    check-in answered half an hour after it opened."""
    clinician = patient.clinic.clinicians[0]
    treatment = make_treatment(
        session,
        clinician,
        patient,
        treated_at=datetime.now(UTC) - timedelta(hours=hours_ago),
        baseline={"soreness": 1, "pain": 6, "mobility_activity": "lifting", "mobility": 4},
    )
    six_hours = checkin_for(treatment, "6h")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=six_hours.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 7, "rf_breath_chest": True},
        note=None,
        now=six_hours.due_at + timedelta(minutes=30),
    )
    return treatment


# --- search ------------------------------------------------------------------------------------


def test_patients_page_searches_by_code(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for code in ("P-001", "P-002", "Q-010"):
        make_patient(session, clinician, code=code)
    make_patient(session, make_clinician(session, make_clinic(session, "Other")), code="P-003")
    sign_in_pages(client, clinician)

    page = client.get("/clinic/patients?q=p-0").get_data(as_text=True)

    assert codes_on(page) == ["P-001", "P-002"]


def test_patients_page_is_paginated(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for number in range(30):
        make_patient(session, clinician, code=f"P-{number:03}")
    sign_in_pages(client, clinician)

    first = client.get("/clinic/patients").get_data(as_text=True)
    second = client.get("/clinic/patients?page=2").get_data(as_text=True)

    assert codes_on(first) == [f"P-{number:03}" for number in range(25)]
    assert codes_on(second) == [f"P-{number:03}" for number in range(25, 30)]
    assert "Page 2 of 2" in second
    assert 'href="/clinic/patients?page=2"' in first


def test_patients_page_shrugs_off_a_bad_page_number(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    assert client.get("/clinic/patients?page=nope").status_code == 200


# --- one patient ----------------------------------------------------------------------------


def test_patient_page_shows_each_treatment_with_its_chart(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    older = recent_treatment(session, patient, hours_ago=60)
    newer = recent_treatment(session, patient, hours_ago=30)
    sign_in_pages(client, clinician)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    assert page.index(f'id="treatment-{newer.id}"') < page.index(f'id="treatment-{older.id}"')
    figure_json = re.search(
        rf'<script type="application/json" id="recovery-{newer.id}-figure">(.*?)</script>',
        page,
        re.S,
    )
    assert figure_json is not None
    figure = json.loads(figure_json.group(1))
    assert [trace["name"] for trace in figure["data"] if trace.get("name")] == [
        "Soreness",
        "Soreness baseline",
        "Pain",  # asked before the treatment only: named in the legend all the same
        "Pain baseline",
        "Mobility",
        "Mobility baseline",
        "Before treatment",
    ]
    assert f'href="/clinic/treatments/{newer.id}/recovery.csv"' in page
    # each chart's box is its figure's height before it is drawn: no shift, no gap under it
    boxes = re.findall(
        r'data-figure="([\w-]+)-figure"[^>]*style="height: (\d+)px; min-height: 0"', page
    )
    assert {name for name, _ in boxes} >= {"course", f"recovery-{newer.id}"}
    for name, height in boxes:
        drawn = re.search(rf'id="{name}-figure">(.*?)</script>', page, re.S)
        assert drawn is not None
        assert json.loads(drawn.group(1))["layout"]["height"] == int(height)


def test_patient_page_shows_answers_per_checkin_and_alerts(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = recent_treatment(session, patient)
    sign_in_pages(client, clinician)

    page = client.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)

    # words from the protocol data, not codes
    row = page[page.index('<th scope="row">6 hours</th>') :]
    row = row[: row.index("</tr>")]
    assert "answered" in row
    assert "Soreness: 7 of 10" in row
    assert "Breathless or chest pain: yes" in row
    assert ">Patient&#39;s app<" in row
    assert "New breathlessness or chest pain after needling" in page
    assert "RF-1" not in page
    assert "rf_breath_chest" not in page
    assert '<th scope="row">Before the treatment</th>' in page  # the baseline, in words
    assert ">baseline<" not in page
    # the missed 0h check-in offers back-entry of answers
    zero_hours = checkin_for(treatment, "0h")
    assert f'href="/clinic/checkins/{zero_hours.id}/answers"' in page


def test_viewing_a_patient_is_audited(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = recent_treatment(session, patient)
    sign_in_pages(client, clinician)

    client.get(f"/clinic/patients/{patient.id}")

    viewed = session.scalars(select(AuditEvent).filter_by(action="treatment.viewed")).one()
    assert (viewed.actor, viewed.target) == (
        f"clinician:{clinician.id}",
        f"treatment:{treatment.id}",
    )


def test_recovery_csv_has_the_charts_numbers(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = recent_treatment(session, patient)
    sign_in_pages(client, clinician)

    response = client.get(f"/clinic/treatments/{treatment.id}/recovery.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "hours_since_treatment,checkin,soreness,pain,mobility"
    assert lines[1] == ",baseline,1,6,4"
    assert lines[2] == "6.5,6h,7,,"


@pytest.mark.parametrize(
    "path",
    [
        "/clinic/patients/{patient}",
        "/clinic/patients/{patient}/treatments/new",
        "/clinic/treatments/{treatment}/recovery.csv",
        "/clinic/checkins/{checkin}/answers",
    ],
)
def test_another_clinics_records_are_not_found(
    client: FlaskClient, session: Session, path: str
) -> None:
    other = make_clinician(session, make_clinic(session, "Other Clinic"))
    patient = make_patient(session, other)
    treatment = make_treatment(session, other, patient)
    sign_in_pages(client, make_clinician(session))

    response = client.get(
        path.format(
            patient=patient.id,
            treatment=treatment.id,
            checkin=treatment.checkins[0].id,
        )
    )

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert patient.code not in response.get_data(as_text=True)


def test_new_enrolment_link_for_another_clinics_patient_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    patient = make_patient(session, make_clinician(session, make_clinic(session, "Other")))
    sign_in_pages(client, make_clinician(session))

    response = post_form(client, "/clinic/", f"/clinic/patients/{patient.id}/enrolment", {})

    assert response.status_code == 404
    assert count_rows(session, EnrolmentToken) == 0


# --- enrolment ---------------------------------------------------------------------------------


def test_enrol_registers_the_patient_and_shows_link_and_qr(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    sign_in_pages(client, clinician)

    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "KNEE-42", "timezone": "Europe/London", "display_name": "", "email": ""},
    )

    page = response.get_data(as_text=True)
    patient = session.scalars(select(Patient).filter_by(code="KNEE-42")).one()
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert (patient.clinic_id, patient.timezone, patient.email) == (
        clinician.clinic_id,
        "Europe/London",
        None,
    )
    assert re.search(r'value="http://testserver/enrol#token=[\w-]+"', page)
    assert "<title>Enrolment QR code</title>" in page
    assert "Copy link" in page
    assert count_rows(session, EnrolmentToken, EnrolmentToken.patient_id == patient.id) == 1


def test_enrol_remembers_the_time_zone_for_the_next_patient(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))
    post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-1", "timezone": "Asia/Tokyo"},
    )

    page = client.get("/clinic/patients/new").get_data(as_text=True)

    assert '<option value="Asia/Tokyo" selected>' in page
    assert "data-browser-zone" not in page


def test_enrol_with_a_code_in_use_says_so_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    make_patient(session, clinician, code="P-001")
    sign_in_pages(client, clinician)

    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-001", "timezone": "UTC"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert re.search(r'id="code-error">.*already has a patient with that code', page)
    assert 'value="P-001"' in page
    assert count_rows(session, Patient) == 1


def test_enrol_with_an_unknown_time_zone_is_refused(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))

    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-9", "timezone": "Mars/Olympus"},
    )

    assert response.status_code == 422
    assert 'id="timezone-error"' in response.get_data(as_text=True)
    assert count_rows(session, Patient) == 0


def test_enrol_records_a_country_other_than_the_time_zones(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))
    page = client.get("/clinic/patients/new").get_data(as_text=True)
    assert '<option value="">The country of their time zone</option>' in page
    assert '<option value="AU">Australia</option>' in page

    post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-7", "timezone": "UTC", "country": "AU"},
    )

    assert session.scalars(select(Patient.country)).one() == "AU"


def test_enrol_with_an_unknown_country_is_refused_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))

    response = post_form(
        client,
        "/clinic/patients/new",
        "/clinic/patients/new",
        {"code": "P-8", "timezone": "UTC", "country": "XX"},
    )

    assert response.status_code == 422
    assert re.search(r'id="country-error">.*ISO 3166', response.get_data(as_text=True))
    assert count_rows(session, Patient) == 0


def test_new_enrolment_link_replaces_the_old_one(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    sign_in_pages(client, clinician)

    first = post_form(client, "/clinic/", f"/clinic/patients/{patient.id}/enrolment", {})
    second = post_form(client, "/clinic/", f"/clinic/patients/{patient.id}/enrolment", {})

    assert (first.status_code, second.status_code) == (201, 201)
    live = count_rows(
        session,
        EnrolmentToken,
        EnrolmentToken.patient_id == patient.id,
        EnrolmentToken.expires_at > datetime.now(UTC),
    )
    assert live == 1
