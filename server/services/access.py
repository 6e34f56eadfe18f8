"""A clinician's ways in: sessions of the pages and API tokens, each checked on the server on
every request, so that ending one (signing out, revoking a token, ``revoke_all``) takes effect
at once, whoever holds a copy of the cookie or the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from server.errors import NotFound, Unauthorized
from server.models import ApiToken, Clinician, ClinicianSession
from server.services.audit import record_event
from server.services.credentials import new_token, token_digest

DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365
# the last use of a token or session is kept to the minute: a write per request would serialise
# every request on SQLite
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class StartedSession:
    """A new session: its row, and the token for the cookie (shown once, stored hashed)."""

    row: ClinicianSession
    token: str


def start_session(session: Session, *, clinician: Clinician, now: datetime) -> StartedSession:
    """Sign a clinician in to the pages: a new server-side session."""
    token = new_token()
    row = ClinicianSession(
        clinician_id=clinician.id, token_hash=token_digest(token), created_at=now, last_seen_at=now
    )
    session.add(row)
    _audit(session, clinician, "clinician.signed_in", now)
    session.flush()
    return StartedSession(row, token)


def live_session(session: Session, *, token: str, now: datetime) -> ClinicianSession | None:
    """The session a cookie's token names, if it has not ended and its clinician is active."""
    row = session.scalar(
        select(ClinicianSession).filter_by(token_hash=token_digest(token), ended_at=None)
    )
    if row is None or not row.clinician.is_active:
        return None
    if now - row.last_seen_at > LAST_USE_PRECISION:
        row.last_seen_at = now
    return row


def end_session(session: Session, *, row: ClinicianSession, now: datetime) -> None:
    """Sign out: the session ends on the server, so a copied cookie stops working too."""
    row.ended_at = now
    _audit(session, row.clinician, "clinician.signed_out", now)
    session.flush()


def issue_api_token(
    session: Session,
    *,
    clinician: Clinician,
    now: datetime,
    name: str = "",
    days: int = DEFAULT_TOKEN_DAYS,
) -> str:
    """A new bearer token for the clinician, expiring after ``days``; only its hash is kept, so
    it is shown once."""
    token = new_token()
    row = ApiToken(
        clinician_id=clinician.id,
        token_hash=token_digest(token),
        name=name,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    _audit(session, clinician, "api_token.issued", now, target=f"api_token:{row.id}")
    return token


def clinician_for_token(session: Session, *, token: str, now: datetime) -> Clinician:
    """The clinician a bearer token belongs to, if it is live (not revoked, not expired)."""
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_digest(token),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    )
    if row is None or not row.clinician.is_active:
        raise Unauthorized("the token is not valid", field="authorization")
    if row.last_used_at is None or now - row.last_used_at > LAST_USE_PRECISION:
        row.last_used_at = now
    return row.clinician


def list_api_tokens(session: Session, *, clinician: Clinician) -> list[ApiToken]:
    """The clinician's tokens not revoked, newest first (expired ones too, marked by their date)."""
    return list(
        session.scalars(
            select(ApiToken)
            .filter_by(clinician_id=clinician.id, revoked_at=None)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_api_token(
    session: Session, *, clinician: Clinician, token_id: int, now: datetime
) -> ApiToken:
    """Revoke one of the clinician's own tokens; another's, or one revoked, is not found."""
    row = session.scalar(
        select(ApiToken).filter_by(id=token_id, clinician_id=clinician.id, revoked_at=None)
    )
    if row is None:
        raise NotFound("no such token")
    row.revoked_at = now
    _audit(session, clinician, "api_token.revoked", now, target=f"api_token:{row.id}")
    session.flush()
    return row


def revoke_all(
    session: Session,
    *,
    clinician: Clinician,
    now: datetime,
    keep_session_id: int | None = None,
) -> tuple[int, int]:
    """End every session and revoke every API token of the clinician at once (deactivation, a
    password change), keeping ``keep_session_id``, the session that made the change; returns
    (sessions ended, tokens revoked)."""
    sessions = session.execute(
        update(ClinicianSession)
        .where(
            ClinicianSession.clinician_id == clinician.id,
            ClinicianSession.ended_at.is_(None),
            ClinicianSession.id != (keep_session_id or 0),
        )
        .values(ended_at=now)
    )
    tokens = session.execute(
        update(ApiToken)
        .where(ApiToken.clinician_id == clinician.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    ended, revoked = sessions.rowcount, tokens.rowcount  # type: ignore[attr-defined]
    _audit(
        session,
        clinician,
        "clinician.access_revoked",
        now,
        details={"sessions": ended, "api_tokens": revoked},
    )
    session.flush()
    return int(ended), int(revoked)


def _audit(
    session: Session,
    clinician: Clinician,
    action: str,
    now: datetime,
    *,
    target: str | None = None,
    details: dict[str, int] | None = None,
) -> None:
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action=action,
        at=now,
        target=target,
        details=details or {},
    )
