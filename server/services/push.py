"""Web Push: VAPID signing (cached per push service), aes128gcm payloads, a bounded send pool.

Push endpoints are untrusted input (SSRF): only https endpoints of known push services are
contacted, never a private, loopback or link-local address, unless ``allow_local`` is set for
tests that run their own push service on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from server.config import DEFAULT_PUSH_HOSTS
from server.errors import InvalidInput

MAX_PLAINTEXT = 3993  # RFC 8291: 4096 bytes of record minus header, padding and tag
JWT_LIFETIME_S = 12 * 3600  # well inside the 24 h RFC 8292 allows
JWT_RENEW_BEFORE_S = 3600


class UnsafeEndpoint(InvalidInput):
    """A push endpoint this service refuses to contact."""


@dataclass(frozen=True)
class EndpointPolicy:
    """Which push endpoints may be contacted."""

    allowed_hosts: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    allow_local: bool = False

    def check(self, endpoint: str) -> None:
        """Raise ``UnsafeEndpoint`` unless the endpoint may be contacted. The addresses a host
        resolves to are checked when connecting, by ``PublicOnlyResolver``."""
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        if self.allow_local:
            if parts.scheme not in ("https", "http") or not host:
                raise UnsafeEndpoint("must be an absolute http(s) URL", field="endpoint")
            return
        if parts.scheme != "https" or not host:
            raise UnsafeEndpoint("must be an absolute https URL", field="endpoint")
        if not any(
            host == allowed or (allowed.startswith(".") and host.endswith(allowed))
            for allowed in self.allowed_hosts
        ):
            raise UnsafeEndpoint("not a known push service", field="endpoint")


def endpoint_policy(config: Mapping[str, Any]) -> EndpointPolicy:
    """The endpoint policy of an app's configuration."""
    return EndpointPolicy(tuple(config["PUSH_ALLOWED_HOSTS"]), bool(config["PUSH_ALLOW_LOCAL"]))


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


class PublicOnlyResolver(AbstractResolver):
    """Resolves host names and refuses any answer that is not a public address, so a push
    service's name cannot be pointed at this network (checked on the address actually used)."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve, then drop the connection attempt if any address is private or local."""
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            if not ipaddress.ip_address(answer["host"]).is_global:
                reason = f"{host} resolves to a non-public address {answer['host']}"
                raise OSError(errno.EACCES, reason)
        return answers

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


class PushSender:
    """Sends notifications concurrently (at most ``pool_size`` at once); one per worker process.

    Requests run on an asyncio loop in a thread of their own (aiohttp), so a slow push service
    holds a connection slot, not a thread. The VAPID JWT is signed once per push-service origin
    and reused for its lifetime instead of being signed for every message.
    """

    def __init__(
        self,
        *,
        private_pem: str,
        subject: str,
        policy: EndpointPolicy,
        pool_size: int = 64,
        timeout_s: float = 10.0,
    ) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("VAPID subject must be a mailto: or https: URL")
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self._vapid = Vapid02(private_key=key)
        self._subject = subject
        self._policy = policy
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._jwt: dict[str, tuple[str, float]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="push", daemon=True)
        self._thread.start()
        self._http = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        self.signatures = 0  # how many JWTs were signed (the cache's effect, for tests and bench)

    async def _open(self) -> aiohttp.ClientSession:
        return open_http(self._policy, pool_size=self._pool_size, timeout_s=self._timeout_s)

    def close(self) -> None:
        """Finish what is in flight and release connections and the loop."""
        asyncio.run_coroutine_threadsafe(self._http.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def authorization(self, endpoint: str) -> str:
        """The VAPID Authorization header for this endpoint's origin (cached until near expiry).

        Called on the sender's loop only, so the cache needs no lock."""
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._jwt.get(origin)
        if cached and cached[1] - now > JWT_RENEW_BEFORE_S:
            return cached[0]
        expires = int(now) + JWT_LIFETIME_S
        header = str(
            self._vapid.sign({"aud": origin, "exp": expires, "sub": self._subject})["Authorization"]
        )
        self._jwt[origin] = (header, expires)
        self.signatures += 1
        return header

    def send_all(self, jobs: Iterable[tuple[Target, Notification]]) -> list[PushResult]:
        """Send many at once; results in the order of the jobs."""
        return asyncio.run_coroutine_threadsafe(self._send_all(list(jobs)), self._loop).result()

    async def _send_all(self, jobs: list[tuple[Target, Notification]]) -> list[PushResult]:
        return list(await asyncio.gather(*(self._send(target, note) for target, note in jobs)))

    async def _send(self, target: Target, notification: Notification) -> PushResult:
        """Encrypt and post one message; never raises for what a push service does."""
        try:
            self._policy.check(target.endpoint)
        except UnsafeEndpoint as error:
            return PushResult(
                target.subscription_id, None, f"refused: {error.message}", refused=True
            )
        subscription = {
            "endpoint": target.endpoint,
            "keys": {"p256dh": target.p256dh, "auth": target.auth},
        }
        try:
            body = WebPusher(subscription).encode(notification.payload(), "aes128gcm")["body"]
        except (ValueError, WebPushException) as error:  # a broken key: never fail the batch
            return PushResult(
                target.subscription_id, None, f"refused: cannot encrypt: {error}", refused=True
            )
        headers = push_headers(notification, self.authorization(target.endpoint))
        return await post_encrypted(self._http, target, body, headers)


def open_http(policy: EndpointPolicy, *, pool_size: int, timeout_s: float) -> aiohttp.ClientSession:
    """The HTTP client pushes go through: at most ``pool_size`` connections, only public
    addresses (unless the policy allows local ones), no cookies. Open it on the loop using it."""
    resolver = None if policy.allow_local else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(limit=pool_size, resolver=resolver, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),  # a push service has no business setting cookies
    )


def push_headers(notification: Notification, authorization: str) -> dict[str, str]:
    """The headers of one encrypted push message (RFC 8030, 8188, 8292)."""
    return {
        "Authorization": authorization,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(max(0, notification.ttl_s)),
        "Urgency": notification.urgency,
        "Topic": notification.topic,
    }


async def post_encrypted(
    http: aiohttp.ClientSession, target: Target, body: bytes, headers: dict[str, str]
) -> PushResult:
    """Post one encrypted message and read the push service's answer; never raises for it."""
    try:
        async with http.post(
            target.endpoint, data=body, headers=headers, allow_redirects=False
        ) as response:
            detail = (await response.text())[:200]
            return PushResult(
                target.subscription_id,
                response.status,
                detail,
                _retry_after(response.headers.get("Retry-After")),
            )
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return PushResult(
            target.subscription_id, None, f"no answer: {type(error).__name__}: {error}"[:200]
        )


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from either of its two forms."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
