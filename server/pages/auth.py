"""Signing clinicians in and out of the pages: a session cookie holding the clinician's id.

The login POST shares the rate limit scope "login" with POST /api/v1/auth/token, so guessing
passwords through either counts against the same allowance (LOGIN_RATE_LIMIT, per address).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec
from urllib.parse import urlsplit

import marshmallow as ma
from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from server.errors import Unauthorized
from server.extensions import db, limiter
from server.models import Clinician, utcnow
from server.services.audit import record_event
from server.services.clinics import authenticate

from .forms import LoginForm, form_errors, load_form

P = ParamSpec("P")
PAGES_PREFIX = "/clinic/"


def load_clinician() -> None:
    """Before each page request: the signed-in clinician in ``g.clinician`` (else None).

    A clinician made inactive since signing in is signed out here, on their next request.
    """
    g.clinician = None
    clinician_id = cookie_session.get("clinician_id")
    if clinician_id is None:
        return
    clinician = db.session.get(Clinician, clinician_id)
    if clinician is None or not clinician.is_active:
        cookie_session.clear()
        return
    g.clinician = clinician
    # plain strings for the layout, so an error page never needs the database again
    g.clinic_name = clinician.clinic.name
    g.clinician_label = clinician.name or clinician.email


def current_clinician() -> Clinician:
    """The clinician of this request (after ``login_required``)."""
    clinician: Clinician = g.clinician
    return clinician


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Send a visitor who is not signed in to the login page, and back here afterwards."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if g.get("clinician") is None:
            # after signing in, only a page can be opened again, not a form's POST
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("pages.login_form", next=target))
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Where to go after signing in or pressing a button: a page of ours, never another site."""
    if (
        not target
        or not target.startswith(PAGES_PREFIX)
        or "\\" in target
        or any(ord(character) < 32 for character in target)
        or urlsplit(target).netloc
    ):
        return url_for("pages.today")
    return target


def login_form() -> ResponseReturnValue:
    """The login page."""
    if g.get("clinician") is not None:
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", errors={}, email="", next=request.args.get("next", ""))


@limiter.shared_limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], scope="login")
def login() -> ResponseReturnValue:
    """Check the e-mail and password; on success start a new session and go on."""
    email, target = request.form.get("email", ""), request.form.get("next", "")
    try:
        fields = load_form(LoginForm(), request.form)
        clinician = authenticate(db.session(), email=fields["email"], password=fields["password"])
    except (ma.ValidationError, Unauthorized) as error:
        errors = form_errors(error)
        if isinstance(error, Unauthorized):  # never say which of the two was wrong
            errors = {"_form": ["Wrong e-mail or password, or the account is not active."]}
        page = render_template("login.html", errors=errors, email=email, next=target)
        return page, 422
    # a fresh session: nothing from before signing in (a planted id, a CSRF token) carries over
    cookie_session.clear()
    cookie_session["clinician_id"] = clinician.id
    record_event(
        db.session(),
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="clinician.signed_in",
        at=utcnow(),
    )
    flash(f"Signed in as {clinician.name or clinician.email}.", "success")
    return redirect(safe_next(fields["next"]))


def logout() -> Response:
    """End the session (a POST with its CSRF token, so no other site can sign anyone out)."""
    clinician = g.get("clinician")
    if clinician is not None:
        record_event(
            db.session(),
            clinic_id=clinician.clinic_id,
            actor=f"clinician:{clinician.id}",
            action="clinician.signed_out",
            at=utcnow(),
        )
    cookie_session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("pages.login_form"))
