"""Recording a treatment and back-entering a check-in's answers through the pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, AuditEvent, CheckIn, Clinician, Patient, Response, Treatment
from server.services.answers import baseline_of
from tests.factories import (
    checkin_for,
    count_rows,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)

VANCOUVER = ZoneInfo("America/Vancouver")


def local_input(moment: datetime, zone: ZoneInfo = VANCOUVER) -> str:
    """A moment as a datetime-local input shows it on the patient's clock."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def record(
    client: FlaskClient, patient: Patient, fields: dict[str, object]
) -> tuple[int, str, str]:
    """Post the treatment form; the status, the redirect target and the page."""
    url = f"/clinic/patients/{patient.id}/treatments/new"
    response = post_form(client, url, url, fields)
    return (
        response.status_code,
        response.headers.get("Location", ""),
        response.get_data(as_text=True),
    )


def signed_in_with_patient(client: FlaskClient, session: Session) -> tuple[Clinician, Patient]:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    sign_in_pages(client, clinician)
    return clinician, patient


# --- recording a treatment ---------------------------------------------------------------------


def test_treatment_form_defaults_to_now_on_the_patients_clock(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in_with_patient(client, session)

    page = client.get(f"/clinic/patients/{patient.id}/treatments/new").get_data(as_text=True)

    now_there = local_input(datetime.now(UTC))[:13]  # to the hour: the clock moves on
    assert f'value="{now_there}' in page
    assert "America/Vancouver" in page
    assert 'name="regions" value="neck"' in page
    assert 'name="baseline-pain"' in page


def test_recording_a_treatment_schedules_its_checkins(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = signed_in_with_patient(client, session)
    treated_at = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)

    status, location, _ = record(
        client,
        patient,
        {
            "modality": "ims",
            "treated_at": local_input(treated_at),
            "regions": ["neck", "knee"],
            "thoracic_region": "",
        },
    )

    treatment = session.scalars(select(Treatment)).one()
    assert status == 302
    assert location == f"/clinic/patients/{patient.id}#treatment-{treatment.id}"
    assert (treatment.modality, treatment.treated_at, treatment.clinician_id) == (
        "ims",
        treated_at,
        clinician.id,
    )
    assert treatment.regions == ["neck", "knee"]
    assert treatment.thoracic_region is True  # derived: the neck is thoracic
    assert [checkin.slot for checkin in treatment.checkins] == ["2h", "6h", "24h", "48h", "7d"]
    page = client.get(location).get_data(as_text=True)
    assert "IMS recorded: 5 check-ins scheduled." in page
    assert '<th scope="row">2 days</th>' in page


def test_recording_a_treatment_stores_its_baseline(client: FlaskClient, session: Session) -> None:
    _, patient = signed_in_with_patient(client, session)

    record(
        client,
        patient,
        {
            "modality": "acupuncture",
            "treated_at": local_input(datetime.now(UTC) - timedelta(minutes=5)),
            "thoracic_region": "no",
            "baseline-pain": "6",
            "baseline-soreness": "",
            "baseline-wb_relaxed": "3",
            "baseline-mobility_activity": "Lifting my grandson",
        },
    )

    treatment = session.scalars(select(Treatment)).one()
    assert treatment.thoracic_region is False
    assert baseline_of(session, treatment.id) == {
        "pain": 6,
        "wb_relaxed": 3,
        "mobility_activity": "Lifting my grandson",
    }


def test_a_treatment_in_the_future_is_refused_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in_with_patient(client, session)

    status, _, page = record(
        client,
        patient,
        {"modality": "ims", "treated_at": local_input(datetime.now(UTC) + timedelta(hours=3))},
    )

    assert status == 422
    assert 'id="treated_at-error"' in page
    assert "cannot be recorded before it happens" in page
    assert count_rows(session, Treatment) == 0


def test_a_baseline_item_the_modality_does_not_ask_is_refused_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in_with_patient(client, session)

    status, _, page = record(
        client,
        patient,
        {
            "modality": "ims",
            "treated_at": local_input(datetime.now(UTC)),
            "baseline-wb_relaxed": "4",
        },
    )

    assert status == 422
    assert 'id="baseline-wb_relaxed-error"' in page
    assert count_rows(session, Treatment) == 0
    assert count_rows(session, CheckIn) == 0


def test_treatment_form_reports_every_missing_field_at_once(
    client: FlaskClient, session: Session
) -> None:
    _, patient = signed_in_with_patient(client, session)

    status, _, page = record(client, patient, {"baseline-pain": "eleven"})

    assert status == 422
    for field in ("modality", "treated_at", "baseline-pain"):
        assert f'id="{field}-error"' in page


# --- entering answers by phone or paper --------------------------------------------------------


def open_checkin(session: Session, clinician: Clinician, patient: Patient) -> CheckIn:
    """The 6h check-in of a dry-needling treatment 7 hours ago (open now)."""
    now = datetime.now(UTC)
    treatment = make_treatment(session, clinician, patient, treated_at=now - timedelta(hours=7))
    return checkin_for(treatment, "6h")


def test_answers_form_asks_the_checkins_items(client: FlaskClient, session: Session) -> None:
    clinician, patient = signed_in_with_patient(client, session)
    checkin = open_checkin(session, clinician, patient)

    page = client.get(f"/clinic/checkins/{checkin.id}/answers").get_data(as_text=True)

    for code in checkin.items:
        assert f'name="answers-{code}"' in page
    assert 'name="source" value="paper"' in page
    assert 'name="client_id"' in page


def test_entering_answers_stores_them_with_their_source(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = signed_in_with_patient(client, session)
    checkin = open_checkin(session, clinician, patient)
    answered_at = (datetime.now(UTC) - timedelta(minutes=20)).replace(second=0, microsecond=0)
    url = f"/clinic/checkins/{checkin.id}/answers"

    response = post_form(
        client,
        url,
        url,
        {
            "client_id": str(uuid.uuid4()),
            "source": "paper",
            "answered_at": local_input(answered_at),
            "answers-soreness": "4",
            "answers-rf_breath_chest": "yes",
            "answers-bruise_bleed": "",
            "note": "Read out over the phone by her son",
        },
    )

    stored = session.scalars(select(Response).filter_by(checkin_id=checkin.id)).one()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#treatment-{checkin.treatment_id}")
    assert (stored.source, stored.answered_at, stored.entered_by_id) == (
        "paper",
        answered_at,
        clinician.id,
    )
    assert checkin.status == "answered"
    assert session.scalars(select(Alert.rule)).all() == ["RF-1"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Red flag: New breathlessness or chest pain after needling" in page
    assert "(possible pneumothorax) (urgent). See the alerts" in page
    assert count_rows(session, AuditEvent, AuditEvent.action == "response.entered") == 1


def test_saving_the_same_answers_twice_stores_them_once(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = signed_in_with_patient(client, session)
    checkin = open_checkin(session, clinician, patient)
    url = f"/clinic/checkins/{checkin.id}/answers"
    fields = {
        "client_id": str(uuid.uuid4()),
        "source": "phone",
        "answered_at": local_input(datetime.now(UTC)),
        "answers-soreness": "2",
    }

    post_form(client, url, url, fields)
    again = post_form(client, url, url, fields)

    assert again.status_code == 302
    assert count_rows(session, Response) == 1
    assert "already saved" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_an_answer_off_the_scale_is_refused_by_the_field(
    client: FlaskClient, session: Session
) -> None:
    clinician, patient = signed_in_with_patient(client, session)
    checkin = open_checkin(session, clinician, patient)
    url = f"/clinic/checkins/{checkin.id}/answers"

    response = post_form(
        client,
        url,
        url,
        {
            "client_id": str(uuid.uuid4()),
            "source": "phone",
            "answered_at": local_input(datetime.now(UTC)),
            "answers-soreness": "11",
        },
    )

    assert response.status_code == 422
    assert 'id="answers-soreness-error"' in response.get_data(as_text=True)
    assert count_rows(session, Response) == 0
