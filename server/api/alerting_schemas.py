"""Schemas of alert routing, alert contacts, acknowledgements and notices."""

from typing import Any

import marshmallow as ma

from server.inputs import ID, InputSchema
from server.models.alerting import CONTACT_ROLES, NOTICE_CHANNELS, NOTICE_STATUSES
from server.models.responses import ACK_ACTIONS, SEVERITIES
from server.services.alerting.routing import ESCALATE_AFTER_MIN, GROUPS, MAX_STEPS, TIMING

from .fields import StrictBoolean


class StepSchema(InputSchema):
    """One step of a severity's routing: these groups of people, by these channels."""

    groups = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(GROUPS)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(GROUPS)),
        metadata={
            "uniqueItems": True,
            "description": "treating: the treating clinician; on_call, backup: the "
            "clinic's contacts of that role; admins: every active clinic admin",
        },
    )
    channels = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(NOTICE_CHANNELS)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(NOTICE_CHANNELS)),
        metadata={"uniqueItems": True},
    )


def _steps(severity: str) -> ma.fields.List[Any]:
    most = MAX_STEPS if severity == "urgent" else 1
    return ma.fields.List(
        ma.fields.Nested(StepSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=most),
        metadata={
            "description": f"step 1 goes out {TIMING[severity].replace('_', ' ')}"
            + (
                "; each later step escalate_after_min after the one before, unless the "
                "alert was acknowledged"
                if most > 1
                else ""
            )
        },
    )


RoutingSchema = InputSchema.from_dict(
    {severity: _steps(severity) for severity in SEVERITIES}, name="RoutingSchema"
)


class AlertRoutingSchema(InputSchema):
    """Where the clinic's red-flag alerts go."""

    escalate_after_min = ma.fields.Integer(
        required=True,
        validate=ma.validate.Range(*ESCALATE_AFTER_MIN),
        metadata={"description": "minutes between the steps of an urgent alert's routing"},
    )
    routing = ma.fields.Nested(
        RoutingSchema,
        required=True,
        allow_none=True,
        metadata={"description": "per severity, its steps; null: the default routing"},
    )
    is_default = StrictBoolean(dump_only=True)


class AlertContactSchema(InputSchema):
    """An on-call or backup contact: a clinician of the clinic, or a person outside it."""

    id = ma.fields.Integer(dump_only=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(CONTACT_ROLES))
    clinician_id = ma.fields.Integer(
        validate=ID, allow_none=True, metadata={"description": "a clinician of the clinic"}
    )
    name = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "required for a person outside the clinic"},
    )
    email = ma.fields.String(validate=ma.validate.Length(max=254), allow_none=True)
    phone = ma.fields.String(
        validate=ma.validate.Length(max=40),
        allow_none=True,
        metadata={
            "description": "a mobile number for texts, stored in E.164; for a clinician of the "
            "clinic, used instead of their own"
        },
    )


class AlertAckSchema(InputSchema):
    """What was done about an alert."""

    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACK_ACTIONS))
    note = ma.fields.String(validate=ma.validate.Length(max=1000), allow_none=True)


class AlertNoticeSchema(ma.Schema):
    """One notification of an alert: to whom, by which channel, at which step, and how it went."""

    id = ma.fields.Integer()
    step = ma.fields.Integer()
    channel = ma.fields.String(validate=ma.validate.OneOf(NOTICE_CHANNELS))
    recipient = ma.fields.String()
    address = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(NOTICE_STATUSES))
    due_at = ma.fields.AwareDateTime()
    sent_at = ma.fields.AwareDateTime(allow_none=True)
    attempts = ma.fields.Integer()
    detail = ma.fields.String(allow_none=True)
