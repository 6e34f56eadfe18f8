"""Schemas of treatments and check-ins."""

from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import marshmallow as ma

from server.inputs import InputSchema
from server.models import CheckIn
from server.models.responses import ACK_ACTIONS
from server.models.treatments import (
    MAX_NOTE,
    MAX_POINTS,
    MODALITIES,
    NEEDLE_DIAMETER_MM_RANGE,
    NEEDLE_SITES_RANGE,
    RETENTION_MINUTES_RANGE,
    SIDES,
)
from server.services.answers import ENTRY_SOURCES

from .fields import Moment, Region, StrictBoolean, StrictInteger, StrictNumber


class TreatmentCreateSchema(InputSchema):
    """A needling session just finished (T0 = treated_at, the last needle out)."""

    modality = ma.fields.String(required=True, validate=ma.validate.OneOf(MODALITIES))
    treated_at = Moment(required=True, metadata={"description": "ISO 8601 with its UTC offset"})
    regions = ma.fields.List(Region(), validate=ma.validate.Length(max=20))
    thoracic_region = StrictBoolean(
        allow_none=True,
        metadata={
            "description": "neck, shoulder girdle, upper back or chest needled; "
            "derived from regions when left out"
        },
    )
    baseline = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(allow_none=True),
        metadata={"description": "pre-needling answers {item code: value}"},
    )
    baseline_at = Moment(metadata={"description": "default: treated_at"})
    side = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(SIDES),
        metadata={"description": "the side needled; left out or null: not recorded"},
    )
    points = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=MAX_POINTS),
        metadata={
            "description": "the points needled, free text beside the coded regions "
            '(e.g. "GB21, LI4"); the regions alone drive the thoracic flag and the analytics'
        },
    )
    note = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=MAX_NOTE),
        metadata={"description": "the clinician's note on the session"},
    )
    needle_sites = StrictInteger(
        allow_none=True,
        validate=ma.validate.Range(*NEEDLE_SITES_RANGE),
        metadata={"description": "the dose: how many sites were needled; null: not recorded"},
    )
    retention_minutes = StrictNumber(
        allow_none=True,
        validate=ma.validate.Range(*RETENTION_MINUTES_RANGE),
        metadata={
            "description": "the dose: how long the needles stayed in, in minutes (IMS's few "
            "seconds as a fraction, e.g. 0.1); null: not recorded"
        },
    )
    needle_diameter_mm = StrictNumber(
        allow_none=True,
        validate=ma.validate.Range(*NEEDLE_DIAMETER_MM_RANGE),
        metadata={
            "description": "the dose: the needle's diameter in mm (e.g. 0.25; gauge numbers "
            "differ between countries); null: not recorded"
        },
    )


class CheckInSchema(InputSchema):
    """A scheduled check-in."""

    id = ma.fields.Integer(dump_only=True)
    slot = ma.fields.String(dump_only=True)
    nominal_hours = ma.fields.Float(dump_only=True)
    due_at = ma.fields.AwareDateTime(dump_only=True)
    expires_at = ma.fields.AwareDateTime(dump_only=True)
    status = ma.fields.String(dump_only=True)
    entry_only = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "its window had passed when the treatment was recorded: never "
            "prompted, open for answers entered by staff (e.g. from a paper diary)"
        },
    )
    items = ma.fields.List(ma.fields.String(), dump_only=True)
    sent_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    reminded_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    answered_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    due_at_local = ma.fields.Method(
        "dump_due_local", metadata={"description": "due_at in the patient's own time zone"}
    )
    expires_at_local = ma.fields.Method(
        "dump_expires_local", metadata={"description": "expires_at in the patient's time zone"}
    )

    def dump_due_local(self, checkin: CheckIn) -> str:
        """The opening time as the patient's clock shows it."""
        return checkin.due_at.astimezone(ZoneInfo(checkin.treatment.patient.timezone)).isoformat()

    def dump_expires_local(self, checkin: CheckIn) -> str:
        """The closing time as the patient's clock shows it."""
        zone = ZoneInfo(checkin.treatment.patient.timezone)
        return checkin.expires_at.astimezone(zone).isoformat()


class ResponseSchema(InputSchema):
    """A stored submission with its answers."""

    id = ma.fields.Integer(dump_only=True)
    checkin_id = ma.fields.Integer(dump_only=True, allow_none=True)
    slot = ma.fields.String(dump_only=True)
    client_id = ma.fields.UUID(dump_only=True)
    answered_at = ma.fields.AwareDateTime(dump_only=True)
    source = ma.fields.String(dump_only=True)
    note = ma.fields.String(dump_only=True, allow_none=True)
    needle_sites = ma.fields.Integer(dump_only=True, allow_none=True)
    retention_minutes = ma.fields.Float(dump_only=True, allow_none=True)
    needle_diameter_mm = ma.fields.Float(dump_only=True, allow_none=True)
    answers = ma.fields.Dict(dump_only=True)
    flagged_rules = ma.fields.List(ma.fields.String(), dump_only=True)


class ResponseEntrySchema(InputSchema):
    """Answers a clinician collected another way: by phone, on paper or in clinic."""

    client_id = ma.fields.UUID(
        required=True, metadata={"description": "idempotency key: the same one again replays"}
    )
    answers = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "{item code: value}; any item may be left out"},
    )
    answered_at = Moment(
        required=True,
        metadata={"description": "when the patient gave the answers, ISO 8601 with its offset"},
    )
    source = ma.fields.String(required=True, validate=ma.validate.OneOf(ENTRY_SOURCES))
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=1000))


class RedFlagSchema(InputSchema):
    """A red flag the answers met, with the advice to give the patient now."""

    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    summary = ma.fields.String(dump_only=True)
    advice = ma.fields.String(dump_only=True)


class EnteredResponseSchema(ResponseSchema):
    """A back-entered response, who entered it, and the red flags it met."""

    entered_by_id = ma.fields.Integer(dump_only=True, allow_none=True)
    alerts = ma.fields.List(ma.fields.Nested(RedFlagSchema), dump_only=True)


class AlertSchema(InputSchema):
    """A red flag raised by an answer."""

    id = ma.fields.Integer(dump_only=True)
    rule = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)
    summary = ma.fields.String(dump_only=True)
    patient_id = ma.fields.Integer(dump_only=True)
    treatment_id = ma.fields.Integer(dump_only=True)
    response_id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    acknowledged_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    acknowledged_by_id = ma.fields.Integer(dump_only=True, allow_none=True)
    ack_action = ma.fields.String(
        dump_only=True,
        allow_none=True,
        validate=ma.validate.OneOf(ACK_ACTIONS),
        metadata={"description": "what the acknowledging clinician did"},
    )
    ack_note = ma.fields.String(dump_only=True, allow_none=True)


class TreatmentSchema(InputSchema):
    """A treatment with its check-ins, answers and alerts."""

    id = ma.fields.Integer(dump_only=True)
    patient_id = ma.fields.Integer(dump_only=True)
    clinician_id = ma.fields.Integer(dump_only=True, allow_none=True)
    modality = ma.fields.String(dump_only=True)
    treated_at = ma.fields.AwareDateTime(dump_only=True)
    regions = ma.fields.List(ma.fields.String(), dump_only=True)
    thoracic_region = StrictBoolean(dump_only=True, allow_none=True)
    side = ma.fields.String(dump_only=True, allow_none=True, metadata={"enum": list(SIDES)})
    points = ma.fields.String(dump_only=True, allow_none=True)
    note = ma.fields.String(dump_only=True, allow_none=True)
    needle_sites = ma.fields.Integer(dump_only=True, allow_none=True)
    retention_minutes = ma.fields.Float(dump_only=True, allow_none=True)
    needle_diameter_mm = ma.fields.Float(dump_only=True, allow_none=True)
    checkins = ma.fields.List(ma.fields.Nested(CheckInSchema), dump_only=True)
    responses = ma.fields.List(ma.fields.Nested(ResponseSchema), dump_only=True)
    alerts = ma.fields.List(ma.fields.Nested(AlertSchema), dump_only=True)


class CheckInUpdateSchema(InputSchema):
    """Cancel a check-in, or move its opening time (the window keeps its length)."""

    class Meta:
        openapi: ClassVar = {"minProperties": 1, "maxProperties": 1}  # one of the two

    status = ma.fields.String(validate=ma.validate.OneOf(["cancelled"]))
    due_at = Moment()

    @ma.validates_schema
    def one_change(self, data: dict[str, Any], **_: Any) -> None:
        """Exactly one of status and due_at."""
        if len(data) != 1:
            raise ma.ValidationError("give either status: cancelled or a new due_at", "_schema")


class DeliveryEventSchema(InputSchema):
    """One step of the delivery ledger."""

    at = ma.fields.AwareDateTime(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    purpose = ma.fields.String(dump_only=True, allow_none=True)
    channel = ma.fields.String(dump_only=True, allow_none=True)
    subscription_id = ma.fields.Integer(dump_only=True, allow_none=True)
    status_code = ma.fields.Integer(dump_only=True, allow_none=True)
    detail = ma.fields.String(dump_only=True, allow_none=True)
