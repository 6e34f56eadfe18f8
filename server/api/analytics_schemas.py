"""Schemas of the analytics API: the filters in, the figures out (the contract in issue 6)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from server.inputs import ID, InputSchema
from server.protocols import item_bank
from server.services.analytics import Filters
from server.services.analytics.scope import GROUPINGS

from .fields import Day, Region


def scale_items() -> list[str]:
    """Item codes whose answers are numbers a curve can average."""
    return [code for code, item in item_bank().items() if item.kind == "scale"]


class AnalyticsQueryArgsSchema(InputSchema):
    """Which treatments count, and how series are split."""

    date_from = Day(metadata={"description": "treated on or after (UTC date)"})
    date_to = Day(metadata={"description": "treated on or before (UTC date)"})
    clinician_id = ma.fields.Integer(
        validate=ID, metadata={"description": "treated by this clinician"}
    )
    region = Region(metadata={"description": "a region code of the vocabulary"})
    course = ma.fields.String(
        validate=ma.validate.OneOf(["first", "repeat"]),
        metadata={"description": "the patient's first treatment, or a repeat"},
    )
    by = ma.fields.String(
        load_default="modality",
        validate=ma.validate.OneOf(GROUPINGS),
        metadata={"description": "split series by clinician (clinic admins) or clinic (network)"},
    )

    @ma.validates_schema
    def check_dates(self, data: dict[str, Any], **_: Any) -> None:
        """date_to must not come before date_from."""
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise ma.ValidationError("must not be before date_from", field_name="date_to")

    @ma.post_load
    def make_filters(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Split into the Filters and the grouping."""
        by = data.pop("by", "modality")  # a schema without ``by`` compares modalities
        extra = {key: data.pop(key) for key in ("measure",) if key in data}
        return {"filters": Filters(**data), "by": by, **extra}


class RecoveryQueryArgsSchema(AnalyticsQueryArgsSchema):
    """Filters, and the measure: soreness, pain, mobility or any 0-10 item code."""

    measure = ma.fields.String(
        load_default="soreness",
        validate=ma.validate.OneOf(scale_items()),
        metadata={"description": "soreness | pain | mobility | a 0-10 item code"},
    )


class GroupSchema(InputSchema):
    """What splits a series beside its modality."""

    by = ma.fields.String()
    id = ma.fields.Integer(allow_none=True)
    label = ma.fields.String()


class _Series(InputSchema):
    modality = ma.fields.String()
    group = ma.fields.Nested(GroupSchema, allow_none=True)


class PointSchema(InputSchema):
    """One time point of one series; figures are null when suppressed or unanswered."""

    slot = ma.fields.String()
    hours = ma.fields.Float(
        allow_none=True, metadata={"description": "nominal offset; null at baseline"}
    )
    n = ma.fields.Integer(allow_none=True)
    mean = ma.fields.Float(allow_none=True)
    sd = ma.fields.Float(allow_none=True, metadata={"description": "sample SD (n - 1)"})
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)
    elapsed_hours = ma.fields.Float(
        allow_none=True, metadata={"description": "mean actual hours since treatment"}
    )
    suppressed = ma.fields.Boolean(metadata={"description": "fewer patients than the threshold"})


class CurveSchema(_Series):
    """One modality's curve."""

    points = ma.fields.List(ma.fields.Nested(PointSchema))


class RecoverySchema(InputSchema):
    """Recovery curves of one measure."""

    measure = ma.fields.String()
    series = ma.fields.List(ma.fields.Nested(CurveSchema))


class SurvivalPointSchema(InputSchema):
    """A step of the Kaplan-Meier curve, with its pointwise 95 % band."""

    hours = ma.fields.Float()
    survival = ma.fields.Float()
    ci_low = ma.fields.Float()
    ci_high = ma.fields.Float()


class ResolutionSeriesSchema(_Series):
    """Kaplan-Meier of time to soreness resolution for one modality."""

    n = ma.fields.Integer(allow_none=True)
    events = ma.fields.Integer(allow_none=True)
    excluded = ma.fields.Integer(allow_none=True)
    median_hours = ma.fields.Float(allow_none=True, metadata={"description": "null: not reached"})
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True, metadata={"description": "null: not reached"})
    curve = ma.fields.List(ma.fields.Nested(SurvivalPointSchema))
    suppressed = ma.fields.Boolean()


class ResolutionSchema(InputSchema):
    """Time to soreness resolution per modality."""

    series = ma.fields.List(ma.fields.Nested(ResolutionSeriesSchema))


class RespondersSeriesSchema(_Series):
    """Pain responders of one modality, with the Wilson 95 % interval."""

    n = ma.fields.Integer(allow_none=True)
    responders = ma.fields.Integer(allow_none=True)
    rate = ma.fields.Float(allow_none=True)
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)
    excluded = ma.fields.Integer(allow_none=True)
    suppressed = ma.fields.Boolean()


class RespondersSchema(InputSchema):
    """Pain responders per modality."""

    series = ma.fields.List(ma.fields.Nested(RespondersSeriesSchema))


class AnswerRatePointSchema(InputSchema):
    """Of one time point's check-ins whose window closed, how many were answered."""

    slot = ma.fields.String()
    hours = ma.fields.Float(allow_none=True)
    closed = ma.fields.Integer(allow_none=True)
    answered = ma.fields.Integer(allow_none=True)
    rate = ma.fields.Float(allow_none=True)
    suppressed = ma.fields.Boolean()


class AnswerRatesSeriesSchema(_Series):
    """One modality's answer rate per time point."""

    points = ma.fields.List(ma.fields.Nested(AnswerRatePointSchema))


class AnswerRatesSchema(InputSchema):
    """Answer rate per modality and time point."""

    series = ma.fields.List(ma.fields.Nested(AnswerRatesSeriesSchema))
