"""Which push endpoints are contacted (SSRF), the VAPID key, and the service worker's receipts."""

from __future__ import annotations

import base64
import json
import random
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NoReturn

import pycurl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pywebpush import WebPusher
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.config import new_vapid_key
from server.models import CheckIn, Clinician
from server.push import (
    EndpointPolicy,
    Notification,
    Post,
    PushSender,
    Target,
    UnsafeEndpoint,
    public_addresses,
    public_key_b64,
    push_headers,
)
from server.push.sender import _public_socket
from server.services.mail import Mailer
from server.services.subscriptions import subscribe
from tests.factories import (
    NOW,
    browser_subscription,
    checkin_for,
    delivery_ledger,
    enrolled_headers,
    make_clinician,
    make_patient,
    make_treated_patient,
    make_treatment,
)
from tests.http import assert_rejected
from tests.push_service import PushService, Subscriber, verify_vapid
from tests.test_dispatch import checkin, subscribe_local

DUE = NOW + timedelta(hours=2)  # the IMS '2h' check-in opens at T0 + 2 h
PUSH_SERVICES = [
    "https://fcm.googleapis.com/fcm/send/dXNlcg:APA91bH",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABh",
    "https://web.push.apple.com/QGx0Y2hfdG9rZW4",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
]


def resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Make every host name resolve to these addresses (there is no network here)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6, 1, 6, "", (address, port, 0, 0))  # IPv6 sockaddrs have four parts
            if ":" in address
            else (socket.AF_INET, 1, 6, "", (address, port))
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # what the sender resolves with


def resolve_for_sending(host: str) -> list[str]:
    """The addresses the sender would pin a host to (and connect to)."""
    return public_addresses(host, 443)


# --- EndpointPolicy ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", PUSH_SERVICES)
def test_https_endpoint_of_a_listed_push_service_is_accepted(endpoint: str) -> None:
    EndpointPolicy().check(endpoint)


def test_http_endpoint_is_refused() -> None:
    with pytest.raises(UnsafeEndpoint):
        EndpointPolicy().check("http://fcm.googleapis.com/fcm/send/abc")


def test_endpoint_of_an_unlisted_host_is_refused() -> None:
    with pytest.raises(UnsafeEndpoint):
        EndpointPolicy().check("https://push.example.com/send/abc")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com.evil.example/fcm/send/abc",
        "https://evilpush.apple.com/abc",
        "https://evilnotify.windows.com/w/?token=abc",
        "https://notify.windows.com.evil.example/w/?token=abc",
        "https://fcm.googleapis.com@evil.example/fcm/send/abc",
        "https://evil.example/fcm.googleapis.com/fcm/send/abc",
    ],
)
def test_lookalike_of_a_listed_host_is_refused(endpoint: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        EndpointPolicy().check(endpoint)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # a local-use NAT64 prefix
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:0:a00:1",  # SIIT's IPv4-translated 10.0.0.1
    ],
)
def test_listed_host_resolving_to_a_non_public_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    resolving_to(monkeypatch, address)

    with pytest.raises(OSError, match="non-public address"):
        resolve_for_sending("fcm.googleapis.com")


def test_listed_host_with_one_non_public_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolving_to(monkeypatch, "142.250.74.10", "10.0.0.1")

    with pytest.raises(OSError, match="non-public address"):
        resolve_for_sending("fcm.googleapis.com")


def test_listed_host_resolving_to_public_addresses_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolving_to(monkeypatch, "142.250.74.10", "2a00:1450:4007:80e::200a", "64:ff9b::808:808")

    addresses = set(resolve_for_sending("fcm.googleapis.com"))
    assert addresses == {"142.250.74.10", "2a00:1450:4007:80e::200a", "64:ff9b::808:808"}


def test_allow_local_accepts_a_loopback_http_endpoint() -> None:
    EndpointPolicy(allow_local=True).check("http://127.0.0.1:8080/push/abc")


def test_refusal_names_the_endpoint_field() -> None:
    with pytest.raises(UnsafeEndpoint) as refused:
        EndpointPolicy().check("https://push.example.com/send/abc")

    assert list(refused.value.errors) == ["endpoint"]


# --- at subscription time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://push.example.com/send/abc",
        "http://fcm.googleapis.com/fcm/send/abc",
        "http://127.0.0.1:8080/push/abc",
        "https://fcm.googleapis.com.evil.example/fcm/send/abc",
    ],
)
def test_subscribing_a_refused_endpoint_is_rejected_naming_endpoint(
    client: FlaskClient, session: Session, endpoint: str
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = enrolled_headers(session, clinician, patient)

    response = client.post(
        "/api/v1/me/push-subscriptions", headers=headers, json=browser_subscription(endpoint)
    )

    assert_rejected(response, "endpoint")


def test_subscribing_a_listed_push_service_is_accepted(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician)
    headers = enrolled_headers(session, clinician, patient)

    response = client.post(
        "/api/v1/me/push-subscriptions", headers=headers, json=browser_subscription()
    )

    assert response.status_code == 201, response.get_json()


# --- at send time ------------------------------------------------------------------------------


@pytest.fixture
def strict_worker(app: Flask, session: Session) -> Iterator[Worker]:
    """A job worker whose push sender has the production policy (no local endpoints)."""
    sender = PushSender(
        private_pem=app.config["VAPID_PRIVATE_KEY"],
        subject=app.config["VAPID_SUBJECT"],
        policy=EndpointPolicy(),
        pool_size=2,
        timeout_s=1.0,
    )
    mailer = Mailer(host="", port=0, sender="clinic@example.org")  # no e-mail: push only
    yield Worker(app=app, sender=sender, mailer=mailer, rng=random.Random(7))
    sender.close()


def stored_subscription(session: Session, endpoint: str) -> CheckIn:
    """A patient whose subscription to ``endpoint`` got stored (as under a looser policy);
    returns their '2h' check-in."""
    treatment = make_treated_patient(session)
    body = browser_subscription(endpoint)
    subscribe(
        session,
        patient=treatment.patient,
        endpoint=endpoint,
        p256dh=body["keys"]["p256dh"],
        auth=body["keys"]["auth"],
        expiration_ms=None,
        now=NOW,
        policy=EndpointPolicy(allow_local=True),
    )
    session.commit()
    return checkin_for(treatment, "2h")


def test_sender_does_not_contact_a_stored_endpoint_the_policy_refuses(
    strict_worker: Worker, session: Session, push: PushService
) -> None:
    treatment = make_treated_patient(session)
    subscribe_local(session, treatment.patient, push.subscribe())
    session.commit()

    dispatch_due_checkins(strict_worker, DUE)

    assert push.received == []
    assert checkin(session, treatment, "2h").status == "scheduled"


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9/push/abc", "https://push.example.com/send/abc"]
)
def test_refused_send_is_recorded_failed_with_refused_in_its_detail(
    strict_worker: Worker, session: Session, client: FlaskClient, endpoint: str
) -> None:
    two_hours = stored_subscription(session, endpoint)

    dispatch_due_checkins(strict_worker, DUE)

    ledger = delivery_ledger(client, session, two_hours.id)
    [failed] = [event for event in ledger if event["kind"] == "failed"]
    assert failed["status_code"] is None
    assert "refused" in failed["detail"]


@pytest.fixture
def production_sender() -> Iterator[PushSender]:
    """A push sender with the production policy, outside any worker."""
    sender = PushSender(
        private_pem=new_vapid_key(),
        subject="mailto:tests@example.org",
        policy=EndpointPolicy(),
        pool_size=1,
        timeout_s=1.0,
    )
    yield sender
    sender.close()


def one_push(endpoint: str) -> tuple[Target, Notification]:
    """A message for a subscription at ``endpoint``."""
    keys = browser_subscription(endpoint)["keys"]
    note = Notification(1, "Time for your check-in", "", "/checkin/1", 3600, "high")
    return Target(1, endpoint, keys["p256dh"], keys["auth"]), note


def test_one_jwt_per_push_service_origin_with_that_origin_as_audience(
    production_sender: PushSender,
) -> None:
    fcm = "https://fcm.googleapis.com/fcm/send/"
    mozilla = "https://updates.push.services.mozilla.com/wpush/v2/"
    first, second = (production_sender.authorization(fcm + name) for name in ("a", "b?c=1"))
    other = production_sender.authorization(mozilla + "a")

    assert first == second
    assert production_sender.signatures == 2
    verify_vapid(first, "https://fcm.googleapis.com")
    verify_vapid(other, "https://updates.push.services.mozilla.com")


@pytest.mark.parametrize(
    ("title", "body", "url"),
    [
        ("Time for your check-in", "", "/checkin/7"),
        ('A "quoted" title\\', "Line one\nline two é — 😀", '/checkin/7?x="1"'),
    ],
)
def test_payload_is_the_json_object_the_service_worker_reads(
    title: str, body: str, url: str
) -> None:
    note = Notification(7, title, body, url, 3600, "high")

    assert json.loads(note.payload()) == {
        "title": title,
        "body": body,
        "url": url,
        "tag": "checkin-7",
        "checkin_id": 7,
    }


def test_payload_over_the_plaintext_limit_is_refused() -> None:
    note = Notification(7, "Time for your check-in", "x" * 4000, "/checkin/7", 3600, "high")

    with pytest.raises(ValueError, match="exceeds 3993"):
        note.payload()


def test_sender_never_connects_to_a_listed_host_resolving_to_loopback(
    production_sender: PushSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        resolving_to(monkeypatch, "127.0.0.1")
        endpoint = f"https://fcm.googleapis.com:{listener.getsockname()[1]}/fcm/send/abc"

        [result] = production_sender.send_all([one_push(endpoint)])

        with pytest.raises(TimeoutError):  # nothing knocked on the loopback port
            listener.accept()
    assert result.status_code is None


@pytest.mark.parametrize(
    ("address", "family"),
    [
        ("127.0.0.1", socket.AF_INET),
        ("10.1.2.3", socket.AF_INET),
        ("::1", socket.AF_INET6),
        ("64:ff9b::a01:203", socket.AF_INET6),  # NAT64 of 10.1.2.3
    ],
)
def test_sender_opens_no_socket_to_a_non_public_address(
    address: str, family: socket.AddressFamily
) -> None:
    # the last check, on the address libcurl is about to connect to (whatever resolved it)
    opened = _public_socket(0, (family, socket.SOCK_STREAM, 6, (address, 443)))

    assert opened == pycurl.SOCKET_BAD


def test_sender_opens_a_socket_to_a_public_address() -> None:
    opened = _public_socket(0, (socket.AF_INET, socket.SOCK_STREAM, 6, ("142.250.74.10", 443)))

    assert isinstance(opened, socket.socket)
    opened.close()


def test_sender_records_why_it_refused_a_private_address(
    production_sender: PushSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving_to(monkeypatch, "169.254.169.254")

    [result] = production_sender.send_all([one_push(PUSH_SERVICES[0])])

    assert result.status_code is None
    assert "non-public address" in result.detail, result.detail


# --- the VAPID public key ----------------------------------------------------------------------


def test_push_key_is_the_apps_vapid_public_key(client: FlaskClient, app: Flask) -> None:
    response = client.get("/api/v1/push/key")

    assert response.status_code == 200
    assert response.get_json() == {"public_key": public_key_b64(app.config["VAPID_PRIVATE_KEY"])}


def test_push_key_is_a_base64url_uncompressed_p256_point(client: FlaskClient) -> None:
    public_key = client.get("/api/v1/push/key").get_json()["public_key"]

    raw = base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))
    assert "=" not in public_key
    assert (len(raw), raw[0]) == (65, 0x04)


def test_push_key_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/api/v1/push/key", headers={})

    assert response.status_code == 200


# --- what the service worker reports back ------------------------------------------------------


def acknowledging_patient(session: Session) -> tuple[CheckIn, dict[str, str]]:
    """A treated patient's '2h' check-in and their device's headers."""
    treatment = make_treated_patient(session)
    clinician = session.scalar(select(Clinician))
    assert clinician is not None
    headers = enrolled_headers(session, clinician, treatment.patient)
    return checkin_for(treatment, "2h"), headers


def acknowledge_url(checkin_id: int) -> str:
    """Where the service worker reports a notification shown or opened."""
    return f"/api/v1/me/checkins/{checkin_id}/delivery"


@pytest.mark.parametrize("event", ["shown", "opened"])
def test_acknowledgement_answers_204(client: FlaskClient, session: Session, event: str) -> None:
    two_hours, headers = acknowledging_patient(session)

    response = client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": event})

    assert response.status_code == 204


def test_shown_acknowledgement_sets_shown_at(client: FlaskClient, session: Session) -> None:
    two_hours, headers = acknowledging_patient(session)

    client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": "shown"})

    assert (two_hours.shown_at is not None, two_hours.opened_at) == (True, None)


def test_opened_acknowledgement_sets_opened_at(client: FlaskClient, session: Session) -> None:
    two_hours, headers = acknowledging_patient(session)

    client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": "opened"})

    assert (two_hours.opened_at is not None, two_hours.shown_at) == (True, None)


@pytest.mark.parametrize("event", ["shown", "opened"])
def test_repeated_acknowledgement_keeps_the_first_time(
    client: FlaskClient, session: Session, event: str
) -> None:
    two_hours, headers = acknowledging_patient(session)
    client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": event})
    first = getattr(two_hours, f"{event}_at")
    assert first is not None

    client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": event})

    assert getattr(two_hours, f"{event}_at") == first


def test_acknowledgement_adds_a_ledger_row(client: FlaskClient, session: Session) -> None:
    two_hours, headers = acknowledging_patient(session)

    client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": "shown"})

    ledger = delivery_ledger(client, session, two_hours.id)
    assert [(event["kind"], event["channel"]) for event in ledger] == [("shown", "push")]


def test_unknown_acknowledgement_event_is_rejected(client: FlaskClient, session: Session) -> None:
    two_hours, headers = acknowledging_patient(session)

    response = client.post(
        acknowledge_url(two_hours.id), headers=headers, json={"event": "delivered"}
    )

    assert_rejected(response, "event")


def test_acknowledging_another_patients_checkin_is_not_found(
    client: FlaskClient, session: Session
) -> None:
    two_hours, _ = acknowledging_patient(session)
    clinician = session.scalar(select(Clinician))
    assert clinician is not None
    stranger = make_patient(session, clinician, code="P-999")  # same clinic, other patient
    make_treatment(session, clinician, stranger)
    headers = enrolled_headers(session, clinician, stranger)

    response = client.post(acknowledge_url(two_hours.id), headers=headers, json={"event": "shown"})

    assert response.status_code == 404
    assert two_hours.shown_at is None


# --- a bad endpoint or answer never stops the rest -------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com:99999/fcm/send/abc",
        "https://fcm.googleapis.com:abc/fcm/send/abc",
        "https://fcm.googleapis.com/fcm/send/café",
        "https://fcm.googleapis.com/fcm/send/a\x00b",
        "https://fcm.googleapis.com/fcm/send/a b",
        "https://[::1/fcm/send/abc",  # urlsplit raises ValueError for the broken IPv6 literal
        "https://user:secret@fcm.googleapis.com/fcm/send/abc",  # libcurl would send them
        "https://@fcm.googleapis.com/fcm/send/abc",
    ],
)
def test_endpoint_that_is_no_clean_url_is_refused(endpoint: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        EndpointPolicy().check(endpoint)
    with pytest.raises(UnsafeEndpoint):
        EndpointPolicy(allow_local=True).check(endpoint.replace("https://fcm", "http://fcm"))


@pytest.fixture
def small_sender() -> Iterator[PushSender]:
    """A sender that may reach the local push service, two transfers at a time."""
    sender = PushSender(
        private_pem=new_vapid_key(),
        subject="mailto:tests@example.org",
        policy=EndpointPolicy(allow_local=True),
        pool_size=2,
        timeout_s=2.0,
    )
    yield sender
    sender.close()


def to_browser(browser: Subscriber) -> tuple[Target, Notification]:
    """A message for a subscriber of the local push service, with its own keys."""
    keys = browser.to_json()["keys"]
    _, note = one_push(browser.endpoint)
    return Target(1, browser.endpoint, keys["p256dh"], keys["auth"]), note


def local_post(push: PushService, sender: PushSender) -> Post:
    """A post, encrypted, to a new subscriber of the local push service."""
    browser = push.subscribe()
    keys = browser.to_json()["keys"]
    target = Target(1, browser.endpoint, keys["p256dh"], keys["auth"])
    _, note = one_push(browser.endpoint)
    body = WebPusher(browser.to_json()).encode(note.payload(), "aes128gcm")["body"]
    return Post(target, body, push_headers(note, sender.authorization(browser.endpoint)))


def test_stored_endpoint_libcurl_will_not_take_fails_alone(
    small_sender: PushSender, push: PushService
) -> None:
    bad = local_post(push, small_sender)
    bad = Post(Target(2, f"{push.base_url}/push/café", "", ""), bad.body, bad.headers)

    results = small_sender.post_all([bad, local_post(push, small_sender)])

    assert [result.status_code for result in results] == [None, 201]
    assert results[0].refused


def test_sender_is_whole_again_after_a_batch_broke_off(
    small_sender: PushSender, push: PushService
) -> None:
    def breaking() -> Iterator[Post]:
        yield local_post(push, small_sender)
        raise RuntimeError("the caller's generator broke")  # the first post still in flight

    with pytest.raises(RuntimeError):
        small_sender.post_all(breaking())

    results = small_sender.post_all([local_post(push, small_sender) for _ in range(4)])
    assert [result.status_code for result in results] == [201] * 4


def test_next_batch_starts_while_the_last_one_waits_for_its_answers(
    small_sender: PushSender, push: PushService
) -> None:
    push.delay_s = 0.5  # each answer takes half a second
    first_browser, second_browser = push.subscribe(), push.subscribe()

    first = small_sender.submit([to_browser(first_browser)])
    time.sleep(0.1)  # the first is in flight, and the sender has nothing else to start
    second = small_sender.submit([to_browser(second_browser)])
    results = [first.result(timeout=5), second.result(timeout=5)]

    # one after the other, the service would never have had both at once
    assert push.most_in_flight == 2
    assert [[result.status_code for result in batch] for batch in results] == [[201], [201]]
    assert {message.subscription for message in push.received} == {
        first_browser.name,
        second_browser.name,
    }


def test_batches_submitted_together_are_each_answered_whole_and_in_order(
    push: PushService,
) -> None:
    sender = PushSender(
        private_pem=new_vapid_key(),
        subject="mailto:tests@example.org",
        policy=EndpointPolicy(allow_local=True),
        pool_size=8,
    )
    browsers = [push.subscribe() for _ in range(260)]
    jobs = []
    for number, browser in enumerate(browsers):
        target, note = to_browser(browser)
        if number % 50 == 7:  # a stored key that cannot be encrypted to
            target = Target(number, target.endpoint, "not-a-key", target.auth)
        jobs.append((Target(number, target.endpoint, target.p256dh, target.auth), note))
    try:  # more messages than the encryption thread is ever ahead by, in uneven batches
        batches = [
            sender.submit(jobs[:150]),
            sender.submit(jobs[150:190]),
            sender.submit(jobs[190:]),
        ]
        results = [result for batch in batches for result in batch.result(timeout=30)]
    finally:
        sender.close()

    assert [result.subscription_id for result in results] == list(range(260))
    refused = [result.subscription_id for result in results if result.refused]
    assert refused == [number for number in range(260) if number % 50 == 7]
    assert all(result.status_code == 201 for result in results if not result.refused)
    assert sorted(message.subscription for message in push.received) == sorted(
        browser.name for number, browser in enumerate(browsers) if number % 50 != 7
    )


def test_sender_is_whole_again_after_encryption_broke_off(
    small_sender: PushSender, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> NoReturn:
        raise RuntimeError("the encryption broke")

    with monkeypatch.context() as patched:
        patched.setattr(small_sender, "_encrypted", broken)
        broken_batch = small_sender.submit([to_browser(push.subscribe())])
        with pytest.raises(RuntimeError, match="encryption broke"):
            broken_batch.result(timeout=5)

    browsers = [push.subscribe() for _ in range(3)]
    results = small_sender.send_all([to_browser(browser) for browser in browsers])
    assert [result.status_code for result in results] == [201] * 3


def test_a_retry_after_is_not_carried_over_to_the_next_answer(
    small_sender: PushSender, push: PushService
) -> None:
    limited, failing = push.subscribe(), push.subscribe()
    push.answer(limited, 429, Retry_After="600")
    push.answer(failing, 500)

    [first] = small_sender.send_all([to_browser(limited)])
    [second] = small_sender.send_all([to_browser(failing)])  # on the handle the first used

    assert (first.status_code, first.retry_after_s) == (429, 600)
    assert (second.status_code, second.retry_after_s) == (500, None)


def test_an_empty_batch_is_answered_at_once(small_sender: PushSender) -> None:
    assert small_sender.submit([]).result(timeout=5) == []
    assert small_sender.send_all([]) == []


@pytest.fixture
def failing_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host lookup fails (as with no DNS); the hosts looked up, in order."""
    lookups = []

    def failing(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    return lookups


def test_push_services_are_looked_up_before_the_batch_reaches_the_sender_thread(
    production_sender: PushSender, failing_lookups: list[str]
) -> None:
    pushed = production_sender.submit([one_push(PUSH_SERVICES[0])])
    assert failing_lookups == ["fcm.googleapis.com"]  # done when submit returns
    [result] = pushed.result(timeout=5)
    assert "cannot resolve" in result.detail


def test_failed_lookup_is_made_once_per_host_and_remembered(
    production_sender: PushSender, failing_lookups: list[str]
) -> None:
    first = production_sender.send_all([one_push(PUSH_SERVICES[0])] * 5)
    again = production_sender.send_all([one_push(PUSH_SERVICES[0])])

    assert failing_lookups == ["fcm.googleapis.com"]
    assert all("cannot resolve" in result.detail for result in [*first, *again])
    assert all(result.is_retryable for result in [*first, *again])
