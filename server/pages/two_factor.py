"""Two-factor sign-in in the pages: the code asked after the password, setting it up at sign-in
where the clinic requires it, the setup and recovery-code pages the account page shares, and
an admin's reset and the clinic's requirement.

Between the password and the code, the cookie holds only the clinician's id and when the
password was given (``pending``); a session starts once the code is right.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue

from server.errors import DomainError
from server.extensions import db
from server.login_limit import login_limited
from server.models import Clinician, utcnow
from server.services.two_factor import (
    check_code,
    enable,
    new_secret,
    provisioning,
    reset_for,
    set_requirement,
)

from .auth import current_clinician, login_required, pending_sign_in, start_signed_in
from .forms import form_errors


def _expired() -> ResponseReturnValue:
    flash("Too long since the password was given: sign in again.", "warning")
    return redirect(url_for("pages.login_form"))


def login_code_form() -> ResponseReturnValue:
    """The code page after the password."""
    if pending_sign_in() is None:
        return _expired()
    return render_template("login_code.html", errors={})


@login_limited
def login_code() -> ResponseReturnValue:
    """Check the code; a wrong one counts against the sign-in allowance like a wrong password."""
    found = pending_sign_in()
    if found is None:
        return _expired()
    clinician, pending = found
    try:
        check_code(
            db.session(), clinician=clinician, code=request.form.get("code", ""), now=utcnow()
        )
    except DomainError as error:
        db.session.rollback()
        return render_template("login_code.html", errors=form_errors(error)), 422
    target = start_signed_in(clinician, pending["next"])
    flash(f"Signed in as {clinician.name or clinician.email}.", "success")
    return redirect(target)


def setup_page(
    clinician: Clinician, action: str, errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    secret = cookie_session.get("totp_setup")
    if not isinstance(secret, str):
        secret = cookie_session["totp_setup"] = new_secret()
    page = render_template(
        "two_factor_setup.html",
        provisioning=provisioning(clinician, secret),
        action=action,
        required=clinician.clinic.require_two_factor,
        errors=errors or {},
    )
    response = make_response(page, 422 if errors else 200)
    response.headers["Cache-Control"] = "no-store"  # the secret is on it
    return response


def codes_page(codes: list[str], next_url: str) -> ResponseReturnValue:
    response = make_response(render_template("recovery_codes.html", codes=codes, next_url=next_url))
    response.headers["Cache-Control"] = "no-store"
    return response


def login_setup_form() -> ResponseReturnValue:
    """Set up two-factor sign-in before the first sign-in the clinic requires it for."""
    found = pending_sign_in()
    if found is None:
        return _expired()
    return setup_page(found[0], url_for("pages.login_setup"))


@login_limited
def login_setup() -> ResponseReturnValue:
    """Confirm the app's first code, sign in, and show the recovery codes once."""
    found = pending_sign_in()
    if found is None or not isinstance(cookie_session.get("totp_setup"), str):
        return _expired()
    clinician, pending = found
    try:
        codes = enable(
            db.session(),
            clinician=clinician,
            secret=cookie_session["totp_setup"],
            code=request.form.get("code", ""),
            now=utcnow(),
        )
    except DomainError as error:
        db.session.rollback()
        return setup_page(clinician, url_for("pages.login_setup"), form_errors(error))
    return codes_page(codes, start_signed_in(clinician, pending["next"]))


# --- the clinic's admins ----------------------------------------------------------------------


@login_required
def set_clinic_requirement() -> ResponseReturnValue:
    """Require two-factor sign-in for everyone in the clinic, or not."""
    required = request.form.get("required") == "yes"
    set_requirement(db.session(), admin=current_clinician(), required=required, now=utcnow())
    flash(
        "Two-factor sign-in is required: each clinician sets it up at their next sign-in."
        if required
        else "Two-factor sign-in is no longer required.",
        "success",
    )
    return redirect(url_for("pages.staff"))


@login_required
def reset_member(clinician_id: int) -> ResponseReturnValue:
    """Turn a clinician's two-factor sign-in off (a lost phone)."""
    member = reset_for(
        db.session(), admin=current_clinician(), member_id=clinician_id, now=utcnow()
    )
    again = (
        " They set it up again at their next sign-in." if member.clinic.require_two_factor else ""
    )
    flash(f"Two-factor sign-in reset for {member.name or member.email}.{again}", "success")
    return redirect(url_for("pages.staff"))
