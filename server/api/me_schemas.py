"""Schemas of the patient's own endpoints."""

import marshmallow as ma

from server.inputs import InputSchema

from .fields import Moment, StrictInteger


class EnrolSchema(InputSchema):
    """The token from the enrolment link."""

    token = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))


class EnrolResultSchema(InputSchema):
    """The device's patient token, to keep on the phone."""

    patient_token = ma.fields.String(dump_only=True)
    display_name = ma.fields.String(dump_only=True, allow_none=True)
    clinic = ma.fields.String(dump_only=True)


class CheckInQueryArgsSchema(InputSchema):
    """Which of the patient's check-ins to list."""

    status = ma.fields.String(
        load_default="due", validate=ma.validate.OneOf(["due", "upcoming", "all"])
    )


class RedFlagTriggerSchema(InputSchema):
    """Answers to a question that raise a red flag at this check-in, and the advice they bring:
    what the phone shows at once for an answer it could not send yet."""

    rule = ma.fields.String()
    values = ma.fields.List(
        ma.fields.Raw(), metadata={"description": "answers that meet the rule, as sent"}
    )
    severity = ma.fields.String(metadata={"description": "urgent | same_day | routine"})
    advice = ma.fields.String()
    escalate_with = ma.fields.List(
        ma.fields.String(), metadata={"description": "rules that, met together, raise severity"}
    )
    escalate_to = ma.fields.String(allow_none=True)


class QuestionSchema(InputSchema):
    """One question as the phone renders it."""

    code = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "scale | boolean | choice | text"})
    text = ma.fields.String()
    help = ma.fields.String()
    required = ma.fields.Boolean()
    min = ma.fields.Integer()
    max = ma.fields.Integer()
    min_label = ma.fields.String()
    max_label = ma.fields.String()
    options = ma.fields.List(ma.fields.Dict())
    max_length = ma.fields.Integer()
    enable_when = ma.fields.Dict()
    loinc = ma.fields.String()
    red_flags = ma.fields.List(ma.fields.Nested(RedFlagTriggerSchema))


class PatientCheckInSchema(InputSchema):
    """A check-in of the patient's, with the questions to ask and the words that name it."""

    id = ma.fields.Integer()
    slot = ma.fields.String(metadata={"description": "the time point's code"})
    slot_label = ma.fields.String(
        metadata={"description": "the time point in words, from the treatment's protocol"}
    )
    modality = ma.fields.String(metadata={"description": "the treatment's modality code"})
    modality_label = ma.fields.String(
        metadata={"description": "the modality in words, from the protocol data"}
    )
    treated_at = ma.fields.AwareDateTime(metadata={"description": "the end of the session (T0)"})
    treated_on = ma.fields.Date(
        metadata={"description": "the day of the treatment on the patient's clock"}
    )
    status = ma.fields.String()
    due_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()
    items = ma.fields.List(ma.fields.Nested(QuestionSchema))


class ResponseCreateSchema(InputSchema):
    """Answers to one check-in; ``client_id`` makes a retry harmless."""

    client_id = ma.fields.UUID(required=True)
    answers = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "{item code: value}"},
    )
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=1000))
    answered_at = Moment(
        metadata={
            "description": "when the patient answered, ISO 8601 with its offset; an answer "
            "saved on an offline phone counts if given inside the window. Absent: when it arrives"
        },
    )


class FlagSchema(InputSchema):
    """Advice to show the patient at once."""

    rule = ma.fields.String()
    severity = ma.fields.String()
    advice = ma.fields.String()


class ResponseResultSchema(InputSchema):
    """The stored response, the advice to show now and when the next check-in opens."""

    id = ma.fields.Integer()
    checkin_id = ma.fields.Integer()
    slot = ma.fields.String()
    client_id = ma.fields.UUID()
    answered_at = ma.fields.AwareDateTime()
    answers = ma.fields.Dict()
    note = ma.fields.String(allow_none=True)
    alerts = ma.fields.List(ma.fields.Nested(FlagSchema))
    emergency = ma.fields.Nested(
        "PhoneSchema", allow_none=True, metadata={"description": "the number the advice names"}
    )
    clinic_phone = ma.fields.Nested("PhoneSchema", allow_none=True)
    next_checkin_at = ma.fields.AwareDateTime(allow_none=True)


class SubscriptionKeysSchema(InputSchema):
    """The subscription's keys, base64url."""

    p256dh = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    auth = ma.fields.String(required=True, validate=ma.validate.Length(1, 100))


class PushSubscriptionCreateSchema(InputSchema):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint = ma.fields.String(required=True, validate=ma.validate.Length(1, 2048))
    expiration_time = StrictInteger(
        data_key="expirationTime",
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(min=0, max=253_402_300_799_999),  # up to year 9999
    )
    keys = ma.fields.Nested(SubscriptionKeysSchema, required=True)


class PushSubscriptionDeleteSchema(InputSchema):
    """Which subscription to forget."""

    endpoint = ma.fields.String(required=True, validate=ma.validate.Length(1, 2048))


class PushSubscriptionSchema(InputSchema):
    """A registered subscription."""

    id = ma.fields.Integer()
    endpoint = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class DeliveryAckSchema(InputSchema):
    """A step the service worker saw."""

    event = ma.fields.String(required=True, validate=ma.validate.OneOf(["shown", "opened"]))


class PhoneSchema(InputSchema):
    """A phone number as the patient reads it, and as a ``tel:`` link dials it."""

    display = ma.fields.String()
    tel = ma.fields.String()


class MeSchema(InputSchema):
    """The enrolled patient, as the app greets them."""

    display_name = ma.fields.String(allow_none=True)
    clinic = ma.fields.String()
    emergency_number = ma.fields.String(
        allow_none=True,
        metadata={"description": "the number to call where the patient is; null: not known"},
    )
    emergency = ma.fields.Nested(PhoneSchema, allow_none=True)
    clinic_phone = ma.fields.Nested(PhoneSchema, allow_none=True)
    has_email = ma.fields.Boolean(metadata={"description": "prompts can fall back to e-mail"})
    next_checkin_at = ma.fields.AwareDateTime(allow_none=True)


class HistoryPointSchema(InputSchema):
    """One answer's soreness and pain, hours after the treatment."""

    hours = ma.fields.Float()
    slot_label = ma.fields.String(
        metadata={"description": "the time point answered, in words from the protocol"}
    )
    soreness = ma.fields.Integer(allow_none=True)
    pain = ma.fields.Integer(allow_none=True)


class HistorySchema(InputSchema):
    """One treatment's course."""

    treatment_id = ma.fields.Integer()
    modality = ma.fields.String()
    modality_label = ma.fields.String(
        metadata={"description": "the modality in words, from the protocol data"}
    )
    treated_at = ma.fields.AwareDateTime()
    treated_on = ma.fields.Date(
        metadata={"description": "the day of the treatment on the patient's clock"}
    )
    baseline = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    points = ma.fields.List(ma.fields.Nested(HistoryPointSchema))
