"""Signed check-in links for e-mail: they open one check-in, until its window closes."""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from server.errors import Unauthorized

SALT = "checkin-link"
PREFIX = "link."


def checkin_link_token(
    secret: str, *, checkin_id: int, patient_id: int, expires_at: datetime
) -> str:
    """A token naming one check-in of one patient, valid until ``expires_at``."""
    signed = URLSafeSerializer(secret, salt=SALT).dumps(
        {"c": checkin_id, "p": patient_id, "e": int(expires_at.timestamp())}
    )
    return PREFIX + str(signed)


def read_checkin_link(
    secret: str, token: str, *, now: datetime, grace: timedelta = timedelta(0)
) -> tuple[int, int]:
    """The (patient id, check-in id) of a live link token, else ``Unauthorized``. ``grace``
    keeps it good that long after its check-in closed (to send an answer given offline)."""
    try:
        claims = URLSafeSerializer(secret, salt=SALT).loads(token.removeprefix(PREFIX))
    except BadSignature:
        raise Unauthorized("the link is not valid", field="authorization") from None
    if claims["e"] + grace.total_seconds() <= now.timestamp():
        raise Unauthorized("the link has expired: the check-in has closed", field="authorization")
    return int(claims["p"]), int(claims["c"])
