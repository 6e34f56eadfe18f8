"""The Today page: red flags first, then check-ins due, overdue and missed; acknowledging alerts."""

from __future__ import annotations

from flask import flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from server.extensions import db
from server.models import utcnow
from server.services.red_flags import acknowledge_alert as acknowledge
from server.services.worklist import MISSED_LOOKBACK, worklist

from .auth import current_clinician, login_required, safe_next
from .forms import NextForm, load_form


@login_required
def today() -> ResponseReturnValue:
    """The clinic's worklist now."""
    now = utcnow()
    work = worklist(db.session(), clinic_id=current_clinician().clinic_id, now=now)
    return render_template("today.html", work=work, now=now, missed_days=MISSED_LOOKBACK.days)


@login_required
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """Acknowledge an alert (the service POST /api/v1/alerts/<id>/ack uses) and go back."""
    fields = load_form(NextForm(), request.form)
    alert = acknowledge(
        db.session(), clinician=current_clinician(), alert_id=alert_id, now=utcnow()
    )
    flash(f"Alert {alert.rule} acknowledged.", "success")
    return redirect(safe_next(fields["next"]))
