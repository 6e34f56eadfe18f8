"""Treatments and their check-ins, scoped to the caller's clinic."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.extensions import db
from server.models import CheckIn, DeliveryEvent, utcnow
from server.services.delivery import ledger
from server.services.patients import get_patient
from server.services.scheduling import cancel_checkin, move_checkin
from server.services.treatments import (
    get_checkin,
    get_treatment,
    record_treatment,
    treatment_detail,
)

from .auth import clinician_required, current_clinician
from .treatment_schemas import (
    CheckInSchema,
    CheckInUpdateSchema,
    DeliveryEventSchema,
    TreatmentCreateSchema,
    TreatmentSchema,
)

blp = Blueprint(
    "treatments", __name__, url_prefix="/api/v1", description="Treatments and their check-ins"
)


@blp.route("/patients/<int:patient_id>/treatments")
class PatientTreatments(MethodView):
    """A patient's treatments."""

    decorators = [clinician_required]

    @blp.arguments(TreatmentCreateSchema)
    @blp.response(201, TreatmentSchema)
    def post(self, fields: dict[str, Any], patient_id: int) -> dict[str, Any]:
        """Record a treatment; its check-ins are scheduled in the same transaction."""
        clinician = current_clinician()
        session = db.session()
        patient = get_patient(session, clinic_id=clinician.clinic_id, patient_id=patient_id)
        treatment = record_treatment(
            session, clinician=clinician, patient=patient, now=utcnow(), **fields
        )
        detail = treatment_detail(session, treatment=treatment, viewer=clinician, now=utcnow())
        session.commit()
        return detail


@blp.route("/treatments/<int:treatment_id>")
class TreatmentById(MethodView):
    """One treatment."""

    decorators = [clinician_required]

    @blp.response(200, TreatmentSchema)
    def get(self, treatment_id: int) -> dict[str, Any]:
        """Read a treatment with its check-ins, answers and alerts."""
        clinician = current_clinician()
        session = db.session()
        treatment = get_treatment(session, clinic_id=clinician.clinic_id, treatment_id=treatment_id)
        detail = treatment_detail(session, treatment=treatment, viewer=clinician, now=utcnow())
        session.commit()  # the audit event of this read
        return detail


@blp.route("/checkins/<int:checkin_id>")
class CheckInById(MethodView):
    """One check-in."""

    decorators = [clinician_required]

    @blp.arguments(CheckInUpdateSchema)
    @blp.response(200, CheckInSchema)
    def patch(self, change: dict[str, Any], checkin_id: int) -> CheckIn:
        """Cancel a check-in, or move it (its window keeps its length)."""
        session = db.session()
        checkin = get_checkin(
            session, clinic_id=current_clinician().clinic_id, checkin_id=checkin_id
        )
        if "due_at" in change:
            move_checkin(session, checkin, due_at=change["due_at"], now=utcnow())
        else:
            cancel_checkin(session, checkin, now=utcnow())
        session.commit()
        return checkin


@blp.route("/checkins/<int:checkin_id>/deliveries")
class CheckInDeliveries(MethodView):
    """A check-in's delivery ledger."""

    decorators = [clinician_required]

    @blp.response(200, DeliveryEventSchema(many=True))
    def get(self, checkin_id: int) -> list[DeliveryEvent]:
        """Every step of getting the check-in to the patient: queued, sent, answers, shown..."""
        session = db.session()
        get_checkin(session, clinic_id=current_clinician().clinic_id, checkin_id=checkin_id)
        return ledger(session, checkin_id=checkin_id)
