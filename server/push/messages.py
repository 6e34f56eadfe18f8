"""What one Web Push message is: its target, its content, what the push service said."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_PLAINTEXT = 3993  # RFC 8291: 4096 bytes of record minus header, padding and tag


@dataclass(frozen=True)
class Target:
    """One subscription to push to."""

    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Notification:
    """What a push carries: no health data, only where to fetch the check-in."""

    checkin_id: int
    title: str
    body: str
    url: str
    ttl_s: int
    urgency: str  # high for a prompt, low for a reminder

    def payload(self) -> bytes:
        """The JSON the service worker receives (tag = the check-in, so repeats replace)."""
        content = json.dumps(
            {
                "title": self.title,
                "body": self.body,
                "url": self.url,
                "tag": f"checkin-{self.checkin_id}",
                "checkin_id": self.checkin_id,
            },
            separators=(",", ":"),
        ).encode()
        if len(content) > MAX_PLAINTEXT:
            raise ValueError(f"push payload of {len(content)} bytes exceeds {MAX_PLAINTEXT}")
        return content

    @property
    def topic(self) -> str:
        """The Topic header: a reminder replaces an undelivered prompt of the same check-in."""
        return f"checkin-{self.checkin_id}"


@dataclass(frozen=True)
class PushResult:
    """What one push service said about one message (status None: no answer at all)."""

    subscription_id: int
    status_code: int | None
    detail: str = ""
    retry_after_s: float | None = None
    refused: bool = False  # this service would not contact the endpoint: no retry can help

    @property
    def is_sent(self) -> bool:
        """Accepted by the push service."""
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def is_gone(self) -> bool:
        """The subscription no longer exists: never send to it again."""
        return self.status_code in (404, 410)

    @property
    def is_retryable(self) -> bool:
        """Worth another try later: rate limited, a server error, or no answer."""
        if self.refused:
            return False
        return self.status_code is None or self.status_code == 429 or self.status_code >= 500


def public_key_b64(private_pem: str) -> str:
    """The VAPID public key as browsers take it (applicationServerKey): base64url, unpadded."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101 - config makes P-256 keys
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Post:
    """One encrypted message, ready to go."""

    target: Target
    body: bytes
    headers: tuple[str, ...]


def push_headers(notification: Notification, authorization: str) -> tuple[str, ...]:
    """The header lines of one encrypted push message (RFC 8030, 8188, 8292)."""
    return (
        f"Authorization: {authorization}",
        "Content-Encoding: aes128gcm",
        "Content-Type: application/octet-stream",
        f"TTL: {max(0, notification.ttl_s)}",
        f"Urgency: {notification.urgency}",
        f"Topic: {notification.topic}",
    )
