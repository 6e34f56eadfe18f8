"""Signed check-in links for e-mail and texts: they open one check-in, until its window closes,
or until the patient's devices are revoked (the link carries the patient's link version).

A token is short enough for a text to keep its link in one segment: ``link.`` then the
check-in, the patient, the expiry and the version in base 36, and 96 bits of an HMAC-SHA256
over them. Tokens of the earlier, longer form (a signed JSON object) are still read: links
already in inboxes keep working until their check-ins close.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from server.errors import Unauthorized

SALT = "checkin-link"
PREFIX = "link."
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
SIGNATURE_BYTES = 12


@dataclass(frozen=True)
class LinkClaims:
    """What a link names: the check-in, its patient and the patient's link version then."""

    patient_id: int
    checkin_id: int
    version: int


def checkin_link_token(
    secret: str, *, checkin_id: int, patient_id: int, expires_at: datetime, version: int
) -> str:
    """A token naming one check-in of one patient, valid until ``expires_at``."""
    fields = [checkin_id, patient_id, int(expires_at.timestamp()), version]
    body = ".".join(_base36(number) for number in fields)
    return f"{PREFIX}{body}.{_signature(secret, body)}"


def checkin_url(
    base_url: str,
    secret: str,
    *,
    checkin_id: int,
    patient_id: int,
    expires_at: datetime,
    version: int,
) -> str:
    """The check-in's address with its token (in the fragment: it stays out of servers' logs)."""
    token = checkin_link_token(
        secret,
        checkin_id=checkin_id,
        patient_id=patient_id,
        expires_at=expires_at,
        version=version,
    )
    return f"{base_url}/checkin/{checkin_id}#link={token}"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = DIGITS[digit] + digits
        if not number:
            return digits


def _signature(secret: str, body: str) -> str:
    key = hashlib.sha256(f"{SALT}:{secret}".encode()).digest()
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _claims(secret: str, token: str) -> dict[str, int]:
    """The fields a token signs, else ``BadSignature``."""
    parts = token.removeprefix(PREFIX).split(".")
    if len(parts) != 5:  # the earlier form: a signed JSON object
        claims: dict[str, int] = URLSafeSerializer(secret, salt=SALT).loads(".".join(parts))
        return claims
    *fields, signature = parts
    if not hmac.compare_digest(_signature(secret, ".".join(fields)), signature):
        raise BadSignature("the signature does not match")
    try:
        numbers = [int(field, 36) for field in fields]
    except ValueError:
        raise BadSignature("not a number") from None
    return dict(zip("cpev", numbers, strict=True))


def read_checkin_link(
    secret: str, token: str, *, now: datetime, grace: timedelta = timedelta(0)
) -> LinkClaims:
    """What a live link token names, else ``Unauthorized``. ``grace`` keeps it good that long
    after its check-in closed (to send an answer given offline)."""
    try:
        claims = _claims(secret, token)
    except BadSignature:
        raise Unauthorized("the link is not valid", field="authorization") from None
    if claims["e"] + grace.total_seconds() <= now.timestamp():
        raise Unauthorized("the link has expired: the check-in has closed", field="authorization")
    # links signed before versions existed name version 0, every patient's first
    return LinkClaims(int(claims["p"]), int(claims["c"]), int(claims.get("v", 0)))
