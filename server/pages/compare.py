"""The Compare page: modalities' recovery curves, time to soreness resolution, responders and
answer rates, split by clinician for clinic admins and by clinic for a network admin. Each chart
has its numbers beside it as a table and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, fields
from datetime import timedelta
from functools import partial
from typing import Any

import marshmallow as ma
from flask import abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.api.analytics_schemas import RecoveryQueryArgsSchema, scale_items
from server.charts import adjusted as adjusted_chart
from server.charts import outcomes
from server.charts.dose import dose_figure, has_bars
from server.errors import DomainError
from server.extensions import db
from server.models import Clinician, utcnow
from server.protocols import default_protocols, item_bank, regions
from server.services import analytics
from server.services.adjusted import store as adjusted_store
from server.services.analytics.dose import DOSE_SCALES, dose_response
from server.services.audit import record_event
from server.services.exports import spreadsheet_safe

from . import adjusted_words, comparison_rows
from .auth import current_clinician, login_required
from .forms import form_errors

MEASURES = ("soreness", "pain", "mobility")
ANALYTICS = (
    "recovery",
    "resolution",
    "responders",
    "answer-rates",
    "case-mix",
    "significance",
    "dose",
)


def _figures_of(scope: analytics.Scope, measure: str) -> dict[str, Any]:
    """Every analytic the page shows, computed once for charts, tables and CSV alike."""
    session = db.session()
    measures = list(dict.fromkeys((measure, *MEASURES)))
    rows = analytics.outcome_rows(session, scope=scope)  # read once for both
    treatment_outcomes = analytics.outcomes(session, scope=scope, rows=rows)
    return {
        "curves": analytics.recovery(session, scope=scope, measures=measures),
        "resolution": treatment_outcomes.resolution,
        "responders": treatment_outcomes.responders,
        "answer_rates": analytics.answer_rates(session, scope=scope),
        "case_mix": analytics.case_mix(session, scope=scope),
        "significance": analytics.significance(session, scope=scope, rows=rows),
        "dose": dose_response(session, scope=scope),
        # the worker's stored fit (never fitted here): it may be missing or outdated
        "adjusted": adjusted_store.stored(
            session,
            scope=scope,
            now=utcnow(),
            refit_within=timedelta(seconds=current_app.config["ADJUSTED_INTERVAL_S"]),
        ),
    }


def _scope(args: dict[str, Any]) -> analytics.Scope:
    return analytics.scope_for(
        db.session(),
        clinician=current_clinician(),
        filters=args["filters"],
        by=args["by"],
        min_patients=current_app.config["SUPPRESS_BELOW_PATIENTS"],
    )


def _choices(clinician: Clinician) -> dict[str, Any]:
    """What the filter form offers: the clinicians (the clinic's for an admin, else oneself),
    regions, measures, groupings."""
    shown = {"clinic_id": clinician.clinic_id}
    if not clinician.is_admin:
        shown["id"] = clinician.id
    colleagues = db.session.execute(
        select(Clinician.id, Clinician.name, Clinician.email)
        .filter_by(**shown)
        .order_by(Clinician.name, Clinician.email)
    ).all()
    # split by clinician or clinic, the charts still draw a panel per modality
    groupings = [("modality", "Modality")]
    if clinician.is_admin:
        groupings.append(("clinician", "Clinician"))
    if clinician.is_network_admin and clinician.clinic.network_id is not None:
        groupings.append(("clinic", "Clinic"))
    return {
        "clinicians": [(row.id, row.name or row.email) for row in colleagues],
        "regions": [(code, region.label) for code, region in regions().items()],
        "measures": [(code, item_bank()[code].label) for code in scale_items()],
        "groupings": groupings,
    }


@login_required
def compare() -> ResponseReturnValue:
    """The comparison page, for the filters in the query string."""
    fields = request.args.to_dict()
    try:
        args = RecoveryQueryArgsSchema().load({k: v for k, v in fields.items() if v})
        scope = _scope(args)
    except (ma.ValidationError, DomainError) as error:
        page = render_template(
            "compare.html",
            errors=form_errors(error),
            fields=fields,
            **_choices(current_clinician()),
        )
        return page, 422 if isinstance(error, ma.ValidationError) else error.status_code
    measure = args["measure"]
    found = _figures_of(scope, measure)
    # the clinic's own time points (the defaults when several clinics are in view): a measure
    # its protocol does not ask at a time point reads "not asked", not "no answers"
    protocols = scope.protocols or default_protocols()
    figures = {
        "main": outcomes.recovery_figure(
            found["curves"][measure], measure=measure, protocols=protocols
        ),
        "measures": outcomes.measures_figure(
            {m: found["curves"][m] for m in MEASURES}, protocols=protocols
        ),
        "resolution": outcomes.resolution_figure(found["resolution"]),
        "responders": outcomes.responders_figure(found["responders"]),
        "answer_rates": outcomes.answer_rates_figure(found["answer_rates"], protocols=protocols),
        # no chart when no dose is recorded: the table says how many answers lack one
        "dose": dose_figure(found["dose"]) if has_bars(found["dose"]) else None,
    }
    comparison = found["adjusted"].comparison
    shown = comparison and any(
        d.estimate is not None for model in comparison.measures for d in model.differences
    )
    if comparison is not None and comparison.reference is not None and shown:
        figures["adjusted"] = adjusted_chart.forest_figure(
            comparison.measures, partial(outcomes.slot_label, protocols, comparison.reference)
        )
    return render_template(
        "compare.html",
        errors={},
        fields=fields,
        measure=measure,
        scope=scope,
        found=found,
        figures=figures,
        series_name=outcomes.series_name,
        slot_label=partial(outcomes.slot_label, protocols),
        is_asked=partial(outcomes.is_asked, protocols),
        adjusted_freshness=adjusted_words.freshness(
            found["adjusted"], utcnow(), current_clinician().clinic.timezone
        ),
        adjusted_points=adjusted_words.shared_points(
            comparison.measures if comparison else [], protocols
        ),
        query=request.query_string.decode(),
        dose_scales=DOSE_SCALES,
        **_choices(current_clinician()),
    )


@login_required
def compare_csv(analytic: str) -> ResponseReturnValue:
    """One chart's numbers as CSV, for the same filters as the page."""
    if analytic not in ANALYTICS:
        abort(404)
    fields = {k: v for k, v in request.args.to_dict().items() if v}
    try:
        args = RecoveryQueryArgsSchema().load(fields)
        scope = _scope(args)
    except (ma.ValidationError, DomainError) as error:
        status = 422 if isinstance(error, ma.ValidationError) else error.status_code
        return {"message": "the filters are not valid", "errors": form_errors(error)}, status
    rows = _csv_rows(analytic, scope, args["measure"])
    text = io.StringIO()
    # every key of every row, in first-seen order (a suppressed series has no curve steps)
    fieldnames = list(dict.fromkeys(key for row in rows for key in row)) or ["modality"]
    writer = csv.DictWriter(text, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    clinician = current_clinician()
    record_event(
        db.session(),
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="export.analytics_csv",
        at=utcnow(),
        target=analytic,
        details={"filters": fields, "rows": len(rows)},
    )
    response = Response(text.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{analytic}.csv"'
    return response


def _group_fields(series: Any) -> dict[str, Any]:
    group = series.group
    return {
        "modality": series.modality,
        # clinician and clinic names are typed by people: never a formula in a spreadsheet
        "group": spreadsheet_safe(group.label) if group else "",
        "group_id": group.id if group else "",
    }


def _csv_rows(analytic: str, scope: analytics.Scope, measure: str) -> list[dict[str, Any]]:
    """Tidy rows of one analytic: one per time point (or per step of a survival curve)."""
    session = db.session()
    if analytic == "case-mix":
        return comparison_rows.case_mix_rows(analytics.case_mix(session, scope=scope))
    if analytic == "significance":
        return comparison_rows.significance_rows(analytics.significance(session, scope=scope))
    if analytic == "recovery":
        measures = list(dict.fromkeys((measure, *MEASURES)))
        curves = analytics.recovery(session, scope=scope, measures=measures)
        return [
            _group_fields(curve) | {"measure": name} | asdict(point)
            for name in measures
            for curve in curves[name]
            for point in curve.points
        ]
    if analytic == "resolution":
        return [
            _group_fields(series)
            | {
                f.name: getattr(series, f.name)
                for f in fields(series)
                if f.name not in ("fit", "group")
            }
            | {f"curve_{key}": value for key, value in step.items()}
            for series in analytics.resolution(session, scope=scope)
            for step in (series.curve or [{}])
        ]
    if analytic == "responders":
        return [
            _group_fields(series) | {k: v for k, v in asdict(series).items() if k != "group"}
            for series in analytics.responders(session, scope=scope)
        ]
    if analytic == "dose":  # pooled over clinicians and clinics: no group columns
        return [
            {"dose": series.dose, "modality": series.modality} | asdict(cell)
            for series in dose_response(session, scope=scope)
            for cell in series.cells
        ]
    return [
        _group_fields(series) | asdict(point)
        for series in analytics.answer_rates(session, scope=scope)
        for point in series.points
    ]
