"""Red-flag alerts of the caller's clinic."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from server.extensions import db
from server.inputs import ID, InputSchema
from server.models import Alert, AlertNotice, utcnow
from server.services.red_flags import acknowledge_alert, alert_notices, list_alerts

from .alerting_schemas import AlertAckSchema, AlertNoticeSchema
from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .treatment_schemas import AlertSchema

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Red-flag alerts")


class AlertQueryArgsSchema(InputSchema):
    """Which alerts to list."""

    status = ma.fields.String(
        load_default="open", validate=ma.validate.OneOf(["open", "acknowledged", "all"])
    )
    patient_id = ma.fields.Integer(validate=ID)


@blp.route("")
class Alerts(MethodView):
    """The clinic's alerts."""

    decorators = [clinician_required]

    @blp.arguments(AlertQueryArgsSchema, location="query")
    @blp.response(200, AlertSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[Alert]:
        """List alerts, most severe and oldest first (default: not yet acknowledged)."""
        return list_alerts(db.session(), clinic_id=current_clinician().clinic_id, **args)


@blp.route("/<int:alert_id>/ack")
class AlertAck(MethodView):
    """Acknowledging an alert."""

    decorators = [clinician_required]

    @blp.arguments(AlertAckSchema)
    @blp.response(200, AlertSchema)
    def post(self, body: dict[str, Any], alert_id: int) -> Alert:
        """Acknowledge an alert, saying what was done (idempotent: the first is kept); its
        pending notifications are cancelled."""
        alert = acknowledge_alert(
            db.session(),
            clinician=current_clinician(),
            alert_id=alert_id,
            action=body["action"],
            note=body.get("note"),
            now=utcnow(),
        )
        return alert


@blp.route("/<int:alert_id>/notices")
class AlertNotices(MethodView):
    """Who an alert was sent to."""

    decorators = [clinician_required]

    @blp.response(200, AlertNoticeSchema(many=True))
    def get(self, alert_id: int) -> list[AlertNotice]:
        """The alert's notifications, step by step: recipient, channel, status, times."""
        return alert_notices(
            db.session(), clinic_id=current_clinician().clinic_id, alert_id=alert_id
        )
