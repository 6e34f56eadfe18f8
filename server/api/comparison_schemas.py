"""Schemas of the modality comparisons: case mix ("Table 1") and the significance tests.
docs/analytics.md says what each figure means and where its method comes from."""

from __future__ import annotations

import marshmallow as ma

from server.inputs import InputSchema

from .analytics_schemas import AnalyticsQueryArgsSchema


class ModalityQueryArgsSchema(AnalyticsQueryArgsSchema):
    """Which treatments count; compared per modality, all clinicians together."""

    class Meta:
        exclude = ("by",)


class ModalityCountSchema(InputSchema):
    """A modality's patients and treatments in scope; null when hidden."""

    modality = ma.fields.String()
    patients = ma.fields.Integer(allow_none=True)
    treatments = ma.fields.Integer(allow_none=True)
    suppressed = ma.fields.Boolean(metadata={"description": "fewer patients than the threshold"})


class CaseMixCellSchema(InputSchema):
    """One characteristic of one modality's treatments."""

    modality = ma.fields.String()
    n = ma.fields.Integer(
        allow_none=True, metadata={"description": "treatments the figure is over"}
    )
    count = ma.fields.Integer(
        allow_none=True, metadata={"description": "binary: treatments with it; else null"}
    )
    mean = ma.fields.Float(
        allow_none=True, metadata={"description": "continuous: the mean; binary: the share"}
    )
    sd = ma.fields.Float(allow_none=True, metadata={"description": "continuous: sample SD"})
    suppressed = ma.fields.Boolean()


class StandardisedDifferenceSchema(InputSchema):
    """first minus second over their pooled SD (Austin 2009)."""

    first = ma.fields.String()
    second = ma.fields.String()
    smd = ma.fields.Float(
        allow_none=True, metadata={"description": "null: undefined, hidden or no figures"}
    )
    is_imbalanced = ma.fields.Boolean(
        metadata={"description": "|SMD| > 0.1, or the modalities do not overlap at all"}
    )


class CharacteristicSchema(InputSchema):
    """A row of the case mix: each modality's figure and each pair's difference."""

    code = ma.fields.String(
        metadata={"description": "baseline_pain | … | repeat | days_since_first | region:<code>"}
    )
    label = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "continuous (mean, SD) | binary (count)"})
    cells = ma.fields.List(ma.fields.Nested(CaseMixCellSchema))
    differences = ma.fields.List(ma.fields.Nested(StandardisedDifferenceSchema))


class CaseMixSchema(InputSchema):
    """Case mix per modality, with standardised differences between modalities."""

    modalities = ma.fields.List(ma.fields.Nested(ModalityCountSchema))
    characteristics = ma.fields.List(ma.fields.Nested(CharacteristicSchema))


class _PairSchema(InputSchema):
    first = ma.fields.String()
    second = ma.fields.String()
    statistic = ma.fields.Float(allow_none=True, metadata={"description": "null: Fisher exact"})
    p_value = ma.fields.Float(metadata={"description": "unadjusted"})
    p_holm = ma.fields.Float(metadata={"description": "Holm-adjusted over the pairs"})


class ResolutionPairSchema(_PairSchema):
    """Two modalities' time to resolution: Peto's hazard ratio and the log-rank test."""

    hazard_ratio = ma.fields.Float(
        allow_none=True, metadata={"description": "above 1: the first resolves sooner"}
    )
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)


class ResolutionTestSchema(InputSchema):
    """The log-rank test across the modalities compared, then each pair."""

    modalities = ma.fields.List(ma.fields.String())
    statistic = ma.fields.Float()
    df = ma.fields.Integer()
    p_value = ma.fields.Float()
    pairs = ma.fields.List(ma.fields.Nested(ResolutionPairSchema))


class RespondersPairSchema(_PairSchema):
    """Two modalities' responder shares: the difference with Newcombe's interval, the test."""

    difference = ma.fields.Float(metadata={"description": "first's share minus second's"})
    ci_low = ma.fields.Float()
    ci_high = ma.fields.Float()
    method = ma.fields.String(metadata={"description": "chi-square | Fisher exact"})


class RespondersTestSchema(InputSchema):
    """The test of equal responder shares across the modalities compared, then each pair."""

    modalities = ma.fields.List(ma.fields.String())
    method = ma.fields.String()
    statistic = ma.fields.Float(allow_none=True)
    df = ma.fields.Integer(allow_none=True)
    p_value = ma.fields.Float()
    is_approximate = ma.fields.Boolean(
        metadata={"description": "chi-square with an expected count below 5"}
    )
    pairs = ma.fields.List(ma.fields.Nested(RespondersPairSchema))


class SignificanceSchema(InputSchema):
    """Log-rank and responder comparisons; null where fewer than two modalities compare."""

    resolution = ma.fields.Nested(ResolutionTestSchema, allow_none=True)
    responders = ma.fields.Nested(RespondersTestSchema, allow_none=True)
    resolution_left_out = ma.fields.List(
        ma.fields.String(), metadata={"description": "hidden (too few patients): not tested"}
    )
    responders_left_out = ma.fields.List(ma.fields.String())
