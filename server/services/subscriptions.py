"""Web Push subscriptions: what a browser's ``PushSubscription.toJSON()`` registers."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.models import Patient, PushSubscription
from server.push import EndpointPolicy


def _b64url_bytes(value: str, field: str, length: int) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("must be base64url", field=field) from None
    if len(raw) != length:
        raise InvalidInput(f"must decode to {length} bytes", field=field)
    return raw


def check_subscription(endpoint: str, p256dh: str, auth: str, *, policy: EndpointPolicy) -> None:
    """Reject an endpoint of no known push service and keys no browser would send."""
    policy.check(endpoint)
    point = _b64url_bytes(p256dh, "keys.p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidInput(
            "must be an uncompressed P-256 public key", field="keys.p256dh"
        ) from None
    _b64url_bytes(auth, "keys.auth", 16)


def subscribe(
    session: Session,
    *,
    patient: Patient,
    endpoint: str,
    p256dh: str,
    auth: str,
    expiration_ms: int | None,
    now: datetime,
    policy: EndpointPolicy,
) -> tuple[PushSubscription, bool]:
    """Register (or refresh) a subscription; returns it and whether a new row was made.

    The same endpoint again updates the existing row: a phone handed to another patient moves
    its subscription to them rather than prompting both.
    """
    check_subscription(endpoint, p256dh, auth, policy=policy)
    try:
        expires_at = (
            None if expiration_ms is None else datetime.fromtimestamp(expiration_ms / 1000, UTC)
        )
    except (OverflowError, OSError, ValueError):
        raise InvalidInput("not a time a browser would send", field="expirationTime") from None
    subscription = session.scalar(select(PushSubscription).filter_by(endpoint=endpoint))
    created = subscription is None
    if subscription is None:
        subscription = PushSubscription(
            endpoint=endpoint, created_at=now, patient_id=patient.id, p256dh=p256dh, auth=auth
        )
        session.add(subscription)
    subscription.patient_id, subscription.p256dh, subscription.auth = patient.id, p256dh, auth
    subscription.expires_at, subscription.disabled_at = expires_at, None
    session.flush()
    return subscription, created


def unsubscribe(session: Session, *, patient: Patient, endpoint: str) -> None:
    """Forget one of the patient's own subscriptions."""
    subscription = session.scalar(
        select(PushSubscription).filter_by(endpoint=endpoint, patient_id=patient.id)
    )
    if subscription is None:
        raise NotFound("no such subscription for this patient", field="endpoint")
    session.delete(subscription)
    session.flush()
