"""Signing clinicians in and out of the pages: the session cookie holds the token of a session
kept on the server (``server.services.access``), so signing out ends it for every copy.

With two-factor sign-in, a right password leaves only a pending sign-in in the cookie (the
clinician's id and the time), and the session starts once the code is right (``two_factor``).

The login POST shares the sign-in limit with POST /api/v1/auth/token (``server.login_limit``),
so guessing passwords through either counts against the same allowance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec
from urllib.parse import urlsplit

import marshmallow as ma
from flask import flash, g, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from server.errors import Unauthorized
from server.extensions import db
from server.login_limit import login_limited
from server.models import Clinician, utcnow
from server.services.access import end_session, live_session, start_session
from server.services.clinics import authenticate
from server.services.two_factor import must_set_up, uses_two_factor

from .forms import LoginForm, form_errors, load_form

P = ParamSpec("P")
PAGES_PREFIX = "/clinic/"
PENDING_FOR = timedelta(minutes=10)  # from the password to the two-factor code


def load_clinician() -> None:
    """Before each page request: the signed-in clinician in ``g.clinician`` (else None), and
    their session in ``g.clinician_session``.

    A session ended (signed out elsewhere, revoked) or of a clinician made inactive since is
    signed out here, on its next request.
    """
    g.clinician = g.clinician_session = None
    token = cookie_session.get("session_token")
    if token is None:
        return
    row = live_session(db.session(), token=str(token), now=utcnow())
    if row is None:
        cookie_session.clear()
        return
    clinician = row.clinician
    g.clinician, g.clinician_session = clinician, row
    # plain strings for the layout, so an error page never needs the database again
    g.clinic_name = clinician.clinic.name
    g.clinic_zone = clinician.clinic.timezone  # the clock every clinician page reads
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


@login_limited
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
    second_step = _second_step(clinician, fields["next"])
    if second_step is not None:  # the code (or setting it up) before a session starts
        return second_step
    # a fresh session: nothing from before signing in (a planted id, a CSRF token) carries over
    cookie_session.clear()
    cookie_session["session_token"] = start_session(
        db.session(), clinician=clinician, now=utcnow()
    ).token
    flash(f"Signed in as {clinician.name or clinician.email}.", "success")
    return redirect(safe_next(fields["next"]))


def _second_step(clinician: Clinician, target: str | None) -> ResponseReturnValue | None:
    """After a right password: the code page (or the setup page, where the clinic requires
    two-factor sign-in the clinician has not set up), else None (sign in at once)."""
    if not (uses_two_factor(clinician) or must_set_up(clinician)):
        return None
    cookie_session.clear()
    cookie_session["pending"] = {
        "clinician_id": clinician.id,
        "since": utcnow().timestamp(),
        "next": target or "",
    }
    endpoint = "pages.login_code_form" if uses_two_factor(clinician) else "pages.login_setup_form"
    return redirect(url_for(endpoint))


def pending_sign_in() -> tuple[Clinician, dict[str, Any]] | None:
    """The clinician who gave their password within the last ten minutes, if any."""
    pending = cookie_session.get("pending")
    if not isinstance(pending, dict):
        return None
    if utcnow().timestamp() - float(pending.get("since", 0)) > PENDING_FOR.total_seconds():
        return None
    clinician = db.session.get(Clinician, int(pending.get("clinician_id", 0)))
    if clinician is None or not clinician.is_active:
        return None
    return clinician, pending


def start_signed_in(clinician: Clinician, target: str) -> str:
    """Sign in: a fresh cookie with a new session (nothing of the pending state kept)."""
    cookie_session.clear()
    cookie_session["session_token"] = start_session(
        db.session(), clinician=clinician, now=utcnow()
    ).token
    return safe_next(target)


def logout() -> Response:
    """End the session (a POST with its CSRF token, so no other site can sign anyone out)."""
    row = g.get("clinician_session")
    if row is not None:
        end_session(db.session(), row=row, now=utcnow())
    cookie_session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("pages.login_form"))
