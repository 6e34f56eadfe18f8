"""Schemas of the adjusted comparison (issue 24 §3): the stored fit, and how fresh it is."""

from __future__ import annotations

import marshmallow as ma

from server.inputs import InputSchema
from server.services.adjusted.store import Stored


class DifferenceSchema(InputSchema):
    """One modality against the reference, adjusted: points, or an odds ratio for responders."""

    modality = ma.fields.String()
    slot = ma.fields.String(
        allow_none=True, metadata={"description": "the time point; null for responders"}
    )
    estimate = ma.fields.Float(
        allow_none=True,
        metadata={
            "description": "difference in points from the reference (odds ratio for "
            "responders); null when hidden (fewer patients than the threshold)"
        },
    )
    ci_low = ma.fields.Float(allow_none=True, metadata={"description": "95 % interval (Wald)"})
    ci_high = ma.fields.Float(allow_none=True)
    patients = ma.fields.Integer()
    too_few = ma.fields.Boolean(
        metadata={"description": "fewer than 20 patients here or in the reference: read with care"}
    )


class MeasureModelSchema(InputSchema):
    """One model: a measure's mixed model, or the responders' logistic GEE."""

    measure = ma.fields.String(metadata={"description": "soreness | pain | mobility | responders"})
    slots = ma.fields.List(
        ma.fields.String(), metadata={"description": "the time points every modality shares"}
    )
    reference = ma.fields.String()
    reference_patients = ma.fields.Integer()
    n = ma.fields.Integer(metadata={"description": "answers (treatments for responders) fitted"})
    patients = ma.fields.Integer()
    converged = ma.fields.Boolean()
    note = ma.fields.String(
        allow_none=True, metadata={"description": "why it did not converge or was not fitted"}
    )
    adjusted_for = ma.fields.List(ma.fields.String())
    left_out = ma.fields.List(
        ma.fields.String(), metadata={"description": "covariates not adjusted for, and why"}
    )
    differences = ma.fields.List(ma.fields.Nested(DifferenceSchema))


class ComparisonSchema(InputSchema):
    """The adjusted comparison: a model per measure, and the responders'."""

    reference = ma.fields.String(allow_none=True)
    measures = ma.fields.List(ma.fields.Nested(MeasureModelSchema))
    responders = ma.fields.Nested(MeasureModelSchema, allow_none=True)


class AdjustedSchema(InputSchema):
    """The stored adjusted comparison of the scope, and how fresh it is."""

    status = ma.fields.Function(
        lambda stored: _status(stored),
        metadata={"description": "fitted | outdated (answers came since) | not_fitted"},
    )
    comparison = ma.fields.Nested(ComparisonSchema, allow_none=True)
    fitted_at = ma.fields.AwareDateTime(allow_none=True)
    answers_up_to = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "the newest answer the fit read"}
    )
    fit_seconds = ma.fields.Float(allow_none=True)
    refit_within_minutes = ma.fields.Function(
        lambda stored: max(1, round(stored.refit_within.total_seconds() / 60)),
        metadata={"description": "the worker fits a new or outdated scope within this long"},
    )


def _status(stored: Stored) -> str:
    if stored.comparison is None:
        return "not_fitted"
    return "fitted" if stored.is_current else "outdated"
