"""The clinic's protocols: defaults from CLINICAL.md, or the clinic's own time points."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from server.errors import Forbidden
from server.extensions import db
from server.inputs import InputSchema
from server.models import utcnow
from server.models.treatments import MODALITIES
from server.protocols import Protocol, dump_timepoints, item_bank
from server.services.protocols import (
    clinic_protocol,
    clinic_protocols,
    override_timepoints,
    reset_protocol,
)
from server.services.questions import question

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint

blp = Blueprint(
    "protocols",
    __name__,
    url_prefix="/api/v1/protocols",
    description="Check-in protocols per modality",
)


class ProtocolSchema(InputSchema):
    """A protocol in force: its time points and the questions it can ask."""

    modality = ma.fields.String(dump_only=True)
    label = ma.fields.String(dump_only=True)
    discharge_advice = ma.fields.String(dump_only=True)
    overridden = ma.fields.Boolean(dump_only=True)
    baseline_items = ma.fields.List(ma.fields.String(), dump_only=True)
    baseline_optional_items = ma.fields.List(ma.fields.String(), dump_only=True)
    timepoints = ma.fields.List(ma.fields.Dict(), dump_only=True)
    items = ma.fields.List(ma.fields.Dict(), dump_only=True)


class ProtocolUpdateSchema(InputSchema):
    """The clinic's time points for a modality (each: slot, label, offset_h, window_h, items...)."""

    timepoints = ma.fields.List(ma.fields.Dict(), required=True)


def protocol_view(protocol: Protocol, overridden: bool) -> dict[str, Any]:
    """A protocol with its time points and the item definitions they use."""
    codes = dict.fromkeys([*protocol.baseline_items, *protocol.baseline_optional_items])
    for point in protocol.timepoints:
        codes.update(dict.fromkeys([*point.items, *point.optional_items]))
    return {
        "modality": protocol.modality,
        "label": protocol.label,
        "discharge_advice": protocol.discharge_advice,
        "overridden": overridden,
        "baseline_items": protocol.baseline_items,
        "baseline_optional_items": protocol.baseline_optional_items,
        "timepoints": dump_timepoints(protocol.timepoints),
        "items": [question(item_bank()[code]) for code in codes],
    }


def _admin() -> Any:
    clinician = current_clinician()
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can change protocols")
    return clinician


@blp.route("")
class Protocols(MethodView):
    """All modalities."""

    decorators = [clinician_required]

    @blp.response(200, ProtocolSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the protocol in force for each modality."""
        return [
            protocol_view(protocol, overridden)
            for protocol, overridden in clinic_protocols(
                db.session(), clinic_id=current_clinician().clinic_id
            )
        ]


@blp.route(f"/<any({', '.join(MODALITIES)}):modality>")  # the enum in the document
class ProtocolByModality(MethodView):
    """One modality's protocol."""

    decorators = [clinician_required]

    @blp.response(200, ProtocolSchema)
    def get(self, modality: str) -> dict[str, Any]:
        """Read the protocol in force for a modality."""
        protocol, overridden = clinic_protocol(
            db.session(), clinic_id=current_clinician().clinic_id, modality=modality
        )
        return protocol_view(protocol, overridden)

    @blp.arguments(ProtocolUpdateSchema)
    @blp.response(200, ProtocolSchema)
    def put(self, body: dict[str, Any], modality: str) -> dict[str, Any]:
        """Set the clinic's time points (admins); treatments recorded afterwards use them."""
        protocol = override_timepoints(
            db.session(),
            clinician=_admin(),
            modality=modality,
            timepoints=body["timepoints"],
            now=utcnow(),
        )
        return protocol_view(protocol, True)

    @blp.response(200, ProtocolSchema)
    def delete(self, modality: str) -> dict[str, Any]:
        """Go back to the default time points (admins)."""
        protocol = reset_protocol(db.session(), clinician=_admin(), modality=modality, now=utcnow())
        return protocol_view(protocol, False)
