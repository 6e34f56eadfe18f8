"""A patient's request for their data: the whole record as a FHIR R4 Bundle (validated by
fhir.resources) and as a printable summary in words; both audited, both the clinic's only."""

from __future__ import annotations

from fhir.resources.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEvent, Clinician
from tests.factories import (
    bearer,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
    sign_in_pages,
)
from tests.test_erasure import (
    ACK_NOTE,
    CLINICAL_NOTE,
    EMAIL,
    NAME,
    NOTE,
    PHONE,
    POINTS,
    the_patient_to_erase,
)


def admin_of(session: Session) -> Clinician:
    lead = make_clinician(session, role="admin", email="lead@harbour.example")
    session.commit()
    return lead


def test_the_fhir_record_holds_everything_about_the_patient_and_is_valid_r4(
    client: FlaskClient, session: Session
) -> None:
    admin = admin_of(session)
    patient = the_patient_to_erase(session, admin)

    response = client.get(f"/api/v1/patients/{patient.id}/fhir", headers=bearer(session, admin))

    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    body = response.get_json()
    Bundle.parse_obj(body)
    kinds = [entry["resource"]["resourceType"] for entry in body["entry"]]
    assert {"Patient", "Procedure", "QuestionnaireResponse", "Flag", "Communication"} <= set(kinds)
    assert kinds.count("Patient") == 1
    [person] = [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert person["name"] == [{"text": NAME}]
    assert {item["value"] for item in person["telecom"]} == {EMAIL, PHONE}
    [flag] = [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Flag"]
    assert flag["status"] == "inactive"
    [told] = [
        e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Communication"
    ]
    assert ACK_NOTE in told["payload"][0]["contentString"]
    [procedure] = [
        e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Procedure"
    ]
    assert procedure["note"] == [{"text": CLINICAL_NOTE}]
    [points] = [site for site in procedure["bodySite"] if "coding" not in site]
    assert points["text"] == POINTS
    [left] = {
        ext["valueCoding"]["code"] for site in procedure["bodySite"] for ext in site["extension"]
    }
    assert left == "7771000"  # SNOMED CT: Left
    references = {
        ref["reference"]
        for entry in body["entry"]
        for key in ("subject", "sender")
        if isinstance(ref := entry["resource"].get(key), dict)
    }
    assert references <= {entry["fullUrl"] for entry in body["entry"]}  # all resolve here
    event = session.scalars(select(AuditEvent).filter_by(action="patient.exported")).one()
    assert event.patient_id == patient.id


def test_another_clinics_patient_cannot_be_exported(client: FlaskClient, session: Session) -> None:
    admin = admin_of(session)
    patient = the_patient_to_erase(session, admin)
    stranger = make_clinician(session, make_clinic(session, name="Other"), role="admin")

    response = client.get(f"/api/v1/patients/{patient.id}/fhir", headers=bearer(session, stranger))

    assert response.status_code == 404


def test_the_printable_summary_reads_the_record_in_words(
    client: FlaskClient, session: Session
) -> None:
    admin = admin_of(session)
    patient = the_patient_to_erase(session, admin)
    sign_in_pages(client, admin)

    page = client.get(f"/clinic/patients/{patient.id}/summary").get_data(as_text=True)
    download = client.get(f"/clinic/patients/{patient.id}/record.fhir.json")

    assert f"Record of patient {patient.code}" in page
    assert NAME in page
    assert NOTE in page
    assert "9 out of 10" in page  # the soreness answer, in words
    assert "Urgent red flag" in page
    assert ACK_NOTE in page
    assert f"Points needled: {POINTS}" in page
    assert CLINICAL_NOTE in page
    assert "Left side." in page
    assert "data-print" in page
    assert (
        download.headers["Content-Disposition"] == 'attachment; filename="ERASE-1-record.fhir.json"'
    )
    Bundle.parse_obj(download.get_json(force=True))
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"patient.summary_printed", "patient.exported"} <= actions


def test_the_summary_asks_the_mobility_question_with_the_patients_own_activity(
    client: FlaskClient, session: Session
) -> None:
    admin = admin_of(session)
    patient = make_patient(session, admin, code="MOVE-1")
    make_treatment(
        session,
        admin,
        patient,
        modality="acupuncture",
        baseline={"pain": 5, "mobility_activity": "Lifting my grandson", "mobility": 4},
    )
    session.commit()
    sign_in_pages(client, admin)

    page = client.get(f"/clinic/patients/{patient.id}/summary").get_data(as_text=True)

    assert "{mobility_activity}" not in page
    assert "Lifting my grandson" in page  # the question as it was asked, naming the activity
