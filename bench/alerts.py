"""Seconds from an urgent answer to the first clinician notification: the red flag's whole path.

For each database (PostgreSQL, SQLite), the app is served by gunicorn as the Procfile serves it
and the worker runs as ``python -m jobs`` at its default settings (red-flag notices looked for
every ALERT_INTERVAL_S, 2 s), e-mailing a local SMTP server. Patients post urgent answers
(``rf_breath_chest``) one after another, ``--spacing-ms`` apart; the bench prints p50, p99 and
the worst of the seconds from each POST to the moment the SMTP server accepted the treating
clinician's notice, with nothing else to do, and again while ``--prompts`` due prompts (arriving
in waves over the run) are dispatched to a local push service. Target: p99 under 15 s.

    .venv/bin/python bench/alerts.py [--alerts 200] [--prompts 1000] [--databases postgresql sqlite]

Uses (and drops) the PostgreSQL database ``needling_bench_alerts``; SQLite in a temporary file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.dispatch import browser_keys, sink_count, start_sink
from server import create_app
from server.config import REPO_ROOT, Config
from server.extensions import db
from server.models import AlertContact, Clinician
from server.push import EndpointPolicy
from server.services.clinics import create_clinic, create_clinician
from server.services.patients import create_patient
from server.services.subscriptions import subscribe
from server.services.treatments import record_treatment
from tests.databases import drop_postgres_database, postgres_database
from tests.factories import checkin_for, enrolled_headers

SUBJECT = re.compile(r"patient (A-\d+) ")
TREATING = "treating@bench.example"


@dataclass
class Inbox:
    """The local SMTP server's handler: when each patient's first notice to the treating
    clinician was accepted."""

    first: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        accepted = time.time()
        text = envelope.content.decode(errors="replace")
        match = SUBJECT.search(text)
        if match and TREATING in envelope.rcpt_tos:
            with self.lock:
                self.first.setdefault(match.group(1), accepted)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Flagger:
    """A patient about to answer urgently: their open check-in and device token."""

    code: str
    checkin_id: int
    headers: dict[str, str]


def set_up(app: Any, *, alerts: int, now: datetime) -> list[Flagger]:
    """A clinic with a treating clinician and an on-call contact, and ``alerts`` enrolled
    patients with a check-in open now: the patients who will answer."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        session = db.session()
        clinic = create_clinic(session, name="Bench Clinic", timezone="UTC")
        treating = create_clinician(
            session, clinic=clinic, email=TREATING, password="bench-password-1", role="admin"
        )
        session.add(AlertContact(clinic_id=clinic.id, role="on_call", name="Desk", email="d@x.org"))
        flaggers = []
        for number in range(alerts):
            patient = create_patient(
                session,
                clinician=treating,
                code=f"A-{number:04d}",
                timezone="UTC",
                quiet_hours=None,
                now=now,
            )
            treatment = record_treatment(
                session,
                clinician=treating,
                patient=patient,
                modality="dry_needling",
                treated_at=now - timedelta(hours=7),
                now=now,
            )
            checkin_id = checkin_for(treatment, "6h").id
            flaggers.append(
                Flagger(patient.code, checkin_id, enrolled_headers(session, treating, patient))
            )
        session.commit()
        return flaggers


def add_prompts(
    session: Session,
    clinician: Clinician,
    *,
    count: int,
    sink: str,
    start: datetime,
    span_s: float,
    waves: int = 10,
) -> None:
    """``count`` patients subscribed to the push service at ``sink``, treated with IMS by
    ``clinician`` so that their 2 h check-ins fall due in ``waves`` waves from ``start`` over
    ``span_s`` seconds; committed."""
    p256dh, auth = browser_keys()
    for number in range(count):
        patient = create_patient(
            session,
            clinician=clinician,
            code=f"P-{number:05d}",
            timezone="UTC",
            quiet_hours=None,
            now=start,
        )
        subscribe(
            session,
            patient=patient,
            endpoint=f"{sink}/push/{number}",
            p256dh=p256dh,
            auth=auth,
            expiration_ms=None,
            now=start,
            policy=EndpointPolicy(allow_local=True),
        )
        wave = number % waves
        record_treatment(
            session,
            clinician=clinician,
            patient=patient,
            modality="ims",
            treated_at=start - timedelta(hours=2) + timedelta(seconds=span_s * wave / waves),
            now=start,
        )
    session.commit()


def environment(url: str, workdir: Path, config: Config, smtp_port: int) -> dict[str, str]:
    """What the web and worker processes read: the bench's database, keys and mail server."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(workdir),
        "SECRET_KEY": config.SECRET_KEY,
        "VAPID_PRIVATE_KEY": config.VAPID_PRIVATE_KEY,
        "PUSH_ALLOW_LOCAL": "1",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_FROM": "alerts@bench.example",
        "PUBLIC_BASE_URL": "http://127.0.0.1",
    }


def start_web(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn as the Procfile runs it (two workers), on a free port."""
    port = free_port()
    web = subprocess.Popen(  # noqa: S603 - our own app, fixed arguments
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "server:create_app()",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/api/v1/push/key", timeout=1)  # noqa: S310
            return web, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m jobs`` at its default settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "jobs"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def answer_urgently(base: str, flagger: Flagger) -> None:
    body = json.dumps({"client_id": str(uuid.uuid4()), "answers": {"rf_breath_chest": True}})
    request = urllib.request.Request(  # noqa: S310 - our own server
        f"{base}/api/v1/me/checkins/{flagger.checkin_id}/response",
        data=body.encode(),
        headers={**flagger.headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        if answer.status not in (200, 201):
            raise RuntimeError(f"answer refused: {answer.status}")


def run(
    base: str, flaggers: list[Flagger], inbox: Inbox, spacing_s: float, timeout_s: float = 120
) -> list[float]:
    """Post each urgent answer, ``spacing_s`` apart; the seconds to each first notice."""
    posted: dict[str, float] = {}
    for flagger in flaggers:
        posted[flagger.code] = time.time()
        answer_urgently(base, flagger)
        time.sleep(spacing_s)
    deadline = time.monotonic() + timeout_s
    while len(inbox.first.keys() & posted.keys()) < len(posted) and time.monotonic() < deadline:
        time.sleep(0.2)
    missing = posted.keys() - inbox.first.keys()
    if missing:
        raise RuntimeError(f"{len(missing)} alerts were never notified, e.g. {sorted(missing)[:3]}")
    return [inbox.first[code] - posted[code] for code in posted]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(label: str, seconds: list[float]) -> None:
    print(
        f"  {label:<42} p50 {statistics.median(seconds):5.2f} s   "
        f"p99 {percentile(seconds, 0.99):5.2f} s   worst {max(seconds):5.2f} s   "
        f"({len(seconds)} alerts; target p99 < 15 s)"
    )


def bench_database(name: str, args: argparse.Namespace, sink: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    url = (
        postgres_database("needling_bench_alerts")
        if name == "postgresql"
        else f"sqlite:///{workdir / 'bench.db'}"
    )
    config = Config.for_tests(url, workdir)
    app = create_app(config)
    now = datetime.now(UTC)
    alone = set_up(app, alerts=2 * args.alerts, now=now)
    inbox = Inbox()
    with smtp_server(inbox) as smtp_port:
        env = environment(url, workdir, config, smtp_port)
        web, base = start_web(env)
        worker = start_worker(env)
        try:
            time.sleep(3)  # the worker's start: its first pass finds nothing due
            print(f"{name}:")
            report("alone", run(base, alone[: args.alerts], inbox, args.spacing_ms / 1000))
            span = args.alerts * args.spacing_ms / 1000
            with app.app_context():
                treating = db.session.scalars(select(Clinician).filter_by(email=TREATING)).one()
                add_prompts(
                    db.session(),
                    treating,
                    count=args.prompts,
                    sink=sink,
                    start=datetime.now(UTC),
                    span_s=span,
                )
            sent_before = sink_count(sink)
            busy = run(base, alone[args.alerts :], inbox, args.spacing_ms / 1000)
            meanwhile = sink_count(sink) - sent_before
            report(f"while {args.prompts:,} due prompts go out", busy)
            print(f"  ({meanwhile:,} prompts reached the push service during those alerts)")
        finally:
            for process in (worker, web):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    with app.app_context():
        db.engine.dispose()
    if name == "postgresql":
        drop_postgres_database("needling_bench_alerts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--spacing-ms", type=float, default=100.0)
    parser.add_argument(
        "--databases", nargs="+", default=["postgresql", "sqlite"], choices=["postgresql", "sqlite"]
    )
    args = parser.parse_args()
    sink, sink_base = start_sink(20.0)
    print(
        f"machine: {os.cpu_count()} cores; gunicorn 2 workers; python -m jobs at its defaults "
        f"(ALERT_INTERVAL_S {Config.ALERT_INTERVAL_S:g} s); answers {args.spacing_ms:g} ms apart"
    )
    try:
        for name in args.databases:
            bench_database(name, args, sink_base)
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
