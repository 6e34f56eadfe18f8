"""Texts through Twilio's Messages REST API (or any provider speaking it): the adapter the
patient and clinician channels share, and what a text costs in segments.

A send is one form-encoded POST with basic auth; the provider answers 201 with the message, or
an error with its own code (21610: the recipient texted STOP). ``SMS_API_BASE`` points the
adapter at another host speaking the same API (a test's local fake, a regional edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests

TWILIO_API = "https://api.twilio.com"
UNSUBSCRIBED = 21610  # Twilio: "Attempt to send to unsubscribed recipient"
# the GSM 03.38 alphabet a text is sent in when it can be: 160 characters to a segment (153
# in each of several); the extension table's characters take two. Any other character makes
# the whole text UCS-2: 70 to a segment (67 in each of several)
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


def segments(text: str) -> int:
    """How many segments (billed messages) a text is sent as."""
    if all(character in GSM_BASIC or character in GSM_EXTENSION for character in text):
        length = len(text) + sum(character in GSM_EXTENSION for character in text)
        single, each = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, each = 70, 67
    return 1 if length <= single else math.ceil(length / each)


@dataclass(frozen=True)
class SmsResult:
    """What the provider said of one text (``status_code`` None: it was not reached)."""

    status_code: int | None
    detail: str
    error_code: int | None = None  # the provider's own code
    retry_after_s: float | None = None
    subscription_id: None = None

    @property
    def is_sent(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def is_gone(self) -> bool:
        """The recipient opted out (texted STOP): no text reaches them until they opt in."""
        return self.error_code == UNSUBSCRIBED

    @property
    def is_retryable(self) -> bool:
        """Too many requests, the provider's own failure, or no answer at all: try later. Any
        other refusal (a bad number, an opt-out) would be refused again."""
        code = self.status_code
        return code is None or code == 429 or code >= 500


@dataclass(frozen=True)
class SmsProvider:
    """Where and as whom to send texts."""

    account_sid: str
    auth_token: str
    sender: str  # a number in E.164, or a Messaging Service's SID (MG…)
    api_base: str = TWILIO_API
    timeout_s: float = 10.0

    @classmethod
    def from_config(cls, config: Any) -> SmsProvider:
        """The provider of an app's configuration (not configured without an account)."""
        return cls(
            account_sid=config["SMS_ACCOUNT_SID"],
            auth_token=config["SMS_AUTH_TOKEN"],
            sender=config["SMS_FROM"],
            api_base=config["SMS_API_BASE"],
        )

    @property
    def is_configured(self) -> bool:
        """Whether there is an account to send through."""
        return bool(self.account_sid and self.auth_token and self.sender)

    def session(self) -> SmsSession:
        """A session for many texts (one kept-alive connection); use it as a context manager."""
        return SmsSession(self)


class SmsSession:
    """One HTTP session to the provider, reused for every text sent through it."""

    def __init__(self, provider: SmsProvider) -> None:
        self._provider = provider
        self._http = requests.Session()
        self._http.auth = (provider.account_sid, provider.auth_token)
        base = provider.api_base.rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{provider.account_sid}/Messages.json"

    def __enter__(self) -> SmsSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def send(self, *, to: str, body: str) -> SmsResult:
        """Send one text; what the provider said of it (never raises for the network)."""
        sender = self._provider.sender
        form = {"To": to, "Body": body}
        form["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        try:
            response = self._http.post(self._url, data=form, timeout=self._provider.timeout_s)
        except requests.RequestException as error:
            return SmsResult(None, f"{type(error).__name__}: {error}"[:300])
        return _result(response)


def _result(response: requests.Response) -> SmsResult:
    """The provider's answer, read as Twilio writes it: the message's SID when accepted, its
    own error code and message otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.ok:
        return SmsResult(response.status_code, f"message {body.get('sid', '')}".strip())
    code = body.get("code")
    message = body.get("message") or response.reason or "refused"
    return SmsResult(
        response.status_code,
        f"{code}: {message}"[:300] if code else str(message)[:300],
        error_code=code if isinstance(code, int) else None,
        retry_after_s=_seconds(response.headers.get("Retry-After")),
    )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:  # an HTTP date: the back-off's own wait applies
        return None
