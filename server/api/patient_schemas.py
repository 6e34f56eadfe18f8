"""Schemas of the patients resource."""

from typing import Any, ClassVar

import marshmallow as ma

from server.inputs import InputSchema
from server.models.patients import CHANNELS, CONSENT_SOURCES
from server.services.contacts import emergency_number as number_to_call
from server.services.contacts import patient_country

from .fields import ClockTime, Country, DialledNumber, Zone
from .pagination import PageArgsSchema

CODE = ma.validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    error="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
)


class QuietHoursSchema(InputSchema):
    """Local times between which no prompt opens, e.g. 22:00 to 08:00."""

    start = ClockTime(required=True)
    end = ClockTime(required=True)


class SmsConsentSchema(InputSchema):
    """Consent to texts, as the clinic records it."""

    source = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(CONSENT_SOURCES),
        metadata={
            "description": "enrolment: on the enrolment form; phone: to a clinician on the "
            "phone; paper: on a paper form"
        },
    )

    @ma.post_load
    def to_source(self, data: dict[str, str], **_: Any) -> str:
        """The services take the source alone."""
        return data["source"]


class PatientCreateSchema(InputSchema):
    """A new patient."""

    code = ma.fields.String(required=True, validate=CODE)
    timezone = Zone(required=True)
    quiet_hours = ma.fields.Nested(
        QuietHoursSchema,
        allow_none=True,
        metadata={"description": "default 22:00-08:00; null for none"},
    )
    display_name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    email = ma.fields.Email(allow_none=True, validate=ma.validate.Length(max=254))
    country = Country(
        allow_none=True,
        metadata={"description": "ISO 3166 code; null or absent: the country of the time zone"},
    )
    emergency_number = DialledNumber(
        allow_none=True,
        metadata={"description": "this patient's own; null: their country's (or the clinic's)"},
    )
    phone = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=32),
        metadata={
            "description": "a mobile number for texts, in international form (+61491570006) "
            "or as dialled in the patient's country; stored in E.164"
        },
    )
    sms_consent = ma.fields.Nested(
        SmsConsentSchema,
        allow_none=True,
        metadata={
            "description": "the patient's consent to texts, recorded now with where it was "
            "given (a mobile number is needed); null: no consent, or withdrawn"
        },
    )
    channel_order = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(CHANNELS)),
        validate=ma.validate.Length(min=1, max=len(CHANNELS)),
        metadata={
            "uniqueItems": True,
            "description": "the channels a check-in tries, in order (default push, email, "
            "sms); one left out is never used for this patient",
        },
    )


class PatientUpdateSchema(PatientCreateSchema):
    """Changes to a patient; a new time zone or quiet hours re-plans unsent check-ins."""

    class Meta:
        openapi: ClassVar = {"minProperties": 1}  # read by server.api.spec

    code = ma.fields.String(dump_only=True)
    timezone = Zone()

    @ma.validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        """An empty change is a client mistake worth telling."""
        if not data:
            raise ma.ValidationError("give at least one field to change", "_schema")


class PatientSchema(InputSchema):
    """A patient as the clinic sees them."""

    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(dump_only=True)
    display_name = ma.fields.String(dump_only=True, allow_none=True)
    timezone = ma.fields.String(dump_only=True)
    quiet_hours = ma.fields.Method("dump_quiet_hours", dump_only=True, allow_none=True)
    email = ma.fields.String(dump_only=True, allow_none=True)
    country = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "as set for the patient; null: the country of the time zone"},
    )
    emergency_number = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "the patient's own, as set; null: none of their own"},
    )
    effective_country = ma.fields.Function(
        patient_country,
        dump_only=True,
        allow_none=True,
        metadata={"description": "as set, else the country of the time zone; null: not known"},
    )
    effective_emergency_number = ma.fields.Function(
        number_to_call,
        dump_only=True,
        allow_none=True,
        metadata={"description": "the number the patient's advice names; null: not known"},
    )
    phone = ma.fields.String(dump_only=True, allow_none=True, metadata={"description": "E.164"})
    sms_consent = ma.fields.Method(
        "dump_sms_consent",
        dump_only=True,
        allow_none=True,
        metadata={"description": "{given_at, source}; null: no consent to texts"},
    )
    sms_opted_out_at = ma.fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "when the patient texted STOP (or the provider said they had); "
            "no text is sent until they text START"
        },
    )
    channel_order = ma.fields.Function(
        lambda patient: list(patient.channels),
        dump_only=True,
        metadata={"description": "the channels a check-in tries, in order"},
    )
    discharged_at = ma.fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "when the patient was discharged; null: under care"},
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)

    def dump_sms_consent(self, patient: Any) -> dict[str, str] | None:
        """Consent to texts as {given_at, source}, or null."""
        if patient.sms_consent_at is None:
            return None
        return {
            "given_at": patient.sms_consent_at.isoformat(),
            "source": patient.sms_consent_source,
        }

    def dump_quiet_hours(self, patient: Any) -> dict[str, str] | None:
        """Quiet hours as {start, end} or null."""
        if patient.quiet_start is None:
            return None
        return {
            "start": patient.quiet_start.strftime("%H:%M"),
            "end": patient.quiet_end.strftime("%H:%M"),
        }


class ErasureRequestSchema(InputSchema):
    """The confirmation of an erasure: the patient's code, typed."""

    confirm = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "the patient's code, exactly"},
    )


class ErasureSchema(ma.Schema):
    """What an erasure removed, in counts (the only trace kept)."""

    patient_id = ma.fields.Integer()
    treatments = ma.fields.Integer()
    responses = ma.fields.Integer()


class PatientQueryArgsSchema(PageArgsSchema):
    """Search the clinic's patients by the start of their code."""

    code = ma.fields.String(validate=ma.validate.Length(1, 64))


class EnrolmentLinkSchema(InputSchema):
    """A one-time enrolment link with its QR code."""

    token = ma.fields.String(dump_only=True)
    url = ma.fields.String(dump_only=True)
    expires_at = ma.fields.AwareDateTime(dump_only=True)
    qr_svg = ma.fields.String(dump_only=True)
