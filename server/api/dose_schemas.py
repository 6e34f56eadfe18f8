"""Schemas of soreness at 24 h by dose within a modality (issue 24 §4)."""

from __future__ import annotations

import marshmallow as ma

from server.inputs import InputSchema
from server.services.analytics.dose import DOSE_OUTCOME, DOSE_SCALES


class DoseCellSchema(InputSchema):
    """The outcome in one dose range of one modality; figures null when hidden or unanswered."""

    bin = ma.fields.String(
        metadata={"description": 'the range in words ("4-6 sites"), or "not recorded"'}
    )
    low = ma.fields.Float(
        allow_none=True, metadata={"description": "the range's start, included; null: not recorded"}
    )
    high = ma.fields.Float(
        allow_none=True, metadata={"description": "the range's end, left out; null: no end"}
    )
    n = ma.fields.Integer(allow_none=True, metadata={"description": "answers"})
    mean = ma.fields.Float(allow_none=True)
    sd = ma.fields.Float(allow_none=True)
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)
    suppressed = ma.fields.Boolean(metadata={"description": "fewer patients than the threshold"})


class DoseSeriesSchema(InputSchema):
    """One modality's outcome across one dose figure's ranges, then "not recorded"."""

    dose = ma.fields.String(metadata={"enum": [scale.field for scale in DOSE_SCALES]})
    modality = ma.fields.String()
    cells = ma.fields.List(ma.fields.Nested(DoseCellSchema))


class DoseSchema(InputSchema):
    """Soreness at 24 h by dose: per dose figure and modality, each range's mean and 95 % CI."""

    measure = ma.fields.Constant(DOSE_OUTCOME[0], metadata={"enum": [DOSE_OUTCOME[0]]})
    slot = ma.fields.Constant(DOSE_OUTCOME[1], metadata={"enum": [DOSE_OUTCOME[1]]})
    series = ma.fields.List(ma.fields.Nested(DoseSeriesSchema))
