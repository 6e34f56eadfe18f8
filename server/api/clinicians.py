"""The clinic's staff (admins): invite clinicians, change their roles, end or restore their
access, and make a password-reset link to hand over."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from server.extensions import db
from server.models import Clinician, utcnow
from server.services.mail import Mailer
from server.services.staff import (
    HandedLink,
    change_role,
    hand_over,
    invite,
    issue_reset,
    list_staff,
    set_active,
)

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .clinician_schemas import (
    ClinicianSchema,
    ClinicianUpdateSchema,
    InvitationSchema,
    IssuedLinkSchema,
)

blp = Blueprint(
    "clinicians", __name__, url_prefix="/api/v1/clinicians", description="The clinic's staff"
)


@blp.route("")
class Staff(MethodView):
    """The clinic's clinicians."""

    decorators = [clinician_required]

    @blp.response(200, ClinicianSchema(many=True))
    def get(self) -> list[Clinician]:
        """List the clinic's clinicians, active ones first (clinic admins)."""
        return list_staff(db.session(), clinician=current_clinician())

    @blp.arguments(InvitationSchema)
    @blp.response(201, IssuedLinkSchema)
    def post(self, fields: dict[str, Any]) -> HandedLink:
        """Invite a clinician (clinic admins): a one-time link, valid 72 h, sets their password.
        It is e-mailed when a mail server is set up, else returned here once."""
        issued = invite(
            db.session(),
            admin=current_clinician(),
            now=utcnow(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
            **fields,
        )
        return hand_over(issued, Mailer.from_config(current_app.config))


@blp.route("/<int:clinician_id>")
class StaffMember(MethodView):
    """One clinician of the clinic."""

    decorators = [clinician_required]

    @blp.arguments(ClinicianUpdateSchema)
    @blp.response(200, ClinicianSchema)
    def patch(self, changes: dict[str, Any], clinician_id: int) -> Clinician:
        """Change a clinician's role or end (restore) their access (clinic admins; audited).
        The clinic's last active admin cannot be demoted or deactivated (409)."""
        session, admin, now = db.session(), current_clinician(), utcnow()
        member: Clinician | None = None
        if "role" in changes:
            member = change_role(
                session, admin=admin, member_id=clinician_id, role=changes["role"], now=now
            )
        if "is_active" in changes:
            member = set_active(
                session,
                admin=admin,
                member_id=clinician_id,
                active=changes["is_active"],
                now=now,
            )
        assert member is not None  # noqa: S101 - the schema requires one of them
        return member


@blp.route("/<int:clinician_id>/reset-link")
class ResetLink(MethodView):
    """A password-reset link for a clinician who cannot receive e-mail from the server."""

    decorators = [clinician_required]

    @blp.response(201, IssuedLinkSchema)
    def post(self, clinician_id: int) -> HandedLink:
        """Make a one-time link (1 h) that sets a new password (clinic admins); e-mailed when a
        mail server is set up, else returned here once. An invited clinician gets a fresh
        invitation instead."""
        issued = issue_reset(
            db.session(),
            admin=current_clinician(),
            member_id=clinician_id,
            now=utcnow(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
        )
        return hand_over(issued, Mailer.from_config(current_app.config))
