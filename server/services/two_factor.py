"""Two-factor sign-in: a time-based code (TOTP, RFC 6238, through pyotp) from an authenticator
app after the password, or a one-time recovery code when the phone is lost.

A secret is stored only once a code made with it has been given back (``enable``). A code is
accepted for the current 30-second step or the one either side (a phone's clock drifts), and
never for a step already used, so a code seen over a shoulder cannot sign in a second time.
Recovery codes are shown once and stored as their SHA-256.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from server.models import Clinician, RecoveryCode
from server.services.audit import record_event
from server.services.credentials import token_digest
from server.services.staff import record_staff_event

ISSUER = "Needling check-ins"
STEP_S = 30
RECOVERY_CODES = 10
# unambiguous letters and digits: a recovery code is typed from paper
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
WRONG_CODE = "the code is not right, or was already used: try the next one your app shows"


@dataclass(frozen=True)
class Provisioning:
    """What an authenticator app is given: the QR code, or the secret typed in."""

    secret: str
    uri: str
    qr_svg: str

    @property
    def grouped(self) -> str:
        """The secret in groups of four, to type."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def new_secret() -> str:
    """A fresh secret (160 bits, base32), not stored until confirmed."""
    return pyotp.random_base32(32)


def provisioning(clinician: Clinician, secret: str) -> Provisioning:
    """The secret as an otpauth:// URI and its QR code (SVG, drawn here: nothing leaves)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=clinician.email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, dark="#1b1b1b", light="#ffffff", title="QR code for your app")
    return Provisioning(secret, uri, svg)


def uses_two_factor(clinician: Clinician) -> bool:
    """Whether signing in asks this clinician for a code."""
    return clinician.totp_secret is not None


def must_set_up(clinician: Clinician) -> bool:
    """Whether the clinic requires two-factor sign-in and this clinician has not set it up."""
    return clinician.clinic.require_two_factor and not uses_two_factor(clinician)


def enable(
    session: Session, *, clinician: Clinician, secret: str, code: str, now: datetime
) -> list[str]:
    """Turn two-factor sign-in on with a secret the clinician's app has (proved by a code made
    with it); returns the recovery codes, shown this once."""
    if uses_two_factor(clinician):
        raise Conflict("two-factor sign-in is already on", field="code")
    step = _matching_step(secret, code, now, after=None)
    if step is None:
        raise InvalidInput(WRONG_CODE, field="code")
    clinician.totp_secret, clinician.totp_last_step = secret, step
    record_staff_event(session, clinician, "clinician.two_factor_enabled", clinician, now)
    return _new_recovery_codes(session, clinician, now)


def check_code(session: Session, *, clinician: Clinician, code: str, now: datetime) -> None:
    """Accept a code from the app or an unused recovery code (which is used up), else
    ``InvalidInput`` on ``code``."""
    secret = clinician.totp_secret
    if secret is None:
        raise Conflict("two-factor sign-in is not on for this account", field="code")
    step = _matching_step(secret, code, now, after=clinician.totp_last_step)
    if step is not None:
        clinician.totp_last_step = step
        return
    digest = token_digest(_normalised(code))
    recovery = session.scalar(
        select(RecoveryCode).filter_by(clinician_id=clinician.id, code_hash=digest, used_at=None)
    )
    if recovery is None:
        raise InvalidInput(WRONG_CODE, field="code")
    recovery.used_at = now
    left = len(_unused(session, clinician))
    record_staff_event(
        session, clinician, "clinician.recovery_code_used", clinician, now, {"left": left}
    )


def second_factor(
    session: Session, *, clinician: Clinician, code: str | None, now: datetime
) -> None:
    """After the password, for a sign-in that cannot show a setup page (an API token): the
    code where the account uses one, ``Unauthorized`` on ``code`` if it is missing or wrong;
    ``Forbidden`` where the clinic requires two-factor sign-in the account has not set up."""
    if must_set_up(clinician):
        raise Forbidden(
            "your clinic requires two-factor sign-in: set it up by signing in to the pages",
            field="code",
        )
    if not uses_two_factor(clinician):
        return
    if not code:
        raise Unauthorized(
            "this account signs in with a code from an authenticator app too: give it as code",
            field="code",
        )
    try:
        check_code(session, clinician=clinician, code=code, now=now)
    except InvalidInput as wrong:
        raise Unauthorized(wrong.message, field="code") from None


def recovery_codes_left(session: Session, *, clinician: Clinician) -> int:
    """How many of the clinician's recovery codes are unused."""
    return len(_unused(session, clinician))


def renew_recovery_codes(
    session: Session, *, clinician: Clinician, code: str, now: datetime
) -> list[str]:
    """Replace the recovery codes (a code from the app proves it is the clinician)."""
    check_code(session, clinician=clinician, code=code, now=now)
    record_staff_event(session, clinician, "clinician.recovery_codes_renewed", clinician, now)
    return _new_recovery_codes(session, clinician, now)


def disable(session: Session, *, clinician: Clinician, code: str, now: datetime) -> None:
    """Turn one's two-factor sign-in off (a code proves it is them); not where the clinic
    requires it."""
    if clinician.clinic.require_two_factor:
        raise Conflict("your clinic requires two-factor sign-in", field="code")
    check_code(session, clinician=clinician, code=code, now=now)
    _clear(session, clinician)
    record_staff_event(session, clinician, "clinician.two_factor_disabled", clinician, now)


def reset_for(session: Session, *, admin: Clinician, member_id: int, now: datetime) -> Clinician:
    """An admin turns a clinician's two-factor sign-in off (a lost phone and no recovery code);
    they set it up again at their next sign-in where the clinic requires it."""
    if not admin.is_admin:
        raise Forbidden("only a clinic admin can reset someone's two-factor sign-in")
    member = session.scalar(select(Clinician).filter_by(id=member_id, clinic_id=admin.clinic_id))
    if member is None:
        raise NotFound("no such clinician in this clinic")
    _clear(session, member)
    record_staff_event(session, admin, "clinician.two_factor_reset", member, now)
    return member


def set_requirement(session: Session, *, admin: Clinician, required: bool, now: datetime) -> None:
    """Require two-factor sign-in of every clinician of the clinic, or not (audited, old and
    new); it is asked at each clinician's next sign-in."""
    if not admin.is_admin:
        raise Forbidden("only a clinic admin can change the clinic's settings")
    clinic = admin.clinic
    if clinic.require_two_factor == required:
        return
    record_event(
        session,
        clinic_id=clinic.id,
        actor=f"clinician:{admin.id}",
        action="clinic.updated",
        target=f"clinic:{clinic.id}",
        at=now,
        details={"field": "require_two_factor", "old": not required, "new": required},
    )
    clinic.require_two_factor = required


def _matching_step(secret: str, code: str, now: datetime, *, after: int | None) -> int | None:
    """The time step (of now and one either side) whose code this is, if not used already."""
    typed = _normalised(code)
    if len(typed) != 6 or not typed.isdigit():
        return None
    totp, current = pyotp.TOTP(secret), int(now.timestamp()) // STEP_S
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.at(step * STEP_S), typed):
            return step
    return None


def _normalised(code: str) -> str:
    return "".join(character for character in code.lower() if character.isalnum())


def _new_recovery_codes(session: Session, clinician: Clinician, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).filter_by(clinician_id=clinician.id))
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)
    ]
    session.add_all(
        RecoveryCode(clinician_id=clinician.id, code_hash=token_digest(code), created_at=now)
        for code in codes
    )
    session.flush()
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def _unused(session: Session, clinician: Clinician) -> list[RecoveryCode]:
    return list(
        session.scalars(select(RecoveryCode).filter_by(clinician_id=clinician.id, used_at=None))
    )


def _clear(session: Session, clinician: Clinician) -> None:
    clinician.totp_secret = clinician.totp_last_step = None
    session.execute(delete(RecoveryCode).filter_by(clinician_id=clinician.id))
    session.flush()
