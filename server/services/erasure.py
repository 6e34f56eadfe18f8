"""Erasing a patient at their request: everything about them goes in one transaction, and the
clinic's figures become those of a clinic that never had them.

The patient's row goes, and with it (the foreign keys cascade) their treatments with the
points needled, the dose and the clinicians' notes, stored outcomes, check-ins and the
delivery ledger, responses and answers with their free text, alerts with their
acknowledgement notes and notices, device tokens, enrolment links and push subscriptions;
link versions go with the row, so no link can open anything. The analytics read what is
stored, so there is nothing else to recompute. What stays is one audit entry saying an
erasure happened, by whom and when, with the bare id and counts; earlier entries keep only
the bare id too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.errors import Forbidden, InvalidInput
from server.models import Clinician, Patient, Response, Treatment
from server.services.audit import record_event


@dataclass(frozen=True)
class Erasure:
    """What was erased, in counts (the only trace kept)."""

    patient_id: int
    treatments: int
    responses: int


def erase_patient(
    session: Session, *, clinician: Clinician, patient: Patient, confirm: str, now: datetime
) -> Erasure:
    """Erase the patient (clinic admins), confirmed by typing their code exactly."""
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can erase a patient's data")
    if confirm.strip() != patient.code:
        raise InvalidInput(
            "type the patient's code exactly as shown to confirm the erasure", field="confirm"
        )
    treatments = select(Treatment.id).filter_by(patient_id=patient.id)
    erasure = Erasure(
        patient_id=patient.id,
        treatments=session.scalar(select(func.count()).select_from(treatments.subquery())) or 0,
        responses=session.scalar(
            select(func.count(Response.id)).where(Response.treatment_id.in_(treatments))
        )
        or 0,
    )
    clinic_id = patient.clinic_id
    session.expunge(patient)  # the row goes below the ORM: nothing of it may be written back
    session.execute(delete(Patient).where(Patient.id == erasure.patient_id))
    record_event(
        session,
        clinic_id=clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.erased",
        target=f"patient:{erasure.patient_id}",
        at=now,
        details={"treatments": erasure.treatments, "responses": erasure.responses},
    )
    session.flush()
    return erasure
