"""A push service answering 500 for five minutes: back-off, no tight loop, every prompt sent.

The worker runs as ``python -m jobs`` at its default settings (a look for due prompts every
DISPATCH_INTERVAL_S, 10 s; RETRY_MAX_ATTEMPTS 5 from RETRY_BASE_S 30 s). ``--due`` prompts are
due when the outage begins and ``--during`` more fall due one after another across it. The local
push service (tests/push_service.py, in this process: it decrypts every message and checks its
VAPID signature) answers 500 to every message for ``--outage-s`` seconds, then 201. The bench
prints the push service's requests per minute with their answers, how many attempts each prompt
took, when each was delivered (after its due time and after the outage's end) and any given up.
It stops once every prompt is sent or given up, or after ``--limit-s``.

    .venv/bin/python bench/fault_push_outage.py [--due 100] [--during 100] [--outage-s 300]
        [--database sqlite|postgresql]

SQLite in a temporary directory ``bench-push-outage-*``, removed at the end; or the PostgreSQL
database ``needling_bench_push_outage``, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from sqlalchemy import select

from server import create_app
from server.config import REPO_ROOT, Config
from server.extensions import db
from server.models import CheckIn
from tests import push_service
from tests.databases import drop_postgres_database, postgres_database
from tests.factories import make_clinician, make_patient, make_treatment
from tests.test_dispatch import subscribe_local

DATABASE_NAME = "needling_bench_push_outage"  # named after the bench; dropped at its end


def set_up(
    app: Flask,
    push: push_service.PushService,
    *,
    due: int,
    during: int,
    start: datetime,
    outage_s: float,
) -> None:
    """``due`` subscribed patients whose IMS 2 h check-in is due at ``start``, and ``during``
    more whose 2 h check-ins fall due one after another across the outage."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        session = db.session()
        clinician = make_clinician(session)
        for number in range(due + during):
            later = 0.0 if number < due else outage_s * (number - due) / max(during, 1)
            patient = make_patient(session, clinician, code=f"P-{number:04d}", quiet_hours=None)
            subscribe_local(session, patient, push.subscribe())
            treated_at = start - timedelta(hours=2) + timedelta(seconds=later)
            make_treatment(
                session, clinician, patient, modality="ims", treated_at=treated_at, now=start
            )
        session.commit()


def states(app: Flask, ids: set[int]) -> tuple[dict[int, datetime], int]:
    """When each prompt was sent (of those sent), and how many were given up."""
    with app.app_context():
        rows = db.session.execute(
            select(CheckIn.id, CheckIn.status, CheckIn.sent_at, CheckIn.next_attempt_at).where(
                CheckIn.id.in_(ids)
            )
        ).all()
        db.session.remove()
    sent = {row.id: row.sent_at for row in rows if row.status == "sent"}
    gave_up = sum(row.status == "scheduled" and row.next_attempt_at is None for row in rows)
    return sent, gave_up


def start_worker(url: str, workdir: Path, config: Config) -> subprocess.Popen[bytes]:
    """``python -m jobs`` at its default settings, on the bench's database."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(workdir),
        "SECRET_KEY": config.SECRET_KEY,
        "VAPID_PRIVATE_KEY": config.VAPID_PRIVATE_KEY,
        "PUSH_ALLOW_LOCAL": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "jobs"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def report(
    push: push_service.PushService,
    ids: set[int],
    due_at: dict[int, datetime],
    sent: dict[int, datetime],
    gave_up: int,
    began: float,
    outage_end: datetime,
    outage_s: float,
) -> None:
    """The push service's requests per minute, attempts per prompt, delivery times."""
    with push.lock:
        received = [m for m in push.received if m.payload.get("checkin_id") in ids]
    print("\nrequests to the push service per minute since the outage began")
    print("| minute | requests | answered 500 | answered 201 |")
    print("| --- | --- | --- | --- |")
    minutes = Counter(int((m.at - began) // 60) for m in received)
    for minute in range(max(minutes, default=0) + 1):
        answers = Counter(m.answered for m in received if int((m.at - began) // 60) == minute)
        print(f"| {minute} | {minutes[minute]} | {answers[500]} | {answers[201]} |")
    during = [m for m in received if m.at - began < outage_s]
    busiest = max(
        (
            sum(1 for m in during if start <= m.at - began < start + 10)
            for start in range(0, int(outage_s), 5)
        ),
        default=0,
    )
    print(
        f"\nduring the outage: {len(during)} requests for {len(ids)} prompts "
        f"({len(during) / len(ids):.2f} a prompt); the busiest 10 s held {busiest}"
    )
    attempts = Counter(Counter(m.payload["checkin_id"] for m in received).values())
    print(
        "attempts per prompt: "
        + ", ".join(
            f"{count} prompts {n} attempt{'s' if n > 1 else ''}"
            for n, count in sorted(attempts.items())
        )
    )
    print(
        f"prompts: {len(ids)}; sent {len(sent)}; given up {gave_up}; "
        f"neither yet {len(ids) - len(sent) - gave_up}"
    )
    delivered = sorted(sent.values())
    if delivered:
        after_end = [(moment - outage_end).total_seconds() for moment in delivered]
        late = [(sent[i] - due_at[i]).total_seconds() for i in sent]
        print(
            "sent after the outage ended: first "
            f"{min(after_end):.0f} s, median {statistics.median(after_end):.0f} s, "
            f"last {max(after_end):.0f} s"
        )
        print(
            "sent after falling due: "
            f"median {statistics.median(late):.0f} s, longest {max(late):.0f} s "
            "(each window is open 2 h)"
        )
        early = sum(moment < outage_end for moment in delivered)
        print(f"sent while the outage lasted (should be 0): {early}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=100, help="prompts due when the outage begins")
    parser.add_argument("--during", type=int, default=100, help="prompts falling due during it")
    parser.add_argument("--outage-s", type=float, default=300.0)
    parser.add_argument("--limit-s", type=float, default=1200.0, help="give up the bench after")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"python -m jobs at its defaults (DISPATCH_INTERVAL_S {Config.DISPATCH_INTERVAL_S} s, "
        f"RETRY_MAX_ATTEMPTS {Config.RETRY_MAX_ATTEMPTS} from RETRY_BASE_S "
        f"{Config.RETRY_BASE_S:g} s); "
        f"{args.database}; the push service answers 500 for {args.outage_s:g} s",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-push-outage-"))
    push = push_service.PushService()
    server = push_service.start(push)
    url = (
        postgres_database(DATABASE_NAME)
        if args.database == "postgresql"
        else f"sqlite:///{workdir / 'bench.db'}"
    )
    config = Config.for_tests(url, workdir)
    app = create_app(config)
    worker = None
    try:
        start = datetime.now(UTC) + timedelta(seconds=5)  # the worker's start, about
        set_up(app, push, due=args.due, during=args.during, start=start, outage_s=args.outage_s)
        with app.app_context():
            rows = db.session.execute(select(CheckIn.id, CheckIn.due_at).filter_by(slot="2h")).all()
            db.session.remove()
        due_at = {row.id: row.due_at for row in rows}
        ids = set(due_at)
        push.outage_status = 500
        began = time.monotonic()
        outage_end = datetime.now(UTC) + timedelta(seconds=args.outage_s)
        threading.Timer(args.outage_s, lambda: setattr(push, "outage_status", None)).start()
        worker = start_worker(url, workdir, config)
        sent: dict[int, datetime] = {}
        gave_up = 0
        while time.monotonic() - began < args.limit_s:
            time.sleep(5)
            sent, gave_up = states(app, ids)
            elapsed = time.monotonic() - began
            if int(elapsed) % 60 < 5:
                print(f"  {elapsed:4.0f} s: {len(sent)} sent, {gave_up} given up", flush=True)
            if len(sent) + gave_up == len(ids):
                break
        report(push, ids, due_at, sent, gave_up, began, outage_end, args.outage_s)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        server.shutdown()
        with app.app_context():
            db.engine.dispose()
        if args.database == "postgresql":
            drop_postgres_database(DATABASE_NAME)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
