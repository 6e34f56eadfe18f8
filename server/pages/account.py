"""One's own account: password, mobile for urgent alerts, and two-factor sign-in (set up,
new recovery codes, turned off)."""

from __future__ import annotations

import marshmallow as ma
from flask import flash, g, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue

from server.errors import DomainError
from server.extensions import db
from server.models import utcnow
from server.services.staff import change_password, set_own_phone
from server.services.two_factor import (
    disable,
    enable,
    recovery_codes_left,
    renew_recovery_codes,
    uses_two_factor,
)

from .auth import current_clinician, login_required
from .forms import PasswordChangeForm, form_errors, load_form
from .staff import ROLE_LABELS
from .two_factor import codes_page, setup_page


def _account_page(
    *, errors: dict[str, list[str]] | None = None, phone: str | None = None
) -> tuple[str, int]:
    me = current_clinician()
    page = render_template(
        "account.html",
        me=me,
        role_label=ROLE_LABELS[me.role],
        errors=errors or {},
        phone=phone,
        two_factor=uses_two_factor(me),
        two_factor_required=me.clinic.require_two_factor,
        codes_left=recovery_codes_left(db.session(), clinician=me),
    )
    return page, 422 if errors else 200


@login_required
def account_page() -> ResponseReturnValue:
    """Change one's password and mobile."""
    return _account_page()


@login_required
def save_password() -> ResponseReturnValue:
    """Change one's password; every other session and API token ends."""
    session = db.session()
    try:
        fields = load_form(PasswordChangeForm(), request.form)
        change_password(
            session,
            clinician=current_clinician(),
            old=fields["old_password"],
            new=fields["new_password"],
            now=utcnow(),
            keep_session_id=g.clinician_session.id,
        )
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        return _account_page(errors=form_errors(error))
    flash("Password changed. You are signed out everywhere else.", "success")
    return redirect(url_for("pages.account"))


@login_required
def save_phone() -> ResponseReturnValue:
    """Set one's mobile for urgent alerts by text."""
    session, phone = db.session(), request.form.get("phone", "").strip() or None
    try:
        set_own_phone(session, clinician=current_clinician(), phone=phone, now=utcnow())
    except DomainError as error:
        session.rollback()
        return _account_page(errors=form_errors(error), phone=phone)
    flash("Mobile number saved." if phone else "Mobile number removed.", "success")
    return redirect(url_for("pages.account"))


@login_required
def account_setup_form() -> ResponseReturnValue:
    """Set up two-factor sign-in from one's account."""
    return setup_page(current_clinician(), url_for("pages.account_setup"))


@login_required
def account_setup() -> ResponseReturnValue:
    """Confirm the app's first code and show the recovery codes once."""
    clinician, session = current_clinician(), db.session()
    secret = cookie_session.get("totp_setup")
    if not isinstance(secret, str):
        return redirect(url_for("pages.account_setup_form"))
    try:
        codes = enable(
            session,
            clinician=clinician,
            secret=secret,
            code=request.form.get("code", ""),
            now=utcnow(),
        )
    except DomainError as error:
        session.rollback()
        return setup_page(clinician, url_for("pages.account_setup"), form_errors(error))
    cookie_session.pop("totp_setup", None)
    return codes_page(codes, url_for("pages.account"))


@login_required
def account_new_codes() -> ResponseReturnValue:
    """New recovery codes (a code from the app proves it is the clinician)."""
    session = db.session()
    try:
        codes = renew_recovery_codes(
            session,
            clinician=current_clinician(),
            code=request.form.get("code", ""),
            now=utcnow(),
        )
    except DomainError as error:
        session.rollback()
        return _account_error(error)
    return codes_page(codes, url_for("pages.account"))


@login_required
def account_disable() -> ResponseReturnValue:
    """Turn one's two-factor sign-in off."""
    session = db.session()
    try:
        disable(
            session,
            clinician=current_clinician(),
            code=request.form.get("code", ""),
            now=utcnow(),
        )
    except DomainError as error:
        session.rollback()
        return _account_error(error)
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("pages.account"))


def _account_error(error: DomainError) -> ResponseReturnValue:
    return _account_page(errors={"code": [error.message]})
