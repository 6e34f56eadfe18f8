"""Staff and accounts: a clinic admin invites clinicians, changes their roles and ends or
restores their access; every clinician changes their password and mobile; a forgotten password
is reset through a one-time link."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import (
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from server.errors import DomainError, NotFound
from server.extensions import db
from server.login_limit import count_attempt, login_limited
from server.models import Clinician, utcnow
from server.services.mail import Mailer
from server.services.staff import (
    ASSIGNABLE_ROLES,
    HandedLink,
    change_role,
    hand_over,
    invite,
    is_invited,
    issue_reset,
    link_holder,
    list_staff,
    send_reset,
    set_active,
    use_link,
)

from .auth import current_clinician, login_required
from .forms import (
    InviteForm,
    NewPasswordForm,
    ResetForm,
    RoleForm,
    form_errors,
    load_form,
)

ROLE_LABELS = {"clinician": "Clinician", "admin": "Clinic admin", "network_admin": "Network admin"}
RESET_SENT = (
    "If an account has this address, a link to reset its password is on its way; it works "
    "for an hour. No e-mail? Ask your clinic admin for a reset link."
)


def _staff_page(
    *, errors: dict[str, list[str]] | None = None, posted: dict[str, Any] | None = None
) -> tuple[str, int]:
    admin = current_clinician()
    page = render_template(
        "staff.html",
        staff=list_staff(db.session(), clinician=admin),
        me=admin,
        errors=errors or {},
        posted=posted or {},
        roles=ASSIGNABLE_ROLES,
        role_labels=ROLE_LABELS,
        is_invited=is_invited,
    )
    return page, 422 if errors else 200


@login_required
def staff_page() -> ResponseReturnValue:
    """The clinic's clinicians, and the invitation form (clinic admins)."""
    return _staff_page()


@login_required
def invite_clinician() -> ResponseReturnValue:
    """Invite a clinician: the link is e-mailed, or shown once to hand over."""
    session = db.session()
    try:
        fields = load_form(InviteForm(), request.form)
        issued = invite(
            session,
            admin=current_clinician(),
            now=utcnow(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
            **fields,
        )
    except (ma.ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and error.status_code not in (409, 422):
            raise
        session.rollback()
        return _staff_page(errors=form_errors(error), posted=request.form.to_dict())
    return _handed(hand_over(issued, Mailer.from_config(current_app.config)))


@login_required
def change_staff_role(clinician_id: int) -> ResponseReturnValue:
    """Make a clinician a clinician or a clinic admin."""
    return _staff_change(
        clinician_id,
        lambda session, admin: change_role(
            session,
            admin=admin,
            member_id=clinician_id,
            role=load_form(RoleForm(), request.form)["role"],
            now=utcnow(),
        ),
        "Role changed for {name}.",
    )


@login_required
def deactivate_clinician(clinician_id: int) -> ResponseReturnValue:
    """End a clinician's access at once (sessions, API tokens)."""
    return _staff_change(
        clinician_id,
        lambda session, admin: set_active(
            session,
            admin=admin,
            member_id=clinician_id,
            active=False,
            now=utcnow(),
            keep_session_id=g.clinician_session.id,
        ),
        "{name} can no longer sign in; their sessions and API tokens have ended.",
    )


@login_required
def reactivate_clinician(clinician_id: int) -> ResponseReturnValue:
    """Let a deactivated clinician sign in again."""
    return _staff_change(
        clinician_id,
        lambda session, admin: set_active(
            session, admin=admin, member_id=clinician_id, active=True, now=utcnow()
        ),
        "{name} can sign in again with their password.",
    )


@login_required
def make_reset_link(clinician_id: int) -> ResponseReturnValue:
    """A one-time link that sets a clinician's password (a fresh invitation if invited)."""
    issued = issue_reset(
        db.session(),
        admin=current_clinician(),
        member_id=clinician_id,
        now=utcnow(),
        base_url=current_app.config["PUBLIC_BASE_URL"],
    )
    return _handed(hand_over(issued, Mailer.from_config(current_app.config)))


def _staff_change(clinician_id: int, change: Any, done: str) -> ResponseReturnValue:
    """Apply one change to a clinician; a refusal (the last admin, a bad role) is shown on the
    staff page by that clinician's row."""
    session, admin = db.session(), current_clinician()
    try:
        member: Clinician = change(session, admin)
    except (ma.ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and error.status_code not in (409, 422):
            raise
        session.rollback()
        reasons = [reason for why in form_errors(error).values() for reason in why]
        errors = {f"member-{clinician_id}": reasons}
        return _staff_page(errors=errors)
    flash(done.format(name=member.name or member.email), "success")
    return redirect(url_for("pages.staff"))


def _handed(handed: HandedLink) -> ResponseReturnValue:
    """Say the link was e-mailed, or show it this once (never stored: only its hash is)."""
    member = handed.clinician
    if handed.mailed:
        flash(f"A link was e-mailed to {member.email}.", "success")
        return redirect(url_for("pages.staff"))
    response = make_response(render_template("link_shown.html", handed=handed), 201)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- a forgotten password ---------------------------------------------------------------------


def forgot_form() -> ResponseReturnValue:
    """Ask for a reset link by e-mail."""
    return render_template("password_forgot.html", errors={}, sent=None)


@login_limited
def forgot() -> ResponseReturnValue:
    """Send a reset link if the address has an account; the same answer either way."""
    try:
        email = load_form(ResetForm(), request.form)["email"]
    except ma.ValidationError as error:
        return render_template("password_forgot.html", errors=form_errors(error), sent=None), 422
    count_attempt(email)
    send_reset(
        db.session(),
        email=email,
        now=utcnow(),
        base_url=current_app.config["PUBLIC_BASE_URL"],
        mailer=Mailer.from_config(current_app.config),
    )
    return render_template("password_forgot.html", errors={}, sent=RESET_SENT)


def set_password_form(token: str) -> ResponseReturnValue:
    """The form behind a one-time link, or why the link no longer works."""
    try:
        link = link_holder(db.session(), token=token, now=utcnow())
    except DomainError as error:
        return _dead_link(error)
    return render_template("password_set.html", link=link, token=token, errors={})


def set_password(token: str) -> ResponseReturnValue:
    """Set the password; the link ends, and so does every session of the account."""
    session = db.session()
    try:
        link = link_holder(session, token=token, now=utcnow())
    except DomainError as error:
        return _dead_link(error)
    try:
        password = load_form(NewPasswordForm(), request.form)["password"]
        use_link(session, token=token, password=password, now=utcnow())
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        page = render_template(
            "password_set.html", link=link, token=token, errors=form_errors(error)
        )
        return page, 422
    flash("Your password is set. Sign in with it.", "success")
    return redirect(url_for("pages.login_form"))


def _dead_link(error: DomainError) -> ResponseReturnValue:
    status = 404 if isinstance(error, NotFound) else 410
    return render_template("password_link_dead.html", message=error.message), status
