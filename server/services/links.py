"""Signed check-in links for e-mail: they open one check-in, until its window closes, or until
the patient's devices are revoked (the link carries the patient's link version)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from server.errors import Unauthorized

SALT = "checkin-link"
PREFIX = "link."


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
    signed = URLSafeSerializer(secret, salt=SALT).dumps(
        {"c": checkin_id, "p": patient_id, "e": int(expires_at.timestamp()), "v": version}
    )
    return PREFIX + str(signed)


def read_checkin_link(
    secret: str, token: str, *, now: datetime, grace: timedelta = timedelta(0)
) -> LinkClaims:
    """What a live link token names, else ``Unauthorized``. ``grace`` keeps it good that long
    after its check-in closed (to send an answer given offline)."""
    try:
        claims = URLSafeSerializer(secret, salt=SALT).loads(token.removeprefix(PREFIX))
    except BadSignature:
        raise Unauthorized("the link is not valid", field="authorization") from None
    if claims["e"] + grace.total_seconds() <= now.timestamp():
        raise Unauthorized("the link has expired: the check-in has closed", field="authorization")
    # links signed before versions existed name version 0, every patient's first
    return LinkClaims(int(claims["p"]), int(claims["c"]), int(claims.get("v", 0)))
