"""Clinics, clinicians and their API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound, Unauthorized
from server.models import ApiToken, Clinic, Clinician
from server.models.clinics import CLINICIAN_ROLES
from server.services.audit import record_event
from server.services.credentials import hash_password, new_token, token_digest, verify_password


def create_clinic(session: Session, *, name: str, emergency_number: str = "911") -> Clinic:
    """A new clinic; names are unique."""
    if session.scalar(select(Clinic).filter_by(name=name)) is not None:
        raise Conflict("a clinic with that name exists", field="name")
    clinic = Clinic(name=name, emergency_number=emergency_number)
    session.add(clinic)
    session.flush()
    return clinic


def create_clinician(
    session: Session,
    *,
    clinic: Clinic,
    email: str,
    password: str,
    role: str = "clinician",
    name: str = "",
) -> Clinician:
    """A new clinician of the clinic; e-mail addresses are unique across clinics."""
    email = email.strip().lower()
    if role not in CLINICIAN_ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(CLINICIAN_ROLES)}", field="role")
    if "@" not in email:
        raise InvalidInput("not an e-mail address", field="email")
    if len(password) < 10:
        raise InvalidInput("use at least 10 characters", field="password")
    if session.scalar(select(Clinician).filter_by(email=email)) is not None:
        raise Conflict("a clinician with that e-mail exists", field="email")
    clinician = Clinician(
        clinic=clinic, email=email, password_hash=hash_password(password), role=role, name=name
    )
    session.add(clinician)
    session.flush()
    return clinician


def authenticate(session: Session, *, email: str, password: str) -> Clinician:
    """The active clinician with these credentials, else ``Unauthorized`` (never says which)."""
    clinician = session.scalar(
        select(Clinician).where(func.lower(Clinician.email) == email.strip().lower())
    )
    known = clinician is not None and clinician.is_active
    if not verify_password(clinician.password_hash if known and clinician else None, password):
        raise Unauthorized("wrong e-mail or password")
    assert clinician is not None  # noqa: S101 - verify_password fails without a hash
    return clinician


def issue_api_token(session: Session, *, clinician: Clinician, now: datetime) -> str:
    """A new bearer token for the clinician; only its hash is kept, so it is shown once."""
    token = new_token()
    session.add(ApiToken(clinician_id=clinician.id, token_hash=token_digest(token), created_at=now))
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="api_token.issued",
        at=now,
    )
    session.flush()
    return token


def clinician_for_token(session: Session, *, token: str, now: datetime) -> Clinician:
    """The clinician a bearer token belongs to, if it is live."""
    api_token = session.scalar(
        select(ApiToken).filter_by(token_hash=token_digest(token), revoked_at=None)
    )
    if api_token is None or not api_token.clinician.is_active:
        raise Unauthorized("the token is not valid", field="authorization")
    # a write per request would serialise every API call on SQLite: a minute's precision will do
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        api_token.last_used_at = now
    return api_token.clinician


def clinician_by_email(session: Session, *, email: str) -> Clinician:
    """Find a clinician by e-mail (CLI use)."""
    clinician = session.scalar(select(Clinician).filter_by(email=email.strip().lower()))
    if clinician is None:
        raise NotFound("no clinician with that e-mail", field="email")
    return clinician
