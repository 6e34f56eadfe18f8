"""Enrolment: a one-time link / QR code exchanged on the phone for a long-lived patient token."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import segno
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from server.errors import Conflict, Gone, NotFound, Unauthorized
from server.models import Clinician, EnrolmentToken, Patient, PatientToken, PushSubscription
from server.services.audit import record_event
from server.services.credentials import new_token, token_digest
from server.services.links import read_checkin_link


@dataclass(frozen=True)
class EnrolmentLink:
    """What the clinician hands the patient: the link, its QR code and when it stops working."""

    token: str
    url: str
    expires_at: datetime
    qr_svg: str


def issue_enrolment(
    session: Session,
    *,
    clinician: Clinician,
    patient: Patient,
    now: datetime,
    base_url: str,
    ttl: timedelta,
) -> EnrolmentLink:
    """A new enrolment link for the patient; earlier unused links stop working."""
    session.execute(
        update(EnrolmentToken)
        .where(
            EnrolmentToken.patient_id == patient.id,
            EnrolmentToken.used_at.is_(None),
            EnrolmentToken.expires_at > now,
        )
        .values(expires_at=now)
    )
    token = new_token()
    expires_at = now + ttl
    session.add(
        EnrolmentToken(
            patient_id=patient.id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=expires_at,
            created_by_id=clinician.id,
        )
    )
    record_event(
        session,
        clinic_id=patient.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="enrolment.issued",
        target=f"patient:{patient.id}",
        at=now,
    )
    session.flush()
    # the token travels in the fragment, so it never reaches server logs or a Referer header
    url = f"{base_url}/enrol#token={token}"
    return EnrolmentLink(token=token, url=url, expires_at=expires_at, qr_svg=qr_svg(url))


def qr_svg(url: str) -> str:
    """An inline SVG QR code of the link, labelled for screen readers."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer,
        kind="svg",
        scale=4,
        xmldecl=False,
        svgns=True,
        title="Enrolment QR code",
        svgclass="qr",
    )
    return buffer.getvalue().decode()


def enrol(session: Session, *, token: str, now: datetime) -> tuple[Patient, str]:
    """Exchange an enrolment token (once) for a new patient token; returns the patient and token."""
    enrolment = session.scalar(
        select(EnrolmentToken).filter_by(token_hash=token_digest(token)).with_for_update()
    )
    if enrolment is None:
        raise NotFound(
            "this enrolment link is not recognised; ask your clinic for a new one", field="token"
        )
    if enrolment.used_at is not None:
        raise Conflict(
            "this enrolment link was already used; ask your clinic for a new one", field="token"
        )
    if enrolment.expires_at <= now:
        raise Gone("this enrolment link has expired; ask your clinic for a new one", field="token")
    # a conditional update, not just the row lock: SQLite has no FOR UPDATE, and two phones
    # opening the same link at once must not both be enrolled
    claimed = session.execute(
        update(EnrolmentToken)
        .where(EnrolmentToken.id == enrolment.id, EnrolmentToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult has rowcount
        raise Conflict(
            "this enrolment link was already used; ask your clinic for a new one", field="token"
        )
    patient_token = new_token()
    session.add(
        PatientToken(
            patient_id=enrolment.patient_id, token_hash=token_digest(patient_token), created_at=now
        )
    )
    record_event(
        session,
        clinic_id=enrolment.patient.clinic_id,
        actor=f"patient:{enrolment.patient_id}",
        action="patient.enrolled",
        target=f"patient:{enrolment.patient_id}",
        at=now,
    )
    session.flush()
    return enrolment.patient, patient_token


def patient_for_token(session: Session, *, token: str, now: datetime) -> Patient:
    """The patient a patient token belongs to, if it has not been revoked."""
    patient_token = session.scalar(_token_statement(), {"token_hash": token_digest(token)})
    if patient_token is None:
        raise Unauthorized("the token is not valid", field="authorization")
    # the patient read with the token: a read after the last use is noted would flush it, and
    # on SQLite a write takes the one write lock for the rest of the request (it goes out with
    # the request's own writes, or at its commit)
    patient = patient_token.patient
    if patient_token.last_used_at is None or now - patient_token.last_used_at > timedelta(
        minutes=1
    ):
        patient_token.last_used_at = now
    return patient


@cache
def _token_statement() -> Select[PatientToken]:
    """A live device token with its patient and their clinic, in one statement: every request
    of a patient's phone reads all three (the clinic for its name, its numbers and the
    advice). Built once, the hash bound at each call: building it cost more than running it."""
    return (
        select(PatientToken)
        .where(
            PatientToken.token_hash == bindparam("token_hash"), PatientToken.revoked_at.is_(None)
        )
        .options(
            joinedload(PatientToken.patient, innerjoin=True).joinedload(
                Patient.clinic, innerjoin=True
            )
        )
    )


def revoke_patient_tokens(
    session: Session, *, clinician: Clinician, patient: Patient, now: datetime
) -> int:
    """Revoke every device token of the patient (a lost phone), and the check-in links sent by
    e-mail or text; returns how many tokens."""
    result = session.execute(
        update(PatientToken)
        .where(PatientToken.patient_id == patient.id, PatientToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    patient.link_version += 1  # links already sent open nothing now
    # the lost phone must stop getting prompts too
    session.execute(
        update(PushSubscription)
        .where(PushSubscription.patient_id == patient.id, PushSubscription.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    record_event(
        session,
        clinic_id=patient.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.tokens_revoked",
        target=f"patient:{patient.id}",
        at=now,
    )
    session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


def patient_for_link(
    session: Session,
    *,
    secret: str,
    token: str,
    now: datetime,
    grace: timedelta = timedelta(0),
) -> tuple[Patient, int]:
    """The patient and the one check-in an e-mailed link opens, while that check-in is open
    (and ``grace`` after: an answer given offline may arrive late)."""
    claims = read_checkin_link(secret, token, now=now, grace=grace)
    patient = session.get(Patient, claims.patient_id)
    if patient is None or patient.link_version != claims.version:  # revoked with the devices
        raise Unauthorized("the link is not valid", field="authorization")
    return patient, claims.checkin_id
