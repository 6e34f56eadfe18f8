"""The caller's own clinic: its name, time zone, phone, opening hours, emergency number, and
where its red-flag alerts go."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.extensions import db
from server.models import AlertContact, Clinic, utcnow
from server.services.alerting.contacts import add_contact, list_contacts, remove_contact
from server.services.alerting.routing import (
    ClinicRouting,
    clinic_routing,
    set_routing,
)
from server.services.clinics import update_clinic

from .alerting_schemas import AlertContactSchema, AlertRoutingSchema
from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .clinic_schemas import ClinicSchema, ClinicUpdateSchema

blp = Blueprint("clinic", __name__, url_prefix="/api/v1/clinic", description="The caller's clinic")


@blp.route("")
class ClinicSettings(MethodView):
    """The clinic's settings."""

    decorators = [clinician_required]

    @blp.response(200, ClinicSchema)
    def get(self) -> Clinic:
        """Read the clinic's settings."""
        return current_clinician().clinic

    @blp.arguments(ClinicUpdateSchema)
    @blp.response(200, ClinicSchema)
    def put(self, changes: dict[str, Any]) -> Clinic:
        """Change the clinic's settings (clinic admins); each change is in the audit log."""
        clinic = update_clinic(
            db.session(), clinician=current_clinician(), changes=changes, now=utcnow()
        )
        return clinic


@blp.route("/alert-routing")
class AlertRouting(MethodView):
    """Who the clinic's red-flag alerts reach, step by step."""

    decorators = [clinician_required]

    @blp.response(200, AlertRoutingSchema)
    def get(self) -> ClinicRouting:
        """Read the alert routing in force (the default until an admin sets one)."""
        return clinic_routing(current_clinician().clinic)

    @blp.arguments(AlertRoutingSchema)
    @blp.response(200, AlertRoutingSchema)
    def put(self, body: dict[str, Any]) -> ClinicRouting:
        """Set the alert routing (clinic admins; audited); a null routing restores the default."""
        clinic = set_routing(
            db.session(),
            clinician=current_clinician(),
            routing=body["routing"],
            escalate_after_min=body["escalate_after_min"],
            now=utcnow(),
        )
        return clinic_routing(clinic)


@blp.route("/alert-contacts")
class AlertContacts(MethodView):
    """The clinic's on-call and backup contacts."""

    decorators = [clinician_required]

    @blp.response(200, AlertContactSchema(many=True))
    def get(self) -> list[AlertContact]:
        """List the contacts, on-call first."""
        return list_contacts(db.session(), clinic_id=current_clinician().clinic_id)

    @blp.arguments(AlertContactSchema)
    @blp.response(201, AlertContactSchema)
    def post(self, body: dict[str, Any]) -> AlertContact:
        """Add a contact (clinic admins; audited): a clinician by id, or a person outside the
        clinic by name with an e-mail address or a mobile number."""
        return add_contact(
            db.session(),
            clinician=current_clinician(),
            role=body["role"],
            member_id=body.get("clinician_id"),
            name=body.get("name", ""),
            email=body.get("email"),
            phone=body.get("phone"),
            now=utcnow(),
        )


@blp.route("/alert-contacts/<int:contact_id>")
class AlertContactItem(MethodView):
    """One contact."""

    decorators = [clinician_required]

    @blp.response(204)
    def delete(self, contact_id: int) -> None:
        """Remove a contact (clinic admins; audited)."""
        remove_contact(
            db.session(), clinician=current_clinician(), contact_id=contact_id, now=utcnow()
        )
