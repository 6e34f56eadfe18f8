"""Schemas of the clinic resource."""

from typing import Any, ClassVar

import marshmallow as ma

from server.inputs import InputSchema
from server.services.clinics import RETENTION_YEARS, WEEKDAYS

from .fields import ClockTime, DialledNumber, StrictBoolean, Zone
from .patient_schemas import QuietHoursSchema


class IntervalSchema(InputSchema):
    """One stretch of a day the clinic is open, local time."""

    opens = ClockTime(required=True, metadata={"example": "08:00"})
    closes = ClockTime(required=True, metadata={"example": "18:00"})

    @ma.post_load
    def as_pair(self, data: dict[str, Any], **_: Any) -> tuple[Any, Any]:
        """(opens, closes), as the service takes them."""
        return data["opens"], data["closes"]


def _day(name: str) -> ma.fields.List[Any]:
    return ma.fields.List(
        ma.fields.Nested(IntervalSchema),
        load_default=list,
        validate=ma.validate.Length(max=4),
        metadata={"description": f"when the clinic is open on {name}; [] or absent: closed"},
    )


OpeningHoursSchema = InputSchema.from_dict(
    {day: _day(day) for day in WEEKDAYS}, name="OpeningHoursSchema"
)


class IntervalOutSchema(ma.Schema):
    """One stretch of a day the clinic is open, local time (HH:MM)."""

    opens = ma.fields.String(metadata={"example": "08:00"})
    closes = ma.fields.String(metadata={"example": "18:00"})


OpeningHoursOutSchema = ma.Schema.from_dict(
    {day: ma.fields.List(ma.fields.Nested(IntervalOutSchema)) for day in WEEKDAYS},
    name="OpeningHoursOutSchema",
)


class ClinicSchema(ma.Schema):
    """The caller's clinic, as its patients and staff see it."""

    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    timezone = ma.fields.String(dump_only=True)
    phone = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"description": "E.164, such as +61299990000"}
    )
    emergency_number = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "for patients in the clinic's own country; null: each patient's "
            "country's own number"
        },
    )
    opening_hours = ma.fields.Nested(
        OpeningHoursOutSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "each weekday's opening times, local; null: not given"},
    )
    require_two_factor = StrictBoolean(
        dump_only=True,
        metadata={"description": "set up at each clinician's next sign-in where not yet on"},
    )
    default_quiet_hours = ma.fields.Method(
        "dump_quiet_hours",
        dump_only=True,
        allow_none=True,
        metadata={"description": "{start, end} of new patients' quiet hours; null: none"},
    )
    retention_years = ma.fields.Integer(dump_only=True, allow_none=True)

    def dump_quiet_hours(self, clinic: Any) -> dict[str, str] | None:
        """The default quiet hours as {start, end} or null."""
        if clinic.default_quiet_start is None or clinic.default_quiet_end is None:
            return None
        return {
            "start": clinic.default_quiet_start.strftime("%H:%M"),
            "end": clinic.default_quiet_end.strftime("%H:%M"),
        }


class ClinicUpdateSchema(InputSchema):
    """Settings to change; a field left out keeps its value, null clears it."""

    class Meta:
        openapi: ClassVar = {"minProperties": 1}  # read by server.api.spec

    name = ma.fields.String(validate=ma.validate.Length(1, 200))
    timezone = Zone(metadata={"example": "Australia/Sydney"})
    phone = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=40),
        metadata={"description": "local numbers are read in the clinic's country"},
    )
    emergency_number = DialledNumber(allow_none=True)
    opening_hours = ma.fields.Nested(OpeningHoursSchema, allow_none=True)
    require_two_factor = StrictBoolean(
        metadata={"description": "every clinician signs in with an authenticator app's code too"}
    )
    default_quiet_hours = ma.fields.Nested(
        QuietHoursSchema,
        allow_none=True,
        metadata={"description": "new patients' quiet hours unless given; null: none"},
    )
    retention_years = ma.fields.Integer(
        allow_none=True,
        validate=ma.validate.Range(*RETENTION_YEARS),
        metadata={
            "description": "years after a patient's last treatment their record is proposed "
            "for review and erasure; null: never"
        },
    )

    @ma.validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        """An empty change is a client mistake worth telling."""
        if not data:
            raise ma.ValidationError("give at least one field to change", "_schema")
