"""Treatments and their check-ins, scoped to the caller's clinic."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.extensions import db
from server.models import CheckIn, DeliveryEvent, utcnow
from server.services.answers import AnswerResult, answers_of, enter_response
from server.services.delivery import ledger
from server.services.patients import get_patient
from server.services.scheduling import cancel_checkin, move_checkin
from server.services.treatments import (
    get_checkin,
    get_treatment,
    record_treatment,
    treatment_detail,
)
from server.transactions import commit_or_replay

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .treatment_schemas import (
    CheckInSchema,
    CheckInUpdateSchema,
    DeliveryEventSchema,
    EnteredResponseSchema,
    ResponseEntrySchema,
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
        by = current_clinician()
        if "due_at" in change:
            move_checkin(session, checkin, due_at=change["due_at"], now=utcnow(), by=by)
        else:
            cancel_checkin(session, checkin, now=utcnow(), by=by)
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


def _entered_body(result: AnswerResult) -> dict[str, Any]:
    response = result.response
    return {
        "id": response.id,
        "checkin_id": response.checkin_id,
        "slot": response.slot,
        "client_id": response.client_id,
        "answered_at": response.answered_at,
        "source": response.source,
        "entered_by_id": response.entered_by_id,
        "note": response.note,
        "answers": answers_of(response),
        "flagged_rules": response.flagged_rules,
        "alerts": result.flags,
    }


@blp.route("/checkins/<int:checkin_id>/response")
class CheckInResponse(MethodView):
    """Answers to a check-in collected another way."""

    decorators = [clinician_required]

    @blp.arguments(ResponseEntrySchema)
    @blp.response(201, EnteredResponseSchema)
    @blp.alt_response(
        200, schema=EnteredResponseSchema, description="a replay of the same client_id"
    )
    def post(self, body: dict[str, Any], checkin_id: int) -> tuple[dict[str, Any], int]:
        """Back-enter answers given by phone, on paper or in clinic; red flags raise alerts."""
        clinician = current_clinician()

        def enter() -> AnswerResult:
            return enter_response(
                db.session(),
                clinician=clinician,
                checkin_id=checkin_id,
                client_id=body["client_id"],
                answers=body["answers"],
                answered_at=body["answered_at"],
                source=body["source"],
                note=body.get("note"),
                now=utcnow(),
            )

        result = commit_or_replay(enter)
        return _entered_body(result), 200 if result.is_replay else 201
