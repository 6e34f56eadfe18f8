"""Sending Web Push messages: VAPID signing (cached per push service), aes128gcm payloads, and
libcurl's multi interface for many transfers at once. No database here."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import pycurl
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from .messages import Notification, Post, PushResult, Target, push_headers
from .policy import EndpointPolicy, UnsafeEndpoint, is_public, public_addresses

JWT_LIFETIME_S = 12 * 3600  # well inside the 24 h RFC 8292 allows
JWT_RENEW_BEFORE_S = 3600
SCHEME_AND_AUTHORITY = re.compile(r"[^:/?#]+://[^/?#]*")  # as written: not normalised
RESOLVE_TTL_S = 300.0  # how long a push service's checked addresses are reused
RESOLVE_FAILURE_TTL_S = 30.0  # how long a failed lookup stands before it is tried again
PERFORM_EVERY = 8  # transfers started between two nudges of those in flight
ENCRYPT_CHUNK = 16  # messages the encryption thread encrypts at a time
ENCRYPT_AHEAD = 8  # chunks it may be ahead of the transfers
ENCRYPT_WAIT_S = 0.002  # how long the transfers wait for a chunk before taking answers again


class _NotYet:
    """Drawn from the stream while its next message is still being encrypted."""


NOT_YET = _NotYet()

# a batch submitted, not yet drawn into the stream: its jobs, the policy's refusals, its future
_Pending = tuple[list[tuple[Target, Notification]], dict[str, str], Future[list[PushResult]]]


@dataclass
class _Drawn:
    """A submitted batch being sent: its future, where it starts in the stream, its answers."""

    future: Future[list[PushResult]]
    first: int
    results: list[PushResult | None]
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = len(self.results)

    def answer(self, index: int, result: PushResult) -> bool:
        """Note one message's result; whether that was the batch's last (its future is then
        answered)."""
        self.results[index - self.first] = result
        self.left -= 1
        if self.left == 0:
            self.future.set_result(cast(list[PushResult], self.results))
        return self.left == 0


class _Stream:
    """The messages of the batches submitted, in the order they go out, for ``_transfer``.

    Batches are drawn from the sender's queue as the stream reaches them and handed to the
    encryption thread in chunks, at most ``ENCRYPT_AHEAD`` ahead of the transfers. Iterating
    yields each encrypted ``Post`` (or a ``PushResult`` for a message that will not be sent),
    ``NOT_YET`` while the next chunk is still being encrypted (the transfers take their answers
    meanwhile), and None when no batch is waiting (the transfer ends once nothing is in
    flight). ``answered`` routes each message's result to its batch's future.
    """

    def __init__(
        self,
        take: Callable[[], _Pending | None],
        encrypt: Callable[
            [list[tuple[Target, Notification]], dict[str, str]], Future[list[Post | PushResult]]
        ],
    ) -> None:
        self._take, self._encrypt = take, encrypt
        self.drawn: list[_Drawn] = []  # batches drawn into the stream, not all answered yet
        self._count = 0  # messages drawn so far
        # chunks of the batches drawn, not yet handed to the encryption thread, in order
        self._chunks: deque[tuple[list[tuple[Target, Notification]], dict[str, str]]] = deque()
        self._ahead: deque[Future[list[Post | PushResult]]] = deque()  # being encrypted
        self._ready: deque[Post | PushResult] = deque()  # encrypted, not yet drawn

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Post | PushResult | _NotYet | None:
        if self._ready:
            return self._ready.popleft()
        while len(self._ahead) < ENCRYPT_AHEAD and self._next_chunk():
            pass
        if not self._ahead:
            return None  # nothing submitted: the stream ends once nothing is in flight
        if self._ahead[0].done() or wait([self._ahead[0]], ENCRYPT_WAIT_S).done:
            self._ready.extend(self._ahead.popleft().result())
            return next(self)
        return NOT_YET  # take the answers that came meanwhile

    def _next_chunk(self) -> bool:
        """Hand the next chunk of the batches submitted to the encryption thread; False when
        no batch is waiting now."""
        while not self._chunks:
            batch = self._take()
            if batch is None:
                return False
            self._draw(*batch)
        self._ahead.append(self._encrypt(*self._chunks.popleft()))
        return True

    def _draw(
        self,
        jobs: list[tuple[Target, Notification]],
        refusals: dict[str, str],
        future: Future[list[PushResult]],
    ) -> None:
        """Take one batch into the stream: its messages, in chunks to encrypt."""
        if not future.set_running_or_notify_cancel():
            return  # cancelled before it was started
        if not jobs:
            future.set_result([])
            return
        self.drawn.append(_Drawn(future, self._count, [None] * len(jobs)))
        self._count += len(jobs)
        for start in range(0, len(jobs), ENCRYPT_CHUNK):
            self._chunks.append((jobs[start : start + ENCRYPT_CHUNK], refusals))

    def answered(self, index: int, result: PushResult) -> None:
        """One message's result, by its place in the stream: to its batch."""
        batch = next(batch for batch in reversed(self.drawn) if batch.first <= index)
        if batch.answer(index, result):
            self.drawn.remove(batch)


class _Transfer:
    """What one request in flight keeps: its handle, its place in the batch, what came back."""

    __slots__ = ("body", "handle", "index", "target")

    def __init__(self, handle: pycurl.Curl, index: int, target: Target) -> None:
        self.handle, self.index, self.target = handle, index, target
        self.body = bytearray()

    def write(self, chunk: bytes) -> None:
        if len(self.body) < DETAIL_BYTES:
            self.body += chunk[: DETAIL_BYTES - len(self.body)]


DETAIL_BYTES = 200
USER_AGENT = "needling-recovery-push/1"  # names this sender in push services' logs


class PushSender:
    """Sends notifications concurrently (at most ``pool_size`` at once); one per worker process.

    The transfers run in libcurl's multi interface (pycurl) on the sender's thread: connections
    are kept alive and reused per push service, and the HTTP work is done in C without the GIL
    (no header callback: libcurl reads Retry-After itself). Messages are encrypted on a thread
    of their own, a few chunks ahead of the transfers, so the encryption's Python and the
    transfers overlap, as do the ECDH (cryptography releases the GIL for it) and the database
    work of the caller. The VAPID JWT is signed once per push-service origin and reused for its
    lifetime instead of being signed for every message.

    Unless the policy allows local endpoints, a push service's host is resolved here, refused
    if any address is not public, and libcurl is pinned to the addresses checked; a socket to
    any other address is refused when libcurl opens it (so no redirect, proxy or DNS answer can
    reach this network).
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
        self._jwt: dict[str, tuple[str, float]] = {}
        # (host, port) -> libcurl's RESOLVE entry or why not, and until when it stands
        self._resolved: dict[tuple[str, int], tuple[str | OSError, float]] = {}
        self._lock = threading.Lock()  # one stream of posts at a time through the handles
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push")
        self._encryptor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-encrypt")
        self._signing = threading.Lock()  # one signature per origin, whichever thread asks
        # batches submitted and not yet drawn into the stream, and the pass that draws them
        self._pending: deque[_Pending] = deque()
        self._pending_lock = threading.Lock()
        self._serving: Future[None] | None = None
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, pool_size)
        self._multi.setopt(pycurl.M_MAXCONNECTS, pool_size)
        self._idle = [self._handle(timeout_s) for _ in range(pool_size)]
        self._handles = list(self._idle)
        self.signatures = 0  # how many JWTs were signed (the cache's effect, for tests and bench)

    def _handle(self, timeout_s: float) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.PROXY, "")  # never through a proxy from the environment
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.USERAGENT, USER_AGENT)
        handle.setopt(pycurl.TIMEOUT_MS, int(timeout_s * 1000))
        allowed = pycurl.PROTO_HTTPS | (pycurl.PROTO_HTTP if self._policy.allow_local else 0)
        handle.setopt(pycurl.PROTOCOLS, allowed)
        if not self._policy.allow_local:
            handle.setopt(pycurl.OPENSOCKETFUNCTION, _public_socket)
        return handle

    def close(self) -> None:
        """Finish what is in flight; release connections and handles."""
        self.wait()
        self._thread.shutdown(wait=True)
        self._encryptor.shutdown(wait=True)
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._multi.close()

    def authorization(self, endpoint: str) -> str:
        """The VAPID Authorization header for this endpoint's origin (cached until near expiry)."""
        # the cache is keyed by the endpoint's scheme and authority as written (a match and a
        # lookup, where splitting every distinct endpoint would take longer); the policy admits
        # no character that would make them differ from those urlsplit finds for the audience
        opening = SCHEME_AND_AUTHORITY.match(endpoint)
        key = opening.group() if opening else endpoint
        now = time.time()
        cached = self._jwt.get(key)
        if cached and cached[1] - now > JWT_RENEW_BEFORE_S:
            return cached[0]
        with self._signing:
            cached = self._jwt.get(key)
            if cached and cached[1] - now > JWT_RENEW_BEFORE_S:  # signed while we waited
                return cached[0]
            parts = urlsplit(endpoint)
            expires = int(now) + JWT_LIFETIME_S
            audience = f"{parts.scheme}://{parts.netloc}"
            claims = {"aud": audience, "exp": expires, "sub": self._subject}
            header = str(self._vapid.sign(claims)["Authorization"])
            self._jwt[key] = (header, expires)
            self.signatures += 1
        return header

    def send_all(self, jobs: Iterable[tuple[Target, Notification]]) -> list[PushResult]:
        """Encrypt and send many at once; results in the order of the jobs. Never raises for
        what a push service does (or for an endpoint or key it refuses)."""
        return self.submit(jobs).result()

    def submit(self, jobs: Iterable[tuple[Target, Notification]]) -> Future[list[PushResult]]:
        """``send_all`` on the sender's own thread: the caller goes on (with the database, say)
        while the messages are encrypted and sent. Batches submitted while one is being sent
        join the same stream: the next batch's first messages go out while the last ones of
        this batch wait for their answers, so no batch ends in a pause."""
        jobs = list(jobs)
        # the policy's check and the hosts' lookups happen here, on the caller's thread: a slow
        # lookup then stalls no transfer in flight on the sender's
        refusals = self._refusals(target.endpoint for target, _ in jobs)
        self._resolve_all({target.endpoint for target, _ in jobs} - refusals.keys())
        future: Future[list[PushResult]] = Future()
        with self._pending_lock:
            self._pending.append((jobs, refusals, future))
            if self._serving is None:
                self._serving = self._thread.submit(self._serve)
        return future

    def wait(self) -> None:
        """Until every batch submitted is done (whatever came of it)."""
        while (serving := self._serving) is not None:  # a pass may hand on to another
            wait([serving])

    def _serve(self) -> None:
        """The sender thread: send the batches submitted, one stream through the handles,
        until none is left; each batch's future is answered as soon as all its messages are."""
        stream = _Stream(self._take_pending, self._encrypt_later)
        try:
            self._transfer(stream, stream.answered)
            if stream.drawn:  # libcurl ends every transfer, one way or another
                raise RuntimeError("a push transfer was lost")
        except BaseException as error:
            for batch in stream.drawn:
                batch.future.set_exception(error)
            raise
        finally:
            with self._pending_lock:  # batches submitted after the stream ended: another pass
                self._serving = self._thread.submit(self._serve) if self._pending else None

    def _take_pending(self) -> _Pending | None:
        """The oldest batch submitted and not yet drawn into the stream, if any."""
        with self._pending_lock:
            return self._pending.popleft() if self._pending else None

    def _encrypt_later(
        self, jobs: list[tuple[Target, Notification]], refusals: dict[str, str]
    ) -> Future[list[Post | PushResult]]:
        """A chunk of messages, handed to the encryption thread."""
        return self._encryptor.submit(self._encrypted_chunk, jobs, refusals)

    def _refusals(self, endpoints: Iterable[str]) -> dict[str, str]:
        """The endpoints the policy will not let this sender contact, and why."""
        refusals = {}
        for endpoint in set(endpoints):
            try:
                self._policy.check(endpoint)
            except UnsafeEndpoint as error:
                refusals[endpoint] = f"refused: {error.message}"
        return refusals

    def _encrypted_chunk(
        self, jobs: list[tuple[Target, Notification]], refusals: dict[str, str]
    ) -> list[Post | PushResult]:
        """Messages encrypted (on the encryption thread), or why each will not be sent."""
        return [
            PushResult(target.subscription_id, None, refusal, refused=True)
            if (refusal := refusals.get(target.endpoint))
            else self._encrypted(target, notification)
            for target, notification in jobs
        ]

    def _encrypted(self, target: Target, notification: Notification) -> Post | PushResult:
        """One message encrypted for its subscription (one the policy accepted), or why it
        will not be sent."""
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
        return Post(target, body, push_headers(notification, self.authorization(target.endpoint)))

    def post_all(self, posts: Iterable[Post | PushResult]) -> list[PushResult]:
        """Post encrypted messages, at most ``pool_size`` in flight; results in their order (a
        ``PushResult`` among them is passed through)."""
        results: dict[int, PushResult] = {}
        drawn = self._transfer(posts, results.__setitem__)
        if len(results) != drawn:  # libcurl ends every transfer, one way or another
            raise RuntimeError("a push transfer was lost")
        return [results[index] for index in range(drawn)]

    def _transfer(
        self,
        posts: Iterable[Post | PushResult | _NotYet | None],
        answered: Callable[[int, PushResult], None],
    ) -> int:
        """Post each message, at most ``pool_size`` in flight, and call ``answered`` with its
        place in ``posts`` and its result when it ends; returns how many were drawn.
        ``posts`` is drawn lazily, as handles free up, so a generator's work overlaps the
        transfers already started. A None drawn (or the end) means nothing to start now: it is
        drawn again while transfers are in flight, and ends the transfer when none is;
        ``NOT_YET`` means more is coming: the answers are taken meanwhile."""
        with self._lock:
            waiting = iter(posts)
            in_flight: dict[int, _Transfer] = {}
            drawn = 0
            try:
                while True:
                    started = 0
                    nothing_now = not_yet = False
                    while self._idle:
                        post = next(waiting, None)
                        if post is None:
                            nothing_now = True
                            break
                        if isinstance(post, _NotYet):
                            not_yet = True
                            break
                        drawn += 1
                        if isinstance(post, PushResult):
                            answered(drawn - 1, post)
                            continue
                        error = self._start(drawn - 1, post, in_flight)
                        if error is not None:
                            answered(drawn - 1, error)
                            continue
                        started += 1
                        if started % PERFORM_EVERY == 0:
                            self._perform(in_flight, answered)
                    self._perform(in_flight, answered)
                    if not in_flight and nothing_now:
                        break
                    if in_flight and (nothing_now or not self._idle) and not not_yet:
                        self._multi.select(0.05)
            finally:  # whatever went wrong, no transfer is left in the multi for the next batch
                for transfer in list(in_flight.values()):
                    self._finish(transfer.handle, in_flight)
        return drawn

    def _start(self, index: int, post: Post, in_flight: dict[int, _Transfer]) -> PushResult | None:
        """Hand one post to libcurl; a ``PushResult`` instead when its host may not be reached
        or libcurl will not take it."""
        target = post.target
        handle = self._idle[-1]
        if not self._policy.allow_local:
            try:
                handle.setopt(pycurl.RESOLVE, [self._pinned(target.endpoint)])
            except OSError as error:
                return PushResult(target.subscription_id, None, f"no answer: {error}"[:200])
        transfer = _Transfer(handle, index, target)
        try:
            handle.setopt(pycurl.URL, target.endpoint)
            handle.setopt(pycurl.HTTPHEADER, list(post.headers))
            handle.setopt(pycurl.POSTFIELDS, post.body)
        except (ValueError, UnicodeError, pycurl.error) as error:
            return PushResult(
                target.subscription_id, None, f"refused: cannot send: {error}"[:200], refused=True
            )
        handle.setopt(pycurl.WRITEFUNCTION, transfer.write)
        self._idle.pop()
        in_flight[id(handle)] = transfer
        self._multi.add_handle(handle)
        return None

    def _resolve_all(self, endpoints: Iterable[str]) -> None:
        """Look up, all at once and before the batch joins the stream, the push services'
        hosts not looked up lately."""
        if self._policy.allow_local:
            return
        now = time.monotonic()
        stale = set()
        for endpoint in endpoints:  # each one the policy accepted: refused ones are not looked up
            key = _host_and_port(endpoint)
            if key not in stale and self._resolved.get(key, ("", 0.0))[1] <= now:
                stale.add(key)
        if not stale:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(stale))) as lookups:
            for key, entry in zip(stale, lookups.map(_pin_entry, stale), strict=True):
                self._remember(key, entry)

    def _pinned(self, endpoint: str) -> str:
        """libcurl's RESOLVE entry for an endpoint's host, pinning it to its checked public
        addresses; ``OSError`` when it has a non-public one or cannot be looked up."""
        key = _host_and_port(endpoint)
        cached = self._resolved.get(key)
        entry = cached[0] if cached and cached[1] > time.monotonic() else None
        if entry is None:  # not looked up by _resolve_all (a caller of post_all alone)
            entry = self._remember(key, _pin_entry(key))
        if isinstance(entry, OSError):
            raise OSError(entry.errno, entry.strerror)
        return entry

    def _remember(self, key: tuple[str, int], entry: str | OSError) -> str | OSError:
        ttl = RESOLVE_FAILURE_TTL_S if isinstance(entry, OSError) else RESOLVE_TTL_S
        self._resolved[key] = (entry, time.monotonic() + ttl)
        return entry

    def _perform(
        self, in_flight: dict[int, _Transfer], answered: Callable[[int, PushResult], None]
    ) -> None:
        """Move the transfers on, and note each one that ended."""
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            queued, done, failed = self._multi.info_read()
            for handle in done:
                transfer = self._finish(handle, in_flight)
                answered(
                    transfer.index,
                    PushResult(
                        transfer.target.subscription_id,
                        int(handle.getinfo(pycurl.RESPONSE_CODE)),
                        transfer.body.decode(errors="replace"),
                        # libcurl reads either form of Retry-After (0: none, or none to
                        # wait) and reports at most 6 hours: a longer wait is taken as 6 h
                        handle.getinfo(pycurl.RETRY_AFTER) or None,
                    ),
                )
            for handle, _, message in failed:
                transfer = self._finish(handle, in_flight)
                answered(
                    transfer.index,
                    PushResult(
                        transfer.target.subscription_id, None, f"no answer: {message}"[:200]
                    ),
                )
            if not queued:
                return

    def _finish(self, handle: pycurl.Curl, in_flight: dict[int, _Transfer]) -> _Transfer:
        self._multi.remove_handle(handle)
        self._idle.append(handle)
        return in_flight.pop(id(handle))


def _host_and_port(endpoint: str) -> tuple[str, int]:
    """The host and port an endpoint (one the policy accepted) connects to."""
    parts = urlsplit(endpoint)
    return parts.hostname or "", parts.port or 443


def _pin_entry(key: tuple[str, int]) -> str | OSError:
    """libcurl's RESOLVE entry for a host and port ("host:port:address,…"), or why not."""
    host, port = key
    try:
        addresses = public_addresses(host, port)
    except OSError as error:
        return error
    listed = ",".join(f"[{address}]" if ":" in address else address for address in addresses)
    return f"{host}:{port}:{listed}"


def _public_socket(purpose: int, address: Any) -> socket.socket | int:
    """libcurl's socket opener: a socket only to a public address (the last check, on the
    address actually connected to)."""
    family, kind, protocol, sockaddr = address
    if not is_public(sockaddr[0]):
        return pycurl.SOCKET_BAD
    return socket.socket(family, kind, protocol)
