"""The caller's own clinic: its name, time zone, phone, opening hours, emergency number."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.extensions import db
from server.models import Clinic, utcnow
from server.services.clinics import update_clinic

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
