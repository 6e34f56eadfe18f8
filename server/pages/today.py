"""The Today page: red flags first, then check-ins due, overdue and missed; acknowledging alerts."""

from __future__ import annotations

import hashlib

import marshmallow as ma
from flask import Response, current_app, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from server.extensions import db
from server.models import utcnow
from server.services.alerting.notices import configured_channels, urgent_route_problems
from server.services.red_flags import ACK_LABELS
from server.services.red_flags import acknowledge_alert as acknowledge
from server.services.worklist import MISSED_LOOKBACK, AlertRow, open_alerts, worklist

from .auth import current_clinician, login_required, safe_next
from .forms import AcknowledgeForm, FormErrors, form_errors, load_form


@login_required
def today() -> ResponseReturnValue:
    """The clinic's worklist now."""
    return _today_page()


def _today_page(ack_errors: FormErrors | None = None, alert_id: int | None = None) -> str:
    now, clinician, session = utcnow(), current_clinician(), db.session()
    work = worklist(session, clinic_id=clinician.clinic_id, now=now)
    problems = (
        urgent_route_problems(
            session,
            clinic=clinician.clinic,
            channels_on=configured_channels(current_app.config),
        )
        if clinician.is_admin
        else []
    )
    return render_template(
        "today.html",
        work=work,
        now=now,
        missed_days=MISSED_LOOKBACK.days,
        ack_labels=ACK_LABELS,
        ack_errors=ack_errors or {},
        failed_alert_id=alert_id,
        alerts_etag=alerts_etag(work.alerts),
        route_problems=problems,
    )


@login_required
def today_alerts() -> ResponseReturnValue:
    """The Today page's red flags alone, for the page to fetch every few seconds: 304 while
    they are unchanged (the page sends If-None-Match itself, as these answers are no-store).
    The tag is weak (the same list, not the same bytes): compression rewrites a strong one
    per encoding. Not audited: it shows what the Today page already shows."""
    alerts = open_alerts(db.session(), clinic_id=current_clinician().clinic_id)
    etag = alerts_etag(alerts)
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        html = render_template(
            "_today_alerts.html", alerts=alerts, ack_labels=ACK_LABELS, ack_errors={}
        )
        response = Response(html, mimetype="text/html")
    response.set_etag(etag, weak=True)
    response.headers["X-Open-Alerts"] = str(len(alerts))
    return response


def alerts_etag(alerts: list[AlertRow]) -> str:
    """A tag that changes whenever the list of open red flags does."""
    listed = ",".join(f"{alert.alert_id}:{alert.severity}" for alert in alerts)
    return hashlib.sha256(listed.encode()).hexdigest()[:32]


@login_required
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """Acknowledge an alert with what was done (the service POST /api/v1/alerts/<id>/ack
    uses) and go back."""
    try:
        fields = load_form(AcknowledgeForm(), request.form)
    except ma.ValidationError as error:  # the page again, the reason by the alert's form
        return _today_page(form_errors(error), alert_id), 422
    alert = acknowledge(
        db.session(),
        clinician=current_clinician(),
        alert_id=alert_id,
        action=fields["action"],
        note=fields["note"],
        now=utcnow(),
    )
    flash(
        f"Red flag for {alert.patient.code} acknowledged: {ACK_LABELS[alert.ack_action or '']}.",
        "success",
    )
    return redirect(safe_next(fields["next"]))
