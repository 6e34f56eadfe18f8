"""The clinic's settings page: name, phone, time zone and opening hours, the emergency number,
new patients' quiet hours, the retention period with the records past it, and whether
two-factor sign-in is required. Every clinician reads it; clinic admins change it (each change
audited with its old and new value by ``update_clinic``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.errors import DomainError
from server.extensions import db
from server.models import Clinic, utcnow
from server.services.clinics import WEEKDAYS, update_clinic
from server.services.retention import past_retention

from .auth import current_clinician, login_required
from .formatting import COMMON_TIMEZONES
from .forms import SettingsForm, form_errors, load_form

NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_NAMES = dict(zip(WEEKDAYS, NAMES, strict=True))


def _shown(clinic: Clinic) -> dict[str, Any]:
    """The form's fields as the clinic has them now."""
    fields: dict[str, Any] = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "phone": clinic.phone or "",
        "emergency_number": clinic.emergency_number or "",
        "quiet_start": f"{clinic.default_quiet_start:%H:%M}" if clinic.default_quiet_start else "",
        "quiet_end": f"{clinic.default_quiet_end:%H:%M}" if clinic.default_quiet_end else "",
        "retention_years": clinic.retention_years or "",
        "require_two_factor": "yes" if clinic.require_two_factor else "",
    }
    for day, intervals in (clinic.opening_hours or {}).items():
        if intervals:
            fields[f"{day}.opens"] = intervals[0]["opens"]
            fields[f"{day}.closes"] = intervals[0]["closes"]
    return fields


def _page(
    errors: dict[str, list[str]] | None = None, posted: dict[str, Any] | None = None
) -> tuple[str, int]:
    clinician = current_clinician()
    clinic = clinician.clinic
    page = render_template(
        "settings.html",
        fields=posted or _shown(clinic),
        errors=errors or {},
        can_edit=clinician.is_admin,
        zones=COMMON_TIMEZONES,
        days=DAY_NAMES,
        split_days=[day for day, spans in (clinic.opening_hours or {}).items() if len(spans) > 1],
        past=past_retention(db.session(), clinician=clinician, now=utcnow())
        if clinician.is_admin
        else [],
    )
    return page, 422 if errors else 200


@login_required
def settings_page() -> ResponseReturnValue:
    """The clinic's settings."""
    return _page()


@login_required
def save_settings() -> ResponseReturnValue:
    """Change the clinic's settings (clinic admins)."""
    session = db.session()
    try:
        changes = load_form(SettingsForm(), request.form)
        update_clinic(session, clinician=current_clinician(), changes=changes, now=utcnow())
    except (ma.ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and error.status_code not in (409, 422):
            raise
        session.rollback()
        return _page(form_errors(error), request.form.to_dict())
    flash("The clinic's settings are saved.", "success")
    return redirect(url_for("pages.settings"))
