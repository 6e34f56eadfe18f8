"""Failed sign-ins, counted in the database: the login limit holds across every web process and
machine without another server, and the audit log shows who was guessed at."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from math import ceil

from limits import RateLimitItem
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from server.inputs import UNSTORABLE
from server.models import AuditEvent, Clinician, LoginAttempt


def retry_after(
    session: Session, *, address: str, now: datetime, limits: Sequence[RateLimitItem]
) -> int | None:
    """Seconds until the address may try again, if its failures fill any of the limits (such as
    10 a minute and 50 an hour); None while it may try now."""
    waits = []
    for limit in limits:
        window = timedelta(seconds=limit.get_expiry())
        recent = (
            select(LoginAttempt.at)
            .where(LoginAttempt.address == address, LoginAttempt.at > now - window)
            .order_by(LoginAttempt.at.desc())
            .limit(limit.amount)
            .subquery()
        )
        count, oldest = session.execute(select(func.count(), func.min(recent.c.at))).one()
        if count >= limit.amount:  # the oldest of the last `amount` must leave the window first
            waits.append(max(1, ceil((oldest + window - now).total_seconds())))
    return max(waits) if waits else None


def record_failure(
    engine: Engine, *, address: str, email: str | None, now: datetime, audited: bool = True
) -> None:
    """Keep a failed sign-in, in a transaction of its own: the request's is rolled back with the
    error it answers, and the attempt must count all the same. A failure naming a clinician of a
    clinic goes into that clinic's audit log too (unless ``audited`` is false: a request that
    only draws on the allowance, such as a password-reset request)."""
    # as typed, but storable: a malformed attempt counts too, whatever it held
    email = UNSTORABLE.sub("", email).strip()[:254] or None if email else None
    address = UNSTORABLE.sub("", address)[:56]
    with Session(engine) as session, session.begin():
        session.add(LoginAttempt(at=now, address=address, email=email))
        clinician = (
            session.scalar(select(Clinician).where(func.lower(Clinician.email) == email.lower()))
            if email and audited
            else None
        )
        if clinician is not None:
            session.add(
                AuditEvent(
                    clinic_id=clinician.clinic_id,
                    actor=f"address:{address}",
                    action="clinician.sign_in_failed",
                    target=f"clinician:{clinician.id}",
                    at=now,
                    details={},
                    address=address,
                )
            )
