"""A clinic's staff: inviting clinicians, their roles, ending and restoring their access, and
passwords (changed, reset, checked).

An invitation and a reset are one-time links (``account_links``) that set a password; only a
link's SHA-256 is stored. The clinic keeps at least one active admin: the last cannot be
demoted or deactivated. A deactivated clinician's sessions and API tokens end at once; their
treatments and answers stay theirs in the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from server.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from server.models import AccountLink, Clinic, Clinician
from server.services.access import revoke_all
from server.services.audit import record_event
from server.services.contacts import check_phone, clinic_country
from server.services.credentials import hash_password, new_token, token_digest, verify_password
from server.services.mail import Mailer

INVITATION_TTL = timedelta(hours=72)
RESET_TTL = timedelta(hours=1)
# the roles a clinic admin gives; a network admin is made by whoever runs the network
ASSIGNABLE_ROLES = ("clinician", "admin")
ADMIN_ROLES = ("admin", "network_admin")
MIN_PASSWORD, MAX_PASSWORD = 10, 256
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])  # the 30,000 most common
NO_PASSWORD = ""  # an invited clinician's hash until they set one: no password matches it


@dataclass(frozen=True)
class IssuedLink:
    """A one-time link just made: its address is known only here (shown or mailed once)."""

    clinician: Clinician
    purpose: str
    url: str
    expires_at: datetime


def check_password(password: str, *, field: str = "password", hints: tuple[str, ...] = ()) -> str:
    """A password long enough and not among the commonest (nor guessable from ``hints``, such
    as the clinician's e-mail and name); else ``InvalidInput`` saying what to do."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"use at least {MIN_PASSWORD} characters", field=field)
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"use at most {MAX_PASSWORD} characters", field=field)
    if password.lower() in COMMON_PASSWORDS:
        raise InvalidInput("this is one of the most common passwords: choose another", field=field)
    strength = zxcvbn(password, user_inputs=[hint for hint in hints if hint])
    if strength["score"] < 2:
        warning = strength["feedback"]["warning"] or "This password is easy to guess."
        raise InvalidInput(f"{warning} Add another word or two.", field=field)
    return password


def list_staff(session: Session, *, clinician: Clinician) -> list[Clinician]:
    """The clinic's clinicians, active ones first, by name (admins only)."""
    _require_admin(clinician)
    return sorted(
        session.scalars(select(Clinician).filter_by(clinic_id=clinician.clinic_id)),
        key=lambda member: (not member.is_active, (member.name or member.email).lower()),
    )


def active_members(clinic: Clinic) -> list[Clinician]:
    """The clinic's clinicians who may sign in, by name (to choose contacts among)."""
    return sorted(
        (member for member in clinic.clinicians if member.is_active),
        key=lambda member: (member.name or member.email).lower(),
    )


def is_invited(member: Clinician) -> bool:
    """Invited and not yet signed up: no password set."""
    return member.password_hash == NO_PASSWORD


def invite(
    session: Session,
    *,
    admin: Clinician,
    email: str,
    name: str,
    role: str,
    now: datetime,
    base_url: str,
) -> IssuedLink:
    """Add a clinician to the admin's clinic with no password, and the one-time link (72 h)
    that sets it. An address already invited and not signed up gets a fresh link."""
    _require_admin(admin)
    _check_role(role)
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("not an e-mail address", field="email")
    member = session.scalar(select(Clinician).where(func.lower(Clinician.email) == email))
    if member is not None and not (member.clinic_id == admin.clinic_id and is_invited(member)):
        raise Conflict("a clinician with that e-mail already has an account", field="email")
    if member is None:
        member = Clinician(clinic_id=admin.clinic_id, email=email, password_hash=NO_PASSWORD)
        session.add(member)
    member.name, member.role, member.is_active = name.strip()[:200], role, True
    session.flush()
    record_staff_event(session, admin, "clinician.invited", member, now, {"role": role})
    return _issue(session, member, "invitation", now, base_url, created_by=admin)


def change_role(
    session: Session, *, admin: Clinician, member_id: int, role: str, now: datetime
) -> Clinician:
    """Make a clinician of the clinic a clinician or a clinic admin (audited, old and new)."""
    _require_admin(admin)
    _check_role(role)
    member = _member(session, admin, member_id)
    if member.role == "network_admin" and not admin.is_network_admin:
        raise Forbidden("only a network admin can change a network admin's role", field="role")
    if member.role == role:
        return member
    if role not in ADMIN_ROLES:
        _keep_an_admin(session, member, "demoted")
    old, member.role = member.role, role
    record_staff_event(
        session, admin, "clinician.role_changed", member, now, {"old": old, "new": role}
    )
    session.flush()
    return member


def set_active(
    session: Session,
    *,
    admin: Clinician,
    member_id: int,
    active: bool,
    now: datetime,
    keep_session_id: int | None = None,
) -> Clinician:
    """Deactivate a clinician (their sessions and API tokens end at once; what they recorded
    stays theirs) or restore them (they sign in again with their password)."""
    _require_admin(admin)
    member = _member(session, admin, member_id)
    if member.is_active == active:
        return member
    if not active:
        _keep_an_admin(session, member, "deactivated")
        member.is_active = False
        revoke_all(
            session,
            clinician=member,
            now=now,
            keep_session_id=None if member.id != admin.id else keep_session_id,
        )
        _end_links(session, member, now)
    else:
        member.is_active = True
    action = "clinician.reactivated" if active else "clinician.deactivated"
    record_staff_event(session, admin, action, member, now, {"old": not active, "new": active})
    session.flush()
    return member


def change_password(
    session: Session,
    *,
    clinician: Clinician,
    old: str,
    new: str,
    now: datetime,
    keep_session_id: int | None = None,
) -> None:
    """Change one's own password (the old one required); every other session and every API
    token of the clinician ends, in case the old password was known to someone else."""
    if not verify_password(clinician.password_hash, old):
        raise InvalidInput("this is not your current password", field="old_password")
    clinician.password_hash = hash_password(
        check_password(new, field="new_password", hints=_hints(clinician))
    )
    revoke_all(session, clinician=clinician, now=now, keep_session_id=keep_session_id)
    record_staff_event(session, clinician, "clinician.password_changed", clinician, now)
    session.flush()


def request_reset(
    session: Session, *, email: str, now: datetime, base_url: str
) -> IssuedLink | None:
    """A reset link (1 h) for the active clinician with this address; None when there is none
    (the caller answers the same either way, so nobody learns which addresses exist)."""
    member = session.scalar(
        select(Clinician).where(func.lower(Clinician.email) == email.strip().lower())
    )
    if member is None or not member.is_active or is_invited(member):
        return None
    record_staff_event(session, member, "clinician.password_reset_requested", member, now)
    return _issue(session, member, "reset", now, base_url, created_by=None)


def issue_reset(
    session: Session, *, admin: Clinician, member_id: int, now: datetime, base_url: str
) -> IssuedLink:
    """A reset link an admin makes for a clinician of the clinic (to hand over when the server
    cannot e-mail); an invited clinician gets a fresh invitation instead."""
    _require_admin(admin)
    member = _member(session, admin, member_id)
    if not member.is_active:
        raise Conflict("this clinician is deactivated: restore them first", field="is_active")
    purpose = "invitation" if is_invited(member) else "reset"
    record_staff_event(session, admin, f"clinician.{purpose}_link_made", member, now)
    return _issue(session, member, purpose, now, base_url, created_by=admin)


def send_reset(
    session: Session, *, email: str, now: datetime, base_url: str, mailer: Mailer
) -> None:
    """E-mail a reset link if the address has an account (else nothing: the caller answers
    the same either way). Without a mail server nothing can go: an admin makes the link."""
    issued = request_reset(session, email=email, now=now, base_url=base_url)
    if issued is not None:
        mail_link(mailer, issued, clinic_name=issued.clinician.clinic.name)


def link_holder(session: Session, *, token: str, now: datetime) -> AccountLink:
    """The live link of this token, else ``NotFound`` (never was) or ``Gone`` (used, expired,
    replaced, or its clinician deactivated)."""
    link = session.scalar(select(AccountLink).filter_by(token_hash=token_digest(token)))
    if link is None:
        raise NotFound("this link is not valid: ask for a new one", field="token")
    if link.used_at is not None or link.expires_at <= now or not link.clinician.is_active:
        raise Gone("this link has expired or was used: ask for a new one", field="token")
    return link


def use_link(session: Session, *, token: str, password: str, now: datetime) -> Clinician:
    """Set the password through a one-time link; it ends, as do the clinician's sessions and
    API tokens (a reset: someone may have had the old password)."""
    link = link_holder(session, token=token, now=now)
    member = link.clinician
    member.password_hash = hash_password(check_password(password, hints=_hints(member)))
    link.used_at = now
    revoke_all(session, clinician=member, now=now)
    action = "clinician.signed_up" if link.purpose == "invitation" else "clinician.password_reset"
    record_staff_event(session, member, action, member, now)
    session.flush()
    return member


@dataclass(frozen=True)
class HandedLink:
    """A link handed over: e-mailed to its clinician, or (``link``) to be shown this once."""

    clinician: Clinician
    mailed: bool
    link: IssuedLink | None
    why_not_mailed: str | None


def hand_over(issued: IssuedLink, mailer: Mailer) -> HandedLink:
    """E-mail the link if the server can; else it goes back to the admin who made it, once."""
    error = mail_link(mailer, issued, clinic_name=issued.clinician.clinic.name)
    return HandedLink(issued.clinician, error is None, None if error is None else issued, error)


def set_own_phone(
    session: Session, *, clinician: Clinician, phone: str | None, now: datetime
) -> None:
    """One's own mobile, for urgent alerts by text (read in the clinic's country)."""
    clinician.phone = check_phone(phone, country=clinic_country(clinician.clinic))
    record_staff_event(session, clinician, "clinician.phone_changed", clinician, now)
    session.flush()


def mail_link(mailer: Mailer, link: IssuedLink, *, clinic_name: str) -> str | None:
    """E-mail the link to its clinician; None when the mail server took it, else why not
    (the caller then shows it once, to be handed over by other means)."""
    if not mailer.is_configured:
        return "no mail server is set up (SMTP_HOST)"
    if link.purpose == "invitation":
        subject = f"You are invited to {clinic_name}'s check-ins"
        opening = f"You have been given an account at {clinic_name}. Set your password here"
        lasts = "72 hours"
    else:
        subject = "Reset your password"
        opening = "Someone (we hope you) asked to reset your password. Set a new one here"
        lasts = "an hour"
    text = (
        f"{opening} (the link works once, for {lasts}):\n\n{link.url}\n\n"
        "If you did not expect this, ignore this message.\n"
    )
    with mailer.session() as mail:
        return mail.send(to=link.clinician.email, subject=subject, text=text)


def _issue(
    session: Session,
    member: Clinician,
    purpose: str,
    now: datetime,
    base_url: str,
    *,
    created_by: Clinician | None,
) -> IssuedLink:
    """A fresh link of this purpose; any earlier one of the member's stops working."""
    _end_links(session, member, now, purpose=purpose)
    token = new_token()
    ttl = INVITATION_TTL if purpose == "invitation" else RESET_TTL
    session.add(
        AccountLink(
            clinician_id=member.id,
            purpose=purpose,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + ttl,
            created_by_id=created_by.id if created_by else None,
        )
    )
    session.flush()
    return IssuedLink(member, purpose, f"{base_url}/clinic/password/{token}", now + ttl)


def _end_links(
    session: Session, member: Clinician, now: datetime, *, purpose: str | None = None
) -> None:
    live = update(AccountLink).where(
        AccountLink.clinician_id == member.id, AccountLink.used_at.is_(None)
    )
    if purpose is not None:
        live = live.where(AccountLink.purpose == purpose)
    session.execute(live.values(used_at=now))


def _keep_an_admin(session: Session, member: Clinician, what: str) -> None:
    """Refuse to leave the clinic without an active admin who can sign in."""
    if member.role not in ADMIN_ROLES or not member.is_active:
        return
    others = session.scalar(
        select(func.count())
        .select_from(Clinician)
        .where(
            Clinician.clinic_id == member.clinic_id,
            Clinician.id != member.id,
            Clinician.is_active.is_(True),
            Clinician.role.in_(ADMIN_ROLES),
            Clinician.password_hash != NO_PASSWORD,
        )
    )
    if not others:
        raise Conflict(
            f"the clinic's last active admin cannot be {what}: make another clinician an "
            "admin first",
            field="role" if what == "demoted" else "is_active",
        )


def _member(session: Session, admin: Clinician, member_id: int) -> Clinician:
    member = session.scalar(select(Clinician).filter_by(id=member_id, clinic_id=admin.clinic_id))
    if member is None:
        raise NotFound("no such clinician in this clinic")
    return member


def _require_admin(clinician: Clinician) -> None:
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can manage the clinic's staff")


def _check_role(role: str) -> None:
    if role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"must be one of: {', '.join(ASSIGNABLE_ROLES)}", field="role")


def _hints(member: Clinician) -> tuple[str, ...]:
    return (member.email, member.email.split("@")[0], member.name)


def record_staff_event(
    session: Session,
    actor: Clinician,
    action: str,
    member: Clinician,
    now: datetime,
    details: dict[str, object] | None = None,
) -> None:
    """Audit what ``actor`` did to a clinician's account (``member``: theirs or a colleague's)."""
    record_event(
        session,
        clinic_id=member.clinic_id,
        actor=f"clinician:{actor.id}",
        action=action,
        target=f"clinician:{member.id}",
        at=now,
        details=details,
    )
