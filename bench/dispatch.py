"""How fast one worker sends due prompts, against the baselines the jobs issue names.

Prints, on PostgreSQL, with a local push service adding a fixed latency (default 20 ms):
- prompts/s sent by one worker (claim, encrypt, push in a pool, record) for 1,000 and 100,000
  due prompts (the median of a few runs, after an untimed warm-up pass, as by a worker already
  running), and the CPU time the worker, the push service and PostgreSQL each spent per prompt
  meanwhile (they share the machine's cores);
- the same for a plain sequential loop of ``pywebpush.webpush()`` calls (what a typical app
  writes), measured on a sample because it is slow;
- the encryption floor: prompts/s if only the per-message ECDH + aes128gcm work were done
  (measured before, between and after the worker runs; the median, as the machine's speed drifts);
- the transport ceiling: prompts/s of the worker's HTTP path alone (the sender's libcurl transfers,
  pool and batches, to the same push service) posting already-encrypted payloads, without
  encryption or database;
- the time of one claim with 10,000 and with 1,000,000 historical check-ins, the same number due.

    .venv/bin/python bench/dispatch.py [--sizes 1000 100000] [--latency-ms 20]

Uses (and drops) the database ``needling_bench_dispatch`` on TEST_POSTGRES_URL's server.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pywebpush
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from jobs.tasks import Worker, dispatch_due_checkins
from server import create_app
from server.config import Config
from server.extensions import db
from server.push import (
    EndpointPolicy,
    Notification,
    Post,
    PushSender,
    Target,
    push_headers,
)
from server.services.delivery import PROMPT, claim
from server.services.mail import Mailer
from tests.databases import POSTGRES_URL, drop_postgres_database, postgres_database

DATABASE_NAME = "needling_bench_dispatch"  # named after the bench; dropped at its end
DUE = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NOTE = Notification(
    checkin_id=123456,
    title="Time for your check-in",
    body="A few quick questions about how you feel since your visit.",
    url="/checkin/123456",
    ttl_s=7200,
    urgency="high",
)


def browser_keys() -> tuple[str, str]:
    """A subscription's p256dh and auth, as a browser would make them."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    encode = base64.urlsafe_b64encode
    return encode(point).rstrip(b"=").decode(), encode(os.urandom(16)).rstrip(b"=").decode()


def start_sink(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    """The local push service in its own process; returns it and its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = subprocess.Popen(  # noqa: S603 - our own script
        [
            sys.executable,
            str(Path(__file__).parent / "push_sink.py"),
            str(port),
            str(latency_ms),
        ]
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/count", timeout=1)  # noqa: S310 - our own sink
            return sink, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the push sink did not start")


def sink_count(base: str, reset: bool = False) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own sink
        f"{base}/{'reset' if reset else 'count'}", method="POST" if reset else "GET"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our own sink
        return int(json.load(answer)["count"])


def fill(*, due: int, history: int, base: str, keys: tuple[str, str]) -> None:
    """A fresh schema with ``due`` prompts due at DUE and ``history`` answered/missed ones."""
    db.drop_all()
    db.create_all()
    params = {
        "due": due,
        "history": history,
        "base": base,
        "p256dh": keys[0],
        "auth": keys[1],
        "t0": DUE - timedelta(hours=2),
        "due_at": DUE,
        "expires": DUE + timedelta(hours=2),
    }
    for statement in FILL_SQL:
        db.session.execute(text(statement), params)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


FILL_SQL = (
    """INSERT INTO clinics (id, name, timezone, created_at)
       VALUES (1, 'Bench', 'UTC', now())""",
    """INSERT INTO patients (id, clinic_id, code, timezone, created_at)
       SELECT g, 1, 'B' || g, 'UTC', now() FROM generate_series(1, :due + 1) g""",
    """INSERT INTO push_subscriptions (id, patient_id, endpoint, p256dh, auth, created_at)
       SELECT g, g, :base || '/push/' || g, :p256dh, :auth, now()
       FROM generate_series(1, :due) g""",
    """INSERT INTO treatments (id, clinic_id, patient_id, modality, treated_at, regions, protocol,
                               created_at)
       SELECT g, 1, g, 'ims', :t0, '[]', '[]', now() FROM generate_series(1, :due) g""",
    """INSERT INTO checkins (treatment_id, slot, nominal_hours, items, due_at, expires_at, status,
                             next_attempt_at, attempts)
       SELECT g, '2h', 2, '["soreness"]', :due_at, :expires, 'scheduled', :due_at, 0
       FROM generate_series(1, :due) g""",
    # history: one patient's past treatments, each with five answered or missed check-ins
    """INSERT INTO treatments (id, clinic_id, patient_id, modality, treated_at, regions, protocol,
                               created_at)
       SELECT :due + g, 1, :due + 1, 'ims', :t0 - interval '1 day' * (g % 3000), '[]', '[]', now()
       FROM generate_series(1, :history / 5) g""",
    """INSERT INTO checkins (treatment_id, slot, nominal_hours, items, due_at, expires_at, status,
                             sent_at, answered_at, attempts)
       SELECT :due + 1 + (g / 5), 's' || (g % 5), 2, '["soreness"]',
              :t0 - interval '1 day' * (g % 3000),
              :t0 - interval '1 day' * (g % 3000) + interval '2 hours',
              CASE WHEN g % 4 = 0 THEN 'missed' ELSE 'answered' END, :t0, NULL, 1
       FROM generate_series(0, :history - 1) g""",
)


def encryption_floor(keys: tuple[str, str], count: int = 3000) -> float:
    """Prompts/s of the per-message work alone: a fresh ECDH key and aes128gcm encryption."""
    subscription = {
        "endpoint": "https://example.invalid/x",
        "keys": {"p256dh": keys[0], "auth": keys[1]},
    }
    payload = NOTE.payload()
    started = time.perf_counter()
    for _ in range(count):
        pywebpush.WebPusher(subscription).encode(payload, "aes128gcm")
    return count / (time.perf_counter() - started)


def transport_ceiling(
    sender: PushSender, base: str, keys: tuple[str, str], *, count: int, batch: int
) -> float:
    """Prompts/s of the worker's HTTP path alone: the sender's libcurl transfers (same pool
    and timeout), a batch at a time as the worker sends, one payload encrypted once for all."""
    subscription = {"endpoint": f"{base}/push/0", "keys": {"p256dh": keys[0], "auth": keys[1]}}
    body = pywebpush.WebPusher(subscription).encode(NOTE.payload(), "aes128gcm")["body"]
    headers = push_headers(NOTE, sender.authorization(base))
    posts = [Post(Target(n, f"{base}/push/{n}", *keys), body, headers) for n in range(count)]
    started = time.perf_counter()
    for start in range(0, count, batch):
        if not all(result.is_sent for result in sender.post_all(posts[start : start + batch])):
            raise RuntimeError("the push sink refused a message")
    return count / (time.perf_counter() - started)


def sequential_baseline(base: str, keys: tuple[str, str], pem_path: str, count: int) -> float:
    """Prompts/s of a plain loop of pywebpush.webpush() calls, one after another."""
    payload = NOTE.payload().decode()
    started = time.perf_counter()
    for number in range(count):
        pywebpush.webpush(
            {"endpoint": f"{base}/push/{number}", "keys": {"p256dh": keys[0], "auth": keys[1]}},
            data=payload,
            vapid_private_key=pem_path,
            vapid_claims={"sub": "mailto:bench@example.org"},
            ttl=7200,
        )
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class WorkerRun:
    """One worker draining the due prompts: its rate, and the CPU time each process spent per
    prompt meanwhile (the machine's cores are shared by the worker, the push service and
    PostgreSQL)."""

    rate: float
    cpu_us: dict[str, float]


def worker_run(
    app_worker: Worker, sink: subprocess.Popen[bytes], base: str, keys: tuple[str, str], size: int
) -> WorkerRun:
    """One worker draining ``size`` due prompts, checked against the sink's count."""
    with app_worker.app.app_context():
        fill(due=size, history=0, base=base, keys=keys)
    sink_count(base, reset=True)
    processes = {
        "worker": lambda: cpu_seconds(os.getpid()),
        "push service": lambda: cpu_seconds(sink.pid),
        "PostgreSQL": postgres_cpu_seconds,
    }
    before = {name: read() for name, read in processes.items()}
    started = time.perf_counter()
    sent = dispatch_due_checkins(app_worker, DUE)
    elapsed = time.perf_counter() - started
    spent = {name: (read() - before[name]) / size * 1e6 for name, read in processes.items()}
    arrived = sink_count(base)
    if sent != size or arrived != size:
        raise RuntimeError(f"expected {size} prompts, claimed {sent}, the sink got {arrived}")
    return WorkerRun(size / elapsed, spent)


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (the bench's server is local)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith("postgres"):
                total += cpu_seconds(comm.parent.name)
        except OSError:  # a process that ended meanwhile
            continue
    return total


def claim_time(
    app_worker: Worker, base: str, keys: tuple[str, str], history: int, due: int
) -> float:
    """Median seconds of one claim of ``due`` prompts among ``history`` past check-ins."""
    with app_worker.app.app_context():
        fill(due=due, history=history, base=base, keys=keys)
        times = []
        for _ in range(7):
            started = time.perf_counter()
            ids = claim(
                db.session(),
                purpose=PROMPT,
                now=DUE,
                worker="bench",
                limit=due,
                lease=timedelta(minutes=2),
            )
            times.append(time.perf_counter() - started)
            db.session.rollback()  # the same claim again, from the same state
            if len(ids) != due:
                raise RuntimeError(f"claimed {len(ids)} of {due}")
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--sequential",
        type=int,
        default=500,
        help="how many sequential webpush() calls to time (the rate is per call)",
    )
    parser.add_argument(
        "--transport", type=int, default=20_000, help="how many posts time the transport ceiling"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="worker runs of each size; the median is printed"
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=200,
        help="prompts drained, untimed, before the timed runs, as by a worker already running",
    )
    parser.add_argument("--history", type=int, nargs=2, default=[10_000, 1_000_000])
    parser.add_argument("--claim-due", type=int, default=200)
    parser.add_argument("--batch", type=int, default=Config.DISPATCH_BATCH)
    parser.add_argument("--pool", type=int, default=Config.PUSH_POOL_SIZE)
    args = parser.parse_args()
    if args.repeats % 2 == 0:
        parser.error("--repeats must be odd: the middle run is printed")

    url = postgres_database(DATABASE_NAME)
    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    config = Config.for_tests(url, workdir).with_overrides(
        DISPATCH_BATCH=args.batch, PUSH_POOL_SIZE=args.pool, PUSH_ALLOW_LOCAL=True
    )
    app = create_app(config)
    pem_path = workdir / "vapid.pem"
    pem_path.write_text(config.VAPID_PRIVATE_KEY)
    sender = PushSender(
        private_pem=config.VAPID_PRIVATE_KEY,
        subject=config.VAPID_SUBJECT,
        policy=EndpointPolicy(allow_local=True),
        pool_size=args.pool,
    )
    app_worker = Worker(app=app, sender=sender, mailer=Mailer(host="", port=0, sender=""))
    gc.collect()  # as python -m jobs does before its scheduler starts
    gc.freeze()
    keys = browser_keys()
    sink, base = start_sink(args.latency_ms)
    try:
        print(
            f"machine: {os.cpu_count()} cores; PostgreSQL at {POSTGRES_URL}; "
            f"push service latency {args.latency_ms:g} ms; batch {args.batch}, pool {args.pool}"
        )
        floors = [encryption_floor(keys)]  # measured again beside each worker run: the median
        ceiling = transport_ceiling(sender, base, keys, count=args.transport, batch=args.batch)
        print(f"transport ceiling (HTTP only, pre-encrypted):  {ceiling:8.0f} prompts/s")
        baseline = sequential_baseline(base, keys, str(pem_path), args.sequential)
        print(
            f"sequential pywebpush.webpush() loop ({args.sequential} sent): "
            f"{baseline:8.1f} prompts/s"
        )
        # a running worker has compiled its statements and opened its connections: so has this
        worker_run(app_worker, sink, base, keys, args.warm_up)
        runs: dict[int, list[WorkerRun]] = {}
        for size in args.sizes:
            for _ in range(args.repeats):
                floors.append(encryption_floor(keys))
                runs.setdefault(size, []).append(worker_run(app_worker, sink, base, keys, size))
        floors.append(encryption_floor(keys))
        floor = statistics.median(floors)
        print(
            f"encryption floor (ECDH + aes128gcm only):      {floor:8.0f} prompts/s"
            f"   (median of {len(floors)}, taken between the runs: "
            f"{', '.join(f'{value:.0f}' for value in floors)})"
        )
        for size, repeated in runs.items():
            rates = sorted(run.rate for run in repeated)
            run = sorted(repeated, key=lambda run: run.rate)[len(repeated) // 2]
            rate = run.rate
            print(
                f"one worker, {size:>7,} due prompts:            {rate:8.0f} prompts/s"
                f"   = {rate / baseline:5.1f}x sequential, {rate / floor:4.2f} of the floor"
                f"   (targets: >= 500/s, >= 10x, >= 0.5 of the floor)"
            )
            print(
                f"    median of {len(rates)} runs: {', '.join(f'{value:.0f}' for value in rates)}"
                f" prompts/s = {', '.join(f'{value / floor:.2f}' for value in rates)} of the floor"
            )
            spent = ", ".join(f"{name} {us:.0f}" for name, us in run.cpu_us.items())
            print(
                f"    CPU µs per prompt (the median run): {spent}; wall {1e6 / rate:.0f} µs "
                f"(the encryption alone: {1e6 / floor:.0f} µs)"
            )
        small, large = (
            claim_time(app_worker, base, keys, history, args.claim_due) for history in args.history
        )
        print(
            f"one claim of {args.claim_due} due: {small * 1000:7.1f} ms with {args.history[0]:,} "
            f"past check-ins, {large * 1000:7.1f} ms with {args.history[1]:,}; "
            f"ratio {large / small:4.2f} (target < 1.5)"
        )
    finally:
        sink.terminate()
        sender.close()
        with app.app_context():
            db.engine.dispose()
        drop_postgres_database(DATABASE_NAME)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
