"""E-mail batches: one SMTP session per batch, a dropped connection reopened, nothing sent after
the claim's lease; mail goes to real local SMTP servers (aiosmtpd), some slow or dropping."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import CheckIn
from server.services.delivery import PROMPT, Outbound
from server.services.delivery.channels.email import EmailAddress
from server.services.mail import Mailer
from tests.conftest import Mailbox
from tests.factories import NOW, delivery_ledger, make_treated_patient

DUE = NOW + timedelta(hours=2)  # the IMS '2h' check-in opens at T0 + 2 h
SHORT_LEASE_S = 2
SLOW_SMTP_S = 0.25  # per message: a lease of SHORT_LEASE_S holds about six
PATIENTS = 8


@dataclass
class SlowMailbox(Mailbox):
    """A mail server that takes ``delay_s`` to accept each message, noting when it did."""

    delay_s: float = SLOW_SMTP_S
    accepted_at: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(self.delay_s)
        self.accepted_at.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


class DroppingMailbox(Mailbox):
    """A mail server that closes the connection after each message it accepts."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        asyncio.get_running_loop().call_soon(server.transport.close)  # after the 250 is written
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def smtp_server(handler: Mailbox) -> Iterator[int]:
    """Run a local SMTP server with this handler; yields its port."""
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check its own start
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def mailing_to(worker: Worker, port: int) -> Worker:
    """The same worker, with its mail going to the server on this port."""
    mailer = Mailer(host="127.0.0.1", port=port, sender="clinic@example.org")
    return Worker(app=worker.app, sender=worker.sender, mailer=mailer, rng=worker.rng)


def unsubscribed_patients(session: Session, count: int) -> list[str]:
    """``count`` patients with e-mail and no push subscription, treated (IMS) at NOW."""
    addresses = [f"pat{number}@example.org" for number in range(count)]
    for number, address in enumerate(addresses):
        make_treated_patient(session, code=f"P-{number:03d}", email=address)
    session.commit()
    return addresses


def recipients(mailbox: Mailbox) -> Counter[str]:
    """How many messages each address received."""
    return Counter(str(message["To"]) for message in mailbox.messages)


def test_emails_of_one_batch_share_one_smtp_session(
    worker: Worker, session: Session, mailbox: Mailbox
) -> None:
    addresses = unsubscribed_patients(session, 3)

    dispatch_due_checkins(worker, DUE)

    assert recipients(mailbox) == Counter(addresses)
    assert len(set(mailbox.peers)) == 1


def test_smtp_connection_dropped_between_emails_is_reopened(
    worker: Worker, session: Session
) -> None:
    addresses = unsubscribed_patients(session, 3)
    dropping = DroppingMailbox()

    with smtp_server(dropping) as port:
        dispatch_due_checkins(mailing_to(worker, port), DUE)

    assert recipients(dropping) == Counter(addresses)
    assert len(set(dropping.peers)) == 3
    statuses = session.scalars(select(CheckIn.status).filter_by(slot="2h"))
    assert set(statuses) == {"sent"}


def test_no_email_is_started_once_the_send_deadline_has_passed(
    worker: Worker, mailbox: Mailbox
) -> None:
    address = EmailAddress("pat@example.org", "https://example.org/checkin/7")
    item = Outbound(7, PROMPT, "email", (address,), claimed=None)  # not recorded
    channel = worker.pipeline.channels["email"]

    [attempt] = channel.start([item], now=DUE).finish(send_until=0.0)

    assert attempt.channel == "released"
    assert mailbox.messages == []


# --- a slow mail server and a short lease ------------------------------------------------------


@dataclass
class SlowPass:
    """One dispatch pass against a slow mail server with a short lease."""

    addresses: list[str]
    mailbox: SlowMailbox
    worker: Worker
    started_at: float
    handled: int


@pytest.fixture
def slow_pass(
    worker: Worker, session: Session, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SlowPass]:
    """A pass that cannot e-mail every patient within its lease; the server keeps running."""
    addresses = unsubscribed_patients(session, PATIENTS)
    monkeypatch.setitem(app.config, "CLAIM_LEASE_S", SHORT_LEASE_S)
    mailbox = SlowMailbox()
    with smtp_server(mailbox) as port:
        slow_worker = mailing_to(worker, port)
        started_at = time.monotonic()
        handled = dispatch_due_checkins(slow_worker, DUE)
        yield SlowPass(addresses, mailbox, slow_worker, started_at, handled)


def test_slow_mail_server_stops_the_batch_before_its_lease_ends(slow_pass: SlowPass) -> None:
    sent = len(slow_pass.mailbox.messages)

    assert 0 < sent < PATIENTS
    assert slow_pass.handled == sent
    assert max(slow_pass.mailbox.accepted_at) < slow_pass.started_at + SHORT_LEASE_S


def test_emails_left_unsent_at_the_lease_end_are_released_untried(
    slow_pass: SlowPass, session: Session, client: FlaskClient
) -> None:
    session.expire_all()
    unsent = session.scalars(select(CheckIn).filter_by(slot="2h", status="scheduled")).all()

    assert len(unsent) == PATIENTS - len(slow_pass.mailbox.messages)
    assert {(c.claimed_by, c.claimed_until, c.attempts) for c in unsent} == {(None, None, 0)}
    assert {c.next_attempt_at for c in unsent} == {DUE}
    kinds = {event["kind"] for c in unsent for event in delivery_ledger(client, session, c.id)}
    assert kinds == {"queued"}


def test_emails_released_at_the_lease_end_are_sent_by_the_next_pass_once(
    slow_pass: SlowPass, app: Flask, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    monkeypatch.setitem(app.config, "CLAIM_LEASE_S", 10)  # time enough for the rest

    dispatch_due_checkins(slow_pass.worker, DUE)

    assert recipients(slow_pass.mailbox) == Counter(slow_pass.addresses)
    session.expire_all()
    assert set(session.scalars(select(CheckIn.status).filter_by(slot="2h"))) == {"sent"}
