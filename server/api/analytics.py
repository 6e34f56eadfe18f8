"""Analytics: recovery curves, time to soreness resolution, responders and answer rates per
modality, for the caller's clinic (split by clinician for admins, by clinic for a network);
case mix and the tests between modalities."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from server.extensions import db
from server.services import analytics
from server.services.analytics import Scope
from server.services.analytics.dose import dose_response

from .analytics_schemas import (
    AnalyticsQueryArgsSchema,
    AnswerRatesSchema,
    RecoveryQueryArgsSchema,
    RecoverySchema,
    ResolutionSchema,
    RespondersSchema,
)
from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .comparison_schemas import CaseMixSchema, ModalityQueryArgsSchema, SignificanceSchema
from .dose_schemas import DoseSchema

blp = Blueprint(
    "analytics", __name__, url_prefix="/api/v1/analytics", description="Outcome analytics"
)


def _scope(args: dict[str, Any]) -> Scope:
    return analytics.scope_for(
        db.session(),
        clinician=current_clinician(),
        filters=args["filters"],
        by=args["by"],
        min_patients=current_app.config["SUPPRESS_BELOW_PATIENTS"],
    )


@blp.route("/recovery")
class Recovery(MethodView):
    """Recovery curves."""

    decorators = [clinician_required]

    @blp.arguments(RecoveryQueryArgsSchema, location="query")
    @blp.response(200, RecoverySchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Mean, SD and 95 % CI of a measure at the baseline and each protocol time point."""
        measure = args["measure"]
        curves = analytics.recovery(db.session(), scope=_scope(args), measures=[measure])
        return {"measure": measure, "series": curves[measure]}


@blp.route("/recovery/elapsed")
class RecoveryElapsed(MethodView):
    """Recovery curves on actual elapsed time."""

    decorators = [clinician_required]

    @blp.arguments(RecoveryQueryArgsSchema, location="query")
    @blp.response(200, RecoverySchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The same figures in hours-since-treatment bins (slot = the bin, hours = its start)."""
        measure = args["measure"]
        curves = analytics.binned_recovery(db.session(), scope=_scope(args), measure=measure)
        return {"measure": measure, "series": curves}


@blp.route("/resolution")
class Resolution(MethodView):
    """Time to soreness resolution."""

    decorators = [clinician_required]

    @blp.arguments(AnalyticsQueryArgsSchema, location="query")
    @blp.response(200, ResolutionSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Kaplan-Meier of time to soreness resolution: median hours and its 95 % CI."""
        return {"series": analytics.resolution(db.session(), scope=_scope(args))}


@blp.route("/responders")
class Responders(MethodView):
    """Pain responders."""

    decorators = [clinician_required]

    @blp.arguments(AnalyticsQueryArgsSchema, location="query")
    @blp.response(200, RespondersSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Share of pain responders at the last time point, with the Wilson 95 % interval."""
        return {"series": analytics.responders(db.session(), scope=_scope(args))}


@blp.route("/answer-rates")
class AnswerRates(MethodView):
    """Answer rates."""

    decorators = [clinician_required]

    @blp.arguments(AnalyticsQueryArgsSchema, location="query")
    @blp.response(200, AnswerRatesSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Answered share of closed check-ins per modality and time point."""
        return {"series": analytics.answer_rates(db.session(), scope=_scope(args))}


@blp.route("/case-mix")
class CaseMix(MethodView):
    """Case mix per modality."""

    decorators = [clinician_required]

    @blp.arguments(ModalityQueryArgsSchema, location="query")
    @blp.response(200, CaseMixSchema)
    def get(self, args: dict[str, Any]) -> analytics.CaseMix:
        """Who each modality treated, with standardised differences between modalities."""
        return analytics.case_mix(db.session(), scope=_scope(args))


@blp.route("/significance")
class Significance(MethodView):
    """Tests between modalities."""

    decorators = [clinician_required]

    @blp.arguments(ModalityQueryArgsSchema, location="query")
    @blp.response(200, SignificanceSchema)
    def get(self, args: dict[str, Any]) -> analytics.Significance:
        """Log-rank of time to soreness resolution and responder differences, with effects."""
        return analytics.significance(db.session(), scope=_scope(args))


@blp.route("/dose")
class Dose(MethodView):
    """Soreness at 24 h by dose."""

    decorators = [clinician_required]

    @blp.arguments(ModalityQueryArgsSchema, location="query")
    @blp.response(200, DoseSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Soreness at 24 h per modality in ranges of needle sites, retention and diameter."""
        return {"series": dose_response(db.session(), scope=_scope(args))}
