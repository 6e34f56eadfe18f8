"""Several worker processes on one database: every prompt exactly once, nothing lost on SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import REPO_ROOT
from server.models import CheckIn
from tests.factories import NOW, make_clinician, make_patient, make_treatment
from tests.push_service import PushService
from tests.sms_service import ACCOUNT_SID, AUTH_TOKEN, FROM, SmsService
from tests.test_dispatch import subscribe_local

DUE = NOW + timedelta(hours=2)  # the IMS 2 h check-ins open


def prompted_patients(session: Session, push: PushService, count: int) -> list[int]:
    """``count`` subscribed patients treated at NOW; returns the ids of their 2 h check-ins."""
    clinician = make_clinician(session)
    for number in range(count):
        patient = make_patient(session, clinician, code=f"P-{number:04d}", quiet_hours=None)
        subscribe_local(session, patient, push.subscribe())
        make_treatment(session, clinician, patient, modality="ims")
    session.commit()
    return list(session.scalars(select(CheckIn.id).filter_by(slot="2h")))


def worker_process(app: Flask, tmp_path: Path, now: str, **settings: str) -> subprocess.Popen[str]:
    """``python -m jobs tick --now`` in its own process, on the test's database."""
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "VAPID_PRIVATE_KEY": app.config["VAPID_PRIVATE_KEY"],
        "PUSH_ALLOW_LOCAL": "1",
        **settings,
    }
    command = ["tick", "--now", now] if now else []  # no time given: the scheduler, for real
    return subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "jobs", *command],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_four_workers_at_once_send_every_prompt_exactly_once(
    app: Flask, session: Session, push: PushService, tmp_path: Path
) -> None:
    checkin_ids = prompted_patients(session, push, 120)
    push.delay_s = 0.005  # long enough for the workers' batches to overlap
    workers = [
        worker_process(app, tmp_path, DUE.isoformat(), DISPATCH_BATCH="10", PUSH_POOL_SIZE="4")
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in workers]
    assert all(process.returncode == 0 for process in workers), outputs
    sent = Counter(message.payload["checkin_id"] for message in push.received)
    assert sorted(sent) == sorted(checkin_ids)
    assert set(sent.values()) == {1}
    session.expire_all()
    statuses = set(session.scalars(select(CheckIn.status).filter_by(slot="2h")))
    assert statuses == {"sent"}
    per_worker = [int(output.split("dispatch_due_checkins=")[1].split()[0]) for output in outputs]
    assert sum(per_worker) == len(checkin_ids)


def arrived(push: PushService) -> Counter[int]:
    """How many messages of each check-in reached the push service whole (a message cut off
    by its sender's death carries no check-in)."""
    with push.lock:
        return Counter(
            message.payload["checkin_id"]
            for message in push.received
            if "checkin_id" in message.payload
        )


def unrecorded_claims(session: Session) -> dict[str, set[int]]:
    """Each worker's claimed check-ins whose sending it has not recorded yet."""
    held: dict[str, set[int]] = defaultdict(set)
    for worker, checkin_id in session.execute(
        select(CheckIn.claimed_by, CheckIn.id).filter_by(status="scheduled")
    ):
        if worker is not None:
            held[worker].add(checkin_id)
    session.rollback()  # no snapshot kept open while the workers write
    return held


def test_a_worker_killed_mid_batch_among_four_repeats_only_its_pushes_in_flight(
    app: Flask, session: Session, push: PushService, tmp_path: Path
) -> None:
    checkin_ids = prompted_patients(session, push, 120)
    push.delay_s = 0.2  # each batch takes a second or so: every worker is mid-batch most of it
    settings = {"DISPATCH_BATCH": "10", "PUSH_POOL_SIZE": "2", "CLAIM_LEASE_S": "60"}
    workers = {
        f"{socket.gethostname()}:{process.pid}": process
        for process in (
            worker_process(app, tmp_path, DUE.isoformat(), **settings) for _ in range(4)
        )
    }
    # the victim: the first worker seen mid-batch, a push of a claim it has not recorded yet
    # already at the service
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "no worker was ever seen with a push in flight"
        arrivals = arrived(push).keys()
        victim = next(
            (w for w, held in unrecorded_claims(session).items() if held & arrivals), None
        )
    os.kill(workers[victim].pid, signal.SIGKILL)
    workers.pop(victim).communicate(timeout=10)
    requests_open_at_kill = push.in_flight
    unrecorded = unrecorded_claims(session)[victim]  # claimed by the victim until DUE + 60 s
    outputs = [process.communicate(timeout=120)[0] for process in workers.values()]
    assert all(process.returncode == 0 for process in workers.values()), outputs
    while push.in_flight:  # the service's threads still answering the dead worker's requests
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # the survivors cannot take the victim's claims before their lease ends: whatever of them
    # reached the service came from the victim, sent and never recorded
    in_flight = unrecorded & arrived(push).keys()

    after_lease = (DUE + timedelta(seconds=61)).isoformat()
    rescuer = worker_process(app, tmp_path, after_lease)
    assert rescuer.communicate(timeout=120)[0].count("dispatch_due_checkins=") == 1
    sent = arrived(push)
    assert sorted(sent) == sorted(checkin_ids)  # every prompt at least once
    duplicates = {checkin_id for checkin_id, count in sent.items() if count > 1}
    assert duplicates == in_flight  # repeated: exactly the victim's pushes in flight
    assert {sent[checkin_id] for checkin_id in duplicates} <= {2}
    assert 0 < len(in_flight) <= 2 * int(settings["DISPATCH_BATCH"])  # the batches it held
    assert requests_open_at_kill <= int(settings["PUSH_POOL_SIZE"]) * 4
    session.expire_all()
    assert set(session.scalars(select(CheckIn.status).filter_by(slot="2h"))) == {"sent"}


def test_a_claim_still_within_its_lease_is_left_alone(
    app: Flask, session: Session, push: PushService, tmp_path: Path
) -> None:
    [checkin_id] = prompted_patients(session, push, 1)
    checkin = session.get(CheckIn, checkin_id)
    assert checkin is not None
    checkin.claimed_by, checkin.claimed_until = "another:1", DUE + timedelta(seconds=30)
    session.commit()
    other = worker_process(app, tmp_path, DUE.isoformat())
    assert other.communicate(timeout=60)[0].count("dispatch_due_checkins=0") == 1
    assert push.received == []


def test_sigterm_finishes_the_batches_in_hand_and_claims_no_more(
    app: Flask, session: Session, push: PushService, tmp_path: Path
) -> None:
    clinician = make_clinician(session)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2, minutes=1)
    for number in range(9):
        patient = make_patient(session, clinician, code=f"P-{number}", quiet_hours=None)
        subscribe_local(session, patient, push.subscribe())
        make_treatment(
            session, clinician, patient, modality="ims", treated_at=two_hours_ago, now=two_hours_ago
        )
    session.commit()
    push.delay_s = 0.5
    env_worker = worker_process(app, tmp_path, "", DISPATCH_BATCH="3", PUSH_POOL_SIZE="1")
    # the signal must come mid-batch: on a loaded machine the worker's start alone took over
    # 30 s, and a SIGTERM before its first claim rightly sent nothing
    deadline = time.monotonic() + 180
    while not push.received:
        assert time.monotonic() < deadline, "the worker never sent its first prompt"
        time.sleep(0.05)
    env_worker.send_signal(signal.SIGTERM)
    output = env_worker.communicate(timeout=60)[0]
    assert env_worker.returncode == 0, output
    session.expire_all()
    checkins = session.scalars(select(CheckIn).filter_by(slot="2h")).all()
    assert all(checkin.claimed_by is None for checkin in checkins)  # nothing left held
    sent = [checkin for checkin in checkins if checkin.status == "sent"]
    # the batch being sent and the one handed to the sender behind it were finished; the third
    # was never claimed
    assert len(sent) == 6
    assert len(push.received) == 6


def test_four_workers_at_once_text_every_prompt_exactly_once(
    app: Flask, session: Session, sms: SmsService, tmp_path: Path
) -> None:
    clinician = make_clinician(session)
    for number in range(60):
        patient = make_patient(
            session,
            clinician,
            code=f"P-{number:04d}",
            quiet_hours=None,
            phone=f"+1604555{number:04d}",
            sms_consent="paper",
        )
        make_treatment(session, clinician, patient, modality="ims")
    session.commit()
    checkin_ids = list(session.scalars(select(CheckIn.id).filter_by(slot="2h")))
    provider = {
        "SMS_ACCOUNT_SID": ACCOUNT_SID,
        "SMS_AUTH_TOKEN": AUTH_TOKEN,
        "SMS_FROM": FROM,
        "SMS_API_BASE": sms.url,
    }
    workers = [
        worker_process(app, tmp_path, DUE.isoformat(), DISPATCH_BATCH="5", **provider)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in workers]

    assert all(process.returncode == 0 for process in workers), outputs
    texted = Counter(int(text.body.split("/checkin/")[1].split("#")[0]) for text in sms.texts)
    assert sorted(texted) == sorted(checkin_ids)
    assert set(texted.values()) == {1}
    assert sms.refusals == []
