"""The adjusted comparison of modalities: read from what the worker stored, never fitted here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask.views import MethodView

from server.extensions import db
from server.models import utcnow
from server.services import analytics
from server.services.adjusted import store

from .adjusted_schemas import AdjustedSchema
from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .comparison_schemas import ModalityQueryArgsSchema

blp = Blueprint(
    "adjusted",
    __name__,
    url_prefix="/api/v1/analytics",
    description="Adjusted comparison of modalities",
)


@blp.route("/adjusted")
class Adjusted(MethodView):
    """Adjusted comparison."""

    decorators = [clinician_required]

    @blp.arguments(ModalityQueryArgsSchema, location="query")
    @blp.response(200, AdjustedSchema)
    def get(self, args: dict[str, Any]) -> store.Stored:
        """Each modality against the reference, adjusted for case mix, as last fitted."""
        config = current_app.config
        scope = analytics.scope_for(
            db.session(),
            clinician=current_clinician(),
            filters=args["filters"],
            min_patients=config["SUPPRESS_BELOW_PATIENTS"],
        )
        return store.stored(
            db.session(),
            scope=scope,
            now=utcnow(),
            refit_within=timedelta(seconds=config["ADJUSTED_INTERVAL_S"]),
        )
