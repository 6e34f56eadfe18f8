"""Exports: CSV (one tidy row per answer) and FHIR R4 (Questionnaires and responses)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("exports", __name__, url_prefix="/api/v1/exports", description="Exports")
