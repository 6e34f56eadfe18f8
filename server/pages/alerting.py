"""Alert routing: who the clinic's red flags reach, step by step, and its on-call and backup
contacts. Every clinician reads it; clinic admins change it (as PUT /api/v1/clinic/alert-routing
and /api/v1/clinic/alert-contacts)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from server.errors import DomainError
from server.extensions import db
from server.inputs import ID
from server.models import utcnow
from server.models.alerting import NOTICE_CHANNELS
from server.models.responses import SEVERITIES
from server.services.alerting.contacts import add_contact, list_contacts, remove_contact
from server.services.alerting.notices import configured_channels, urgent_route_problems
from server.services.alerting.routing import (
    CHANNEL_LABELS,
    ESCALATE_AFTER_MIN,
    GROUP_LABELS,
    GROUPS,
    MAX_STEPS,
    TIMING,
    TIMING_LABELS,
    clinic_routing,
    set_routing,
)
from server.services.staff import active_members

from .auth import current_clinician, login_required
from .forms import FormErrors, FormSchema, form_errors, load_form

SEVERITY_LABELS = {"urgent": "Urgent", "same_day": "Same-day", "routine": "Routine"}


class EscalationForm(FormSchema):
    """The minutes between an urgent alert's steps."""

    escalate_after_min = ma.fields.Integer(
        required=True, validate=ma.validate.Range(*ESCALATE_AFTER_MIN)
    )


class ContactForm(FormSchema):
    """A contact to add: a clinician of the clinic, or a person outside it."""

    role = ma.fields.String(required=True)
    clinician_id = ma.fields.Integer(load_default=None, validate=ID)
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    email = ma.fields.String(load_default=None, validate=ma.validate.Length(max=254))
    phone = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))


def _steps_from(form: MultiDict[str, str]) -> dict[str, list[dict[str, list[str]]]]:
    """The routing as posted: each severity's rows with anything ticked, in order."""
    routing: dict[str, list[dict[str, list[str]]]] = {}
    for severity in SEVERITIES:
        rows = MAX_STEPS if severity == "urgent" else 1
        steps = []
        for row in range(rows):
            groups = form.getlist(f"{severity}.{row}.groups")
            channels = form.getlist(f"{severity}.{row}.channels")
            if groups or channels:
                steps.append({"groups": groups, "channels": channels})
        routing[severity] = steps
    return routing


def _page(
    *, errors: FormErrors | None = None, posted: dict[str, Any] | None = None, status: int = 200
) -> tuple[str, int]:
    clinician, session = current_clinician(), db.session()
    current = clinic_routing(clinician.clinic)
    page = render_template(
        "alert_routing.html",
        routing=posted["routing"] if posted else current.routing,
        escalate_after_min=posted["escalate_after_min"] if posted else current.escalate_after_min,
        is_default=current.is_default,
        contacts=list_contacts(session, clinic_id=clinician.clinic_id),
        members=active_members(clinician.clinic),
        problems=urgent_route_problems(
            session, clinic=clinician.clinic, channels_on=configured_channels(current_app.config)
        ),
        errors=errors or {},
        can_edit=clinician.is_admin,
        severities=SEVERITIES,
        severity_labels=SEVERITY_LABELS,
        timing_labels={severity: TIMING_LABELS[TIMING[severity]] for severity in SEVERITIES},
        groups=GROUPS,
        group_labels=GROUP_LABELS,
        channels=NOTICE_CHANNELS,
        channel_labels=CHANNEL_LABELS,
        max_steps=MAX_STEPS,
    )
    return page, status


@login_required
def alert_routing() -> ResponseReturnValue:
    """The clinic's alert routing and contacts."""
    return _page()


@login_required
def save_routing() -> ResponseReturnValue:
    """Set the routing from the form, or restore the default (admins)."""
    steps = _steps_from(request.form)
    posted = {"routing": steps, "escalate_after_min": request.form.get("escalate_after_min", "")}
    restore = request.form.get("restore") == "default"
    try:
        minutes = load_form(EscalationForm(), request.form)["escalate_after_min"]
        set_routing(
            db.session(),
            clinician=current_clinician(),
            routing=None if restore else steps,
            escalate_after_min=minutes,
            now=utcnow(),
        )
    except (ma.ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and error.status_code != 422:
            raise
        # the form's fields are named as the routing's steps, without the API's "routing."
        errors = {key.removeprefix("routing."): why for key, why in form_errors(error).items()}
        return _page(errors=errors, posted=posted, status=422)
    flash(
        "Alert routing set back to the default." if restore else "Alert routing saved.", "success"
    )
    return redirect(url_for("pages.alert_routing"))


@login_required
def add_alert_contact() -> ResponseReturnValue:
    """Add an on-call or backup contact (admins)."""
    try:
        fields = load_form(ContactForm(), request.form)
        contact = add_contact(
            db.session(),
            clinician=current_clinician(),
            role=fields["role"],
            member_id=fields["clinician_id"],
            name=fields["name"],
            email=fields["email"],
            phone=fields["phone"],
            now=utcnow(),
        )
    except (ma.ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and error.status_code not in (404, 409, 422):
            raise
        errors = {f"contact.{key}": reasons for key, reasons in form_errors(error).items()}
        return _page(errors=errors, status=422)
    flash(f"{contact.name} added as a {contact.role.replace('_', '-')} contact.", "success")
    return redirect(url_for("pages.alert_routing"))


@login_required
def remove_alert_contact(contact_id: int) -> ResponseReturnValue:
    """Remove a contact (admins)."""
    remove_contact(db.session(), clinician=current_clinician(), contact_id=contact_id, now=utcnow())
    flash("Contact removed.", "success")
    return redirect(url_for("pages.alert_routing"))
