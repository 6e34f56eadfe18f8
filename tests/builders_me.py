"""Builders for the patient's side: patients prompted at any hour, devices, push keys."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from server.models import CheckIn, Clinician, Patient, Treatment
from server.services.enrolment import enrol, issue_enrolment
from server.services.patients import create_patient
from tests.factories import NOW, make_treatment


def make_patient_any_hour(
    session: Session,
    clinician: Clinician,
    *,
    code: str = "P-001",
    timezone: str = "America/Vancouver",
) -> Patient:
    """A patient without quiet hours, so check-ins open exactly at T0 + offset."""
    return create_patient(
        session, clinician=clinician, code=code, timezone=timezone, now=NOW, quiet_hours=None
    )


def checkin_for(treatment: Treatment, slot: str) -> CheckIn:
    """The treatment's check-in of one slot ('6h', '24h', ...)."""
    return next(checkin for checkin in treatment.checkins if checkin.slot == slot)


def make_open_checkin_now(
    session: Session, clinician: Clinician, patient: Patient, **treatment_fields: Any
) -> CheckIn:
    """A dry-needling '6h' check-in open by the wall clock (T0 was 7 h ago), recorded just now."""
    now = datetime.now(UTC)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        treated_at=now - timedelta(hours=7),
        now=now,
        **treatment_fields,
    )
    return checkin_for(treatment, "6h")


def enrolled_headers(session: Session, clinician: Clinician, patient: Patient) -> dict[str, str]:
    """Authorization headers of a freshly enrolled device of the patient (committed)."""
    now = datetime.now(UTC)
    link = issue_enrolment(
        session,
        clinician=clinician,
        patient=patient,
        now=now,
        base_url="http://testserver",
        ttl=timedelta(hours=72),
    )
    _, patient_token = enrol(session, token=link.token, now=now)
    session.commit()
    return {"Authorization": f"Bearer {patient_token}"}


def b64url(raw: bytes) -> str:
    """Unpadded base64url, as browsers encode subscription keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def p256dh_point() -> bytes:
    """A fresh uncompressed P-256 public key: 65 bytes starting 0x04."""
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def browser_subscription(endpoint: str | None = None) -> dict[str, Any]:
    """What ``PushSubscription.toJSON()`` gives in Chrome: an FCM endpoint and base64url keys."""
    return {
        "endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(24)}",
        "expirationTime": None,
        "keys": {"p256dh": b64url(p256dh_point()), "auth": b64url(secrets.token_bytes(16))},
    }
