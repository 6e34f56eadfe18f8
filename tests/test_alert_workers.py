"""Several worker processes notifying clinicians on one database: each notice once, and after a
SIGKILL only the notice that was in flight may go twice."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AlertContact, AlertNotice
from tests.factories import make_clinic, make_clinician
from tests.test_alert_notices import ANSWERED, URGENT, flagged
from tests.test_email_batches import SlowMailbox, smtp_server
from tests.test_workers import worker_process

SUBJECT = re.compile(r"patient (P-\d+) ")


def urgent_alerts(session: Session, count: int) -> set[tuple[str, str]]:
    """``count`` urgent alerts raised at ANSWERED, each to be told at once to the treating
    clinician and an outside on-call contact; returns the (address, patient) pairs."""
    clinic = make_clinic(session)
    treating = make_clinician(session, clinic, email="treating@harbour.example")
    session.add(
        AlertContact(clinic_id=clinic.id, role="on_call", name="Night", email="night@x.example")
    )
    codes = [f"P-{number:04d}" for number in range(count)]
    for code in codes:
        flagged(session, treating, URGENT, code=code)
    return {(to, code) for code in codes for to in ("treating@harbour.example", "night@x.example")}


def received(mailbox: SlowMailbox) -> Counter[tuple[str, str]]:
    """How often each (address, patient) was told."""
    found: Counter[tuple[str, str]] = Counter()
    for message in mailbox.messages:
        match = SUBJECT.search(message["Subject"])
        assert match, message["Subject"]
        found[(message["To"], match.group(1))] += 1
    return found


def test_four_workers_at_once_send_each_notice_exactly_once(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    expected = urgent_alerts(session, 40)
    mailbox = SlowMailbox(delay_s=0.02)  # long enough for the workers' claims to overlap
    with smtp_server(mailbox) as port:
        workers = [
            worker_process(
                app,
                tmp_path,
                ANSWERED.isoformat(),
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(port),
                DISPATCH_BATCH="5",  # many small claims, so the workers' claims interleave
            )
            for _ in range(4)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in workers]

    assert all(process.returncode == 0 for process in workers), outputs
    told = received(mailbox)
    assert set(told) == expected
    assert set(told.values()) == {1}
    per_worker = [int(output.split("notify_clinicians=")[1].split()[0]) for output in outputs]
    assert sum(per_worker) == len(expected)
    assert set(session.scalars(select(AlertNotice.status).filter_by(step=1))) == {"sent"}


def test_a_worker_killed_mid_batch_repeats_at_most_the_notice_in_flight(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    expected = urgent_alerts(session, 10)
    mailbox = SlowMailbox(delay_s=0.2)  # the batch takes seconds: time to kill it midway
    with smtp_server(mailbox) as port:
        mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
        victim = worker_process(app, tmp_path, ANSWERED.isoformat(), CLAIM_LEASE_S="60", **mail)
        deadline = time.monotonic() + 30
        while len(mailbox.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=10)
        session.expire_all()
        held = session.scalars(select(AlertNotice).filter_by(step=1, status="sending")).all()
        assert held, "the kill came after the batch was done: nothing was in flight"
        assert all(notice.claimed_by for notice in held)

        mailbox.delay_s = 0.0
        after_lease = (ANSWERED + timedelta(seconds=61)).isoformat()
        rescuer = worker_process(app, tmp_path, after_lease, **mail)
        output = rescuer.communicate(timeout=120)[0]

    assert rescuer.returncode == 0, output
    told = received(mailbox)
    assert set(told) == expected  # nothing lost
    assert sum(count - 1 for count in told.values()) <= 1  # only the one in flight, if any
    session.expire_all()
    assert set(session.scalars(select(AlertNotice.status).filter_by(step=1))) == {"sent"}
