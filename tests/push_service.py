"""A real Web Push service on 127.0.0.1 for tests: it decrypts every message (RFC 8291,
aes128gcm) with the subscription's private key, checks the VAPID JWT, and answers as told."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """One message the push service accepted for decryption (whatever it answered)."""

    subscription: str
    headers: dict[str, str]
    payload: dict[str, Any]
    plaintext_size: int
    jwt_claims: dict[str, Any]
    answered: int
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic())


@dataclass
class Subscriber:
    """A browser's side of one subscription: its keys, as a test made them."""

    name: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    def to_json(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` would give."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }


@dataclass
class PushService:
    """The service's state: subscribers, scripted answers, what arrived."""

    base_url: str = ""
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    scripts: dict[str, deque[tuple[int, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    received: list[Received] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # while set, every message is answered with this status (an outage), whatever the scripts
    outage_status: int | None = None
    in_flight: int = 0  # requests being answered now
    most_in_flight: int = 0  # the most ever answered at once

    def subscribe(self, name: str | None = None) -> Subscriber:
        """A new browser subscription at this service."""
        name = name or secrets.token_hex(6)
        subscriber = Subscriber(
            name,
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
            f"{self.base_url}/push/{name}",
        )
        self.subscribers[name] = subscriber
        return subscriber

    def answer(self, subscriber: Subscriber, *statuses: int, **headers: str) -> None:
        """Answer the next messages to this subscriber with these statuses (then 201)."""
        for status in statuses:
            self.scripts[subscriber.name].append((status, dict(headers)))

    def for_subscriber(self, subscriber: Subscriber) -> list[Received]:
        """What arrived for one subscriber, oldest first."""
        return [message for message in self.received if message.subscription == subscriber.name]


def verify_vapid(authorization: str, audience: str) -> dict[str, Any]:
    """Check the 'vapid t=<JWT>,k=<key>' header as a push service does (RFC 8292)."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(part.split("=", 1) for part in params.split(","))
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    raw = unb64url(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    key.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    assert claims["aud"] == audience, claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert claims["sub"].startswith(("mailto:", "https://")), claims
    return claims


def _handler(service: PushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with service.lock:
                service.in_flight += 1
                service.most_in_flight = max(service.most_in_flight, service.in_flight)
            try:
                self._answer(name, body)
            finally:
                with service.lock:
                    service.in_flight -= 1

        def _answer(self, name: str, body: bytes) -> None:
            if service.delay_s:
                time.sleep(service.delay_s)
            subscriber = service.subscribers.get(name)
            with service.lock:
                script = service.scripts[name]
                extra: dict[str, str]
                if service.outage_status is not None:  # the scripts wait for the outage's end
                    status, extra = service.outage_status, {}
                else:
                    status, extra = script.popleft() if script else (201, {})
            if subscriber is None:
                status, extra = 404, {}
            else:
                try:
                    claims = verify_vapid(self.headers["Authorization"], service.base_url)
                    plaintext = http_ece.decrypt(
                        body,
                        private_key=subscriber.private_key,
                        auth_secret=subscriber.auth,
                        version="aes128gcm",
                    )
                except (AssertionError, InvalidSignature, ValueError, KeyError) as error:
                    status, extra, claims, plaintext = 400, {}, {"error": str(error)}, b"{}"
                with service.lock:
                    service.received.append(
                        Received(
                            name,
                            dict(self.headers),
                            json.loads(plaintext),
                            len(plaintext),
                            claims,
                            status,
                        )
                    )
            self.send_response(status)
            for header, value in extra.items():
                self.send_header(header.replace("_", "-"), value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests read service.received

    return Handler


class _Server(ThreadingHTTPServer):
    # each message comes on a connection of its own (HTTP/1.0) and a sender opens up to its
    # pool's size at once: socketserver's backlog of 5 dropped the rest's SYNs on a busy
    # machine, and the retransmission a second later outlasted the tests' 1 s timeout
    request_queue_size = 256


def start(service: PushService) -> ThreadingHTTPServer:
    """Serve on an ephemeral port of 127.0.0.1 in a daemon thread."""
    server = _Server(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
