"""Typed builders for tests: each makes a valid object with overridable fields, and flushes.

Also the few lookups tests share: a row count, a treatment's check-in by slot, a recent hour,
a check-in's delivery ledger as a clinician reads it.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, object_session
from werkzeug.test import TestResponse

from server.models import Base, CheckIn, Clinic, Clinician, Patient, Treatment
from server.services.access import issue_api_token, start_session
from server.services.clinics import create_clinic, create_clinician
from server.services.enrolment import enrol, issue_enrolment
from server.services.patients import create_patient
from server.services.treatments import record_treatment

PASSWORD = "correct horse battery"
# a fixed clock for service tests: Tuesday 24 Nov 2026, 17:00 UTC (09:00 in Vancouver)
NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


# --- clinics, patients, treatments -------------------------------------------------------------


def make_clinic(
    session: Session,
    name: str = "Harbour Physio",
    *,
    timezone: str = "America/Vancouver",
    **overrides: Any,
) -> Clinic:
    """A clinic (in Vancouver unless ``timezone=`` says otherwise)."""
    return create_clinic(session, name=name, timezone=timezone, **overrides)


def make_clinician(
    session: Session,
    clinic: Clinic | None = None,
    *,
    email: str | None = None,
    role: str = "clinician",
) -> Clinician:
    """A clinician (of a new clinic unless one is given) with the password PASSWORD."""
    clinic = clinic or make_clinic(session)
    email = email or f"{role}{clinic.id}.{len(clinic.clinicians)}@example.org"
    return create_clinician(session, clinic=clinic, email=email, password=PASSWORD, role=role)


def make_patient(
    session: Session,
    clinician: Clinician,
    *,
    code: str = "P-001",
    timezone: str = "America/Vancouver",
    **overrides: Any,
) -> Patient:
    """A patient of the clinician's clinic; quiet hours 22:00-08:00 unless ``quiet_hours=`` says
    otherwise (``None``: prompted at any hour)."""
    return create_patient(
        session, clinician=clinician, code=code, timezone=timezone, now=NOW, **overrides
    )


def make_treatment(
    session: Session,
    clinician: Clinician,
    patient: Patient,
    *,
    modality: str = "dry_needling",
    treated_at: datetime = NOW,
    now: datetime | None = None,
    **overrides: Any,
) -> Treatment:
    """A treatment recorded at ``now`` (default: its own T0), with its check-ins."""
    return record_treatment(
        session,
        clinician=clinician,
        patient=patient,
        modality=modality,
        treated_at=treated_at,
        now=now or treated_at,
        **overrides,
    )


def make_treated_patient(
    session: Session,
    *,
    code: str = "P-001",
    modality: str = "ims",
    treated_at: datetime = NOW,
    **patient_fields: Any,
) -> Treatment:
    """A patient of the first clinician (made if there is none) treated at ``treated_at``;
    prompted at any hour unless ``quiet_hours=`` is given, without e-mail unless ``email=``."""
    clinician = session.scalar(select(Clinician)) or make_clinician(session)
    patient = make_patient(
        session, clinician, code=code, **({"quiet_hours": None} | patient_fields)
    )
    return make_treatment(session, clinician, patient, modality=modality, treated_at=treated_at)


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


# --- credentials -------------------------------------------------------------------------------


def bearer(session: Session, clinician: Clinician) -> dict[str, str]:
    """Authorization headers with a fresh API token of the clinician (committed)."""
    # issued now, not at NOW: tokens expire, and the tests run on the wall clock's day
    token = issue_api_token(session, clinician=clinician, now=datetime.now(UTC))
    session.commit()
    return {"Authorization": f"Bearer {token}"}


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


# --- push subscriptions, as browsers send them -------------------------------------------------


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


# --- lookups -----------------------------------------------------------------------------------


def checkin_for(treatment: Treatment, slot: str) -> CheckIn:
    """The treatment's check-in of one slot ('6h', '24h', ...)."""
    return next(checkin for checkin in treatment.checkins if checkin.slot == slot)


def delivery_ledger(client: FlaskClient, session: Session, checkin_id: int) -> list[dict[str, Any]]:
    """A check-in's delivery ledger, as a clinician of its clinic reads it through the API."""
    clinician = session.scalar(
        select(Clinician)
        .join(Treatment, Treatment.clinic_id == Clinician.clinic_id)
        .join(CheckIn, CheckIn.treatment_id == Treatment.id)
        .where(CheckIn.id == checkin_id)
        .limit(1)
    )
    assert clinician is not None
    response = client.get(
        f"/api/v1/checkins/{checkin_id}/deliveries", headers=bearer(session, clinician)
    )
    assert response.status_code == 200, response.get_json()
    events: list[dict[str, Any]] = response.get_json()
    return events


def count_rows(session: Session, model: type[Base], *criteria: ColumnElement[bool]) -> int:
    """How many rows of ``model`` the database holds (meeting ``criteria``, if any)."""
    return session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0


def latest_utc(hour: int) -> datetime:
    """The most recent moment (now or earlier) at ``hour``:00 UTC."""
    now = datetime.now(UTC)
    moment = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return moment if moment <= now else moment - timedelta(days=1)


# --- clinician pages ---------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page, as a browser would post it."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in_pages(client: FlaskClient, clinician: Clinician) -> None:
    """Sign the clinician in to the pages (a session and its cookie, without the login form)."""
    session = object_session(clinician)
    assert session is not None
    started = start_session(session, clinician=clinician, now=datetime.now(UTC))
    session.commit()
    with client.session_transaction() as cookie:
        cookie["session_token"] = started.token


def post_form(
    client: FlaskClient, page_url: str, action: str, fields: dict[str, Any]
) -> TestResponse:
    """Open ``page_url``, then post ``fields`` with that page's CSRF token to ``action``."""
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **fields})
