"""Analytics: recovery curves, time to soreness resolution and responders per modality."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint(
    "analytics", __name__, url_prefix="/api/v1/analytics", description="Outcome analytics"
)
