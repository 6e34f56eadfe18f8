"""Exports: CSV (one tidy row per answer) and FHIR R4 (Questionnaires and responses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, stream_with_context
from flask.views import MethodView

from server.extensions import db
from server.models import utcnow
from server.services.exports import CSV_COLUMNS, begin_csv_export, csv_lines
from server.services.fhir import export_fhir_bundle

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .export_schemas import ExportQueryArgsSchema

blp = Blueprint("exports", __name__, url_prefix="/api/v1/exports", description="Exports")

CSV_DOC = {"type": "string", "description": f"CSV with the header {','.join(CSV_COLUMNS)}"}
FHIR_DOC = {"type": "object", "description": "a FHIR R4 (4.0.1) Bundle of type collection"}
ATTACHMENT_DOC = {
    "Content-Disposition": {
        "description": 'attachment; filename="answers-YYYY-MM-DD.csv"',
        "schema": {"type": "string"},
    }
}


@blp.route("/answers.csv")
class AnswersCsv(MethodView):
    """The clinic's answers as CSV."""

    decorators = [clinician_required]

    @blp.arguments(ExportQueryArgsSchema, location="query")
    @blp.response(200, CSV_DOC, content_type="text/csv", headers=ATTACHMENT_DOC)
    def get(self, filters: dict[str, Any]) -> Response:
        """Download every answer of the clinic as CSV, one row per answer (streamed)."""
        session, now = db.session(), utcnow()
        scope = begin_csv_export(session, clinician=current_clinician(), now=now, **filters)

        def lines() -> Iterator[str]:
            # the session of the streaming context: the view's own is closed when it returns
            yield from csv_lines(db.session(), scope=scope)

        return Response(
            stream_with_context(lines()),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="answers-{now:%Y-%m-%d}.csv"'},
        )


@blp.route("/fhir")
class FhirBundle(MethodView):
    """The clinic's questionnaires and answers as FHIR R4."""

    decorators = [clinician_required]

    @blp.arguments(ExportQueryArgsSchema, location="query")
    @blp.response(200, FHIR_DOC, content_type="application/fhir+json")
    def get(self, filters: dict[str, Any]) -> Response:
        """Download the clinic's answers and their Questionnaires as a FHIR R4 Bundle."""
        session = db.session()
        bundle = export_fhir_bundle(
            session,
            clinician=current_clinician(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
            now=utcnow(),
            **filters,
        )
        return Response(json.dumps(bundle), mimetype="application/fhir+json")
