"""The Today page: red flags first, then check-ins due, overdue and missed; acknowledging alerts."""

from __future__ import annotations

import marshmallow as ma
from flask import flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from server.extensions import db
from server.models import utcnow
from server.services.red_flags import ACK_LABELS
from server.services.red_flags import acknowledge_alert as acknowledge
from server.services.worklist import MISSED_LOOKBACK, worklist

from .auth import current_clinician, login_required, safe_next
from .forms import AcknowledgeForm, FormErrors, form_errors, load_form


@login_required
def today() -> ResponseReturnValue:
    """The clinic's worklist now."""
    return _today_page()


def _today_page(ack_errors: FormErrors | None = None, alert_id: int | None = None) -> str:
    now = utcnow()
    work = worklist(db.session(), clinic_id=current_clinician().clinic_id, now=now)
    return render_template(
        "today.html",
        work=work,
        now=now,
        missed_days=MISSED_LOOKBACK.days,
        ack_labels=ACK_LABELS,
        ack_errors=ack_errors or {},
        failed_alert_id=alert_id,
    )


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
