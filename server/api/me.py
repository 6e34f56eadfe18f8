"""The patient's own endpoints: enrol, due check-ins, answers, push subscriptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, g
from flask.views import MethodView
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import CheckIn, PushSubscription, utcnow
from server.push import endpoint_policy
from server.services.answers import (
    AnswerResult,
    answer_checkin,
    answers_of,
    due_checkins,
    next_checkin_at,
    patient_checkin,
)
from server.services.contacts import contacts_for
from server.services.delivery import acknowledge
from server.services.enrolment import enrol
from server.services.history import recovery_history
from server.services.questions import questions_for_patient
from server.services.subscriptions import subscribe, unsubscribe
from server.services.treatment_words import checkin_words
from server.transactions import commit_or_replay

from .auth import (
    current_patient,
    patient_or_answer_link_required,
    patient_or_link_required,
    patient_required,
    reachable_checkin,
)
from .blueprint import Blueprint
from .me_schemas import (
    CheckInQueryArgsSchema,
    DeliveryAckSchema,
    EnrolResultSchema,
    EnrolSchema,
    HistorySchema,
    MeSchema,
    PatientCheckInSchema,
    PushSubscriptionCreateSchema,
    PushSubscriptionDeleteSchema,
    PushSubscriptionSchema,
    ResponseCreateSchema,
    ResponseResultSchema,
)

blp = Blueprint("me", __name__, url_prefix="/api/v1", description="The patient's own check-ins")


@blp.route("/enrol")
class Enrol(MethodView):
    """Enrolling a device."""

    @blp.doc(security=[])
    @blp.arguments(EnrolSchema)
    @blp.response(201, EnrolResultSchema)
    def post(self, body: dict[str, str]) -> dict[str, Any]:
        """Exchange the one-time enrolment token for this device's patient token."""
        patient, token = enrol(db.session(), token=body["token"], now=utcnow())
        return {
            "patient_token": token,
            "display_name": patient.display_name,
            "clinic": patient.clinic.name,
        }


@blp.route("/me")
class Me(MethodView):
    """The enrolled patient."""

    decorators = [patient_or_link_required]

    @blp.response(200, MeSchema)
    def get(self) -> dict[str, Any]:
        """Who this device belongs to, and what the app should say about reaching them."""
        session = db.session()
        patient = current_patient()
        contacts = contacts_for(patient)
        body = {
            "display_name": patient.display_name,
            "clinic": patient.clinic.name,
            "emergency_number": contacts.emergency.display if contacts.emergency else None,
            "emergency": contacts.emergency,
            "clinic_phone": contacts.clinic,
            "has_email": patient.email is not None,
            "next_checkin_at": next_checkin_at(session, patient_id=patient.id, now=utcnow()),
        }
        return body


@blp.route("/me/history")
class MyHistory(MethodView):
    """The patient's own recovery."""

    decorators = [patient_required]

    @blp.response(200, HistorySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Soreness and pain against hours since each of the latest treatments."""
        return recovery_history(db.session(), patient=current_patient())


@blp.route("/me/checkins")
class MyCheckIns(MethodView):
    """The patient's check-ins."""

    decorators = [patient_or_link_required]

    @blp.arguments(CheckInQueryArgsSchema, location="query")
    @blp.response(200, PatientCheckInSchema(many=True))
    def get(self, args: dict[str, str]) -> list[dict[str, Any]]:
        """List check-ins open now (default), still to come, or all, each with its questions."""
        session = db.session()
        checkins = due_checkins(
            session, patient=current_patient(), now=utcnow(), status=args["status"]
        )
        only = g.get("only_checkin_id")  # an e-mailed link shows its own check-in alone
        listed = [
            _checkin_body(session, checkin) for checkin in checkins if only in (None, checkin.id)
        ]
        return listed


@blp.route("/me/checkins/<int:checkin_id>")
class MyCheckIn(MethodView):
    """One of the patient's check-ins (what a notification or e-mail link opens)."""

    decorators = [patient_or_link_required]

    @blp.response(200, PatientCheckInSchema)
    def get(self, checkin_id: int) -> dict[str, Any]:
        """Read a check-in with its questions, whatever its status."""
        session = db.session()
        checkin = patient_checkin(
            session, patient=current_patient(), checkin_id=reachable_checkin(checkin_id)
        )
        body = _checkin_body(session, checkin)
        return body


@blp.route("/me/checkins/<int:checkin_id>/delivery")
class MyDeliveryAck(MethodView):
    """What the service worker reports back for the delivery ledger."""

    decorators = [patient_or_link_required]

    @blp.arguments(DeliveryAckSchema)
    @blp.response(204)
    def post(self, body: dict[str, str], checkin_id: int) -> None:
        """Acknowledge that the notification was shown, or that the patient opened it."""
        session = db.session()
        checkin = patient_checkin(
            session, patient=current_patient(), checkin_id=reachable_checkin(checkin_id)
        )
        acknowledge(session, checkin=checkin, event=body["event"], now=utcnow())


def _checkin_body(session: Session, checkin: CheckIn) -> dict[str, Any]:
    return {
        "id": checkin.id,
        "slot": checkin.slot,
        "modality": checkin.treatment.modality,
        **checkin_words(checkin),
        "status": checkin.status,
        "due_at": checkin.due_at,
        "expires_at": checkin.expires_at,
        "items": questions_for_patient(session, checkin),
    }


def _result_body(result: AnswerResult) -> dict[str, Any]:
    response = result.response
    # whom to call, beside the advice that names them: the phone may hold older numbers
    contacts = contacts_for(response.treatment.patient)
    return {
        "id": response.id,
        "checkin_id": response.checkin_id,
        "slot": response.slot,
        "client_id": response.client_id,
        "answered_at": response.answered_at,
        "answers": answers_of(response),
        "note": response.note,
        "alerts": [
            {"rule": flag.rule, "severity": flag.severity, "advice": flag.advice}
            for flag in result.flags
        ],
        "emergency": contacts.emergency,
        "clinic_phone": contacts.clinic,
        "next_checkin_at": result.next_checkin_at,
    }


@blp.route("/me/checkins/<int:checkin_id>/response")
class MyResponse(MethodView):
    """Answering a check-in."""

    decorators = [patient_or_answer_link_required]

    @blp.arguments(ResponseCreateSchema)
    @blp.response(201, ResponseResultSchema)
    @blp.alt_response(
        200, schema=ResponseResultSchema, description="a replay of the same client_id"
    )
    def post(self, body: dict[str, Any], checkin_id: int) -> tuple[dict[str, Any], int]:
        """Answer an open check-in; red-flag advice comes back at once in ``alerts``.

        An answer saved on an offline phone carries ``answered_at``: it counts when given
        inside the window and sent within a grace period (a week by default) after it closed.
        """
        patient = current_patient()

        def answer() -> tuple[dict[str, Any], bool]:
            # the body made before the commit, from what the answer has loaded: after it,
            # every object would be read again from the database
            result = answer_checkin(
                db.session(),
                patient=patient,
                checkin_id=reachable_checkin(checkin_id),
                client_id=body["client_id"],
                answers=body["answers"],
                note=body.get("note"),
                now=utcnow(),
                answered_at=body.get("answered_at"),
                offline_grace=timedelta(hours=current_app.config["OFFLINE_ANSWER_GRACE_HOURS"]),
            )
            return _result_body(result), result.is_replay

        body, is_replay = commit_or_replay(answer)
        return body, 200 if is_replay else 201


@blp.route("/me/push-subscriptions")
class MyPushSubscriptions(MethodView):
    """This device's Web Push subscription."""

    decorators = [patient_required]

    @blp.arguments(PushSubscriptionCreateSchema)
    @blp.response(201, PushSubscriptionSchema)
    @blp.alt_response(200, schema=PushSubscriptionSchema, description="already registered")
    def post(self, body: dict[str, Any]) -> tuple[PushSubscription, int]:
        """Register the browser's ``PushSubscription.toJSON()``; the same endpoint again is 200."""
        subscription, created = subscribe(
            db.session(),
            patient=current_patient(),
            endpoint=body["endpoint"],
            p256dh=body["keys"]["p256dh"],
            auth=body["keys"]["auth"],
            expiration_ms=body["expiration_time"],
            now=utcnow(),
            policy=endpoint_policy(current_app.config),
        )
        return subscription, 201 if created else 200

    @blp.arguments(PushSubscriptionDeleteSchema)
    @blp.response(204)
    def delete(self, body: dict[str, str]) -> None:
        """Forget a subscription of this patient's."""
        unsubscribe(db.session(), patient=current_patient(), endpoint=body["endpoint"])
