"""Who is calling: bearer tokens for clinicians and patients, and the token endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import current_app, g, request
from flask.views import MethodView

from server.errors import NotFound, Unauthorized
from server.extensions import db
from server.login_limit import count_attempt, login_limited
from server.models import ApiToken, Clinician, Patient, utcnow
from server.services.access import (
    clinician_for_token,
    issue_api_token,
    list_api_tokens,
    revoke_api_token,
)
from server.services.clinics import authenticate
from server.services.enrolment import patient_for_link, patient_for_token
from server.services.links import PREFIX as LINK_PREFIX
from server.services.mail import Mailer
from server.services.staff import change_password, send_reset
from server.services.two_factor import second_factor

from .auth_schemas import ApiTokenSchema, TokenCreateSchema, TokenSchema
from .blueprint import Blueprint
from .clinician_schemas import PasswordChangeSchema, ResetAnswerSchema, ResetRequestSchema

P = ParamSpec("P")
R = TypeVar("R")

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Clinician sign-in")


def bearer_token() -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", field="authorization")
    return token.strip()


def clinician_required(view: Callable[P, R]) -> Callable[P, R]:
    """Let only a clinician with a live API token through; sets ``g.clinician``."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.clinician = clinician_for_token(db.session(), token=bearer_token(), now=utcnow())
        return view(*args, **kwargs)

    return wrapper


def patient_required(view: Callable[P, R]) -> Callable[P, R]:
    """Let only an enrolled patient's device through; sets ``g.patient``."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.patient = patient_for_token(db.session(), token=bearer_token(), now=utcnow())
        return _reads_first(view, *args, **kwargs)

    return wrapper


def patient_or_link_required(view: Callable[P, R]) -> Callable[P, R]:
    """Like ``patient_required``, but an e-mailed check-in link also opens its one check-in
    while it is open; sets ``g.patient`` and ``g.only_checkin_id`` (None for a device token)."""
    return _patient_or_link(view, answering=False)


def patient_or_answer_link_required(view: Callable[P, R]) -> Callable[P, R]:
    """``patient_or_link_required`` for sending an answer: the link stays good for the
    offline grace after its check-in closed, so an answer given in the window on a phone
    without signal is not lost (the answer itself is judged by when it was given)."""
    return _patient_or_link(view, answering=True)


def _patient_or_link(view: Callable[P, R], *, answering: bool) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token, now = bearer_token(), utcnow()
        if token.startswith(LINK_PREFIX):
            config = current_app.config
            grace = timedelta(hours=config["OFFLINE_ANSWER_GRACE_HOURS"] if answering else 0)
            g.patient, g.only_checkin_id = patient_for_link(
                db.session(), secret=config["SECRET_KEY"], token=token, now=now, grace=grace
            )
        else:
            g.patient = patient_for_token(db.session(), token=token, now=now)
            g.only_checkin_id = None
        return _reads_first(view, *args, **kwargs)

    return wrapper


def _reads_first(view: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a patient's view; a GET's reads all go out before the token's last use is written.

    A GET writes nothing but that last use (noted at most once a minute). Autoflushed by the
    view's first query, the UPDATE would take SQLite's one write lock for the rest of the
    request, so every other writer (answers, the worker) would wait on a read; unflushed, it
    goes out at the request's commit, after the reads. Other methods keep autoflush: their own
    writes must be seen by the queries that follow them.
    """
    if request.method in {"GET", "HEAD"}:
        with db.session.no_autoflush:
            return view(*args, **kwargs)
    return view(*args, **kwargs)


def reachable_checkin(checkin_id: int) -> int:
    """The check-in id if this request may touch it; a link opens only its own check-in."""
    only = g.get("only_checkin_id")
    if only is not None and only != checkin_id:
        raise NotFound("no such check-in")
    return checkin_id


def current_clinician() -> Clinician:
    """The clinician of this request (after ``clinician_required``)."""
    clinician: Clinician = g.clinician
    return clinician


def current_patient() -> Patient:
    """The patient of this request (after ``patient_required``)."""
    patient: Patient = g.patient
    return patient


@blp.route("/token")
class Tokens(MethodView):
    """API tokens."""

    @login_limited  # outermost: a malformed attempt counts too
    @blp.doc(security=[])
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, TokenSchema)
    def post(self, credentials: dict[str, Any]) -> dict[str, str]:
        """Exchange a clinician's e-mail and password (and, with two-factor sign-in, the code
        of their authenticator app) for a bearer token."""
        session = db.session()
        clinician = authenticate(
            session, email=credentials["email"], password=credentials["password"]
        )
        second_factor(session, clinician=clinician, code=credentials["code"], now=utcnow())
        token = issue_api_token(
            session,
            clinician=clinician,
            now=utcnow(),
            name=credentials["name"],
            days=credentials["days"],
        )
        return {"token": token}


@blp.route("/tokens")
class TokenList(MethodView):
    """The caller's own API tokens."""

    decorators = [clinician_required]

    @blp.response(200, ApiTokenSchema(many=True))
    def get(self) -> list[ApiToken]:
        """List your tokens not revoked: name, creation, last use, expiry."""
        return list_api_tokens(db.session(), clinician=current_clinician())


@blp.route("/tokens/<int:token_id>")
class TokenById(MethodView):
    """One of the caller's tokens."""

    decorators = [clinician_required]

    @blp.response(204)
    def delete(self, token_id: int) -> None:
        """Revoke one of your tokens; it stops working at once (this one too, if it is)."""
        revoke_api_token(
            db.session(), clinician=current_clinician(), token_id=token_id, now=utcnow()
        )


@blp.route("/password")
class Password(MethodView):
    """The caller's own password."""

    decorators = [clinician_required]

    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    def post(self, fields: dict[str, Any]) -> None:
        """Change your password (the current one required). Every session and API token of
        yours ends, this token too: sign in again with the new password."""
        change_password(
            db.session(),
            clinician=current_clinician(),
            old=fields["old_password"],
            new=fields["new_password"],
            now=utcnow(),
        )


RESET_ANSWER = {
    "message": "If an account has this address, a link to reset its password is on its way. "
    "Without e-mail from this server, ask your clinic admin for a reset link."
}


@blp.route("/password-reset")
class PasswordReset(MethodView):
    """A forgotten password."""

    @login_limited  # every request draws on the sign-in allowance of its address
    @blp.doc(security=[])
    @blp.arguments(ResetRequestSchema)
    @blp.response(202, ResetAnswerSchema)
    def post(self, fields: dict[str, Any]) -> dict[str, str]:
        """Ask for a one-time link (1 h) that sets a new password, e-mailed to the account's
        address. The answer is the same whether or not the address has an account."""
        count_attempt(fields["email"])
        send_reset(
            db.session(),
            email=fields["email"],
            now=utcnow(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
            mailer=Mailer.from_config(current_app.config),
        )
        return RESET_ANSWER
