"""A soak: the whole service at a fixed rate for minutes, its errors, latency and memory.

For each database, the bench loads its own data (``--history`` past check-ins of other patients,
as bench/load.py loads them, and enough enrolled patients to answer, each treated 7 hours ago
with one check-in open now and the rest of the protocol to come, all in one clinic), serves the
app with gunicorn as the Procfile does (2 workers, access log on), runs ``python -m jobs`` at its
default settings beside it, and sends requests at a fixed rate (``--rate`` a second, open loop:
each request leaves at its own time, whether the one before has come back or not), in a fixed
mix, for ``--minutes``:
- 4 in 10: patients' answers, ``POST /api/v1/me/checkins/{id}/response``;
- 4 in 10: patients' check-in lists, ``GET /api/v1/me/checkins``;
- 1 in 10: the Today page, ``GET /clinic/``, and 1 in 10 a patient's page, of a clinician
  signed in.
Meanwhile ``--prompts`` a second fall due, each for a patient subscribed to a local push
service (bench/push_sink.py, 20 ms a push), which the worker dispatches.

It prints the statuses of every request (the target is no error), p50 and p99 of each minute
(from the moment each request was due to leave, so a queue in the server shows), the prompts
the push service received, and the resident memory (RSS) of every process: the gunicorn
master, each of its workers and the worker process, at minute ``--memory-from`` (2) and at the
end, with the growth (target < 10 %).

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 5] [--prompts 5]
        [--databases sqlite postgresql]

Uses (and drops) the PostgreSQL database ``needling_bench_soak``; SQLite in a temporary
directory ``bench-soak-*``, removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text

from bench.dispatch import browser_keys, sink_count, start_sink
from bench.load import (
    ANSWER,
    Target,
    Template,
    add_patients,
    add_treatments,
    bench_environment,
    bulk,
    load_history,
    start_web,
    template,
)
from server import create_app
from server.config import REPO_ROOT, Config
from server.extensions import db
from server.models import (
    CheckIn,
    Clinician,
    Patient,
    PatientToken,
    PushSubscription,
    Treatment,
    TreatmentOutcome,
)
from server.services.access import start_session
from server.services.credentials import new_token, token_digest
from tests.databases import drop_postgres_database, postgres_database

DATABASE_NAME = "needling_bench_soak"  # named after the bench; dropped at its end
CLIENTS = 32  # threads sending the requests: enough that none waits for a free one
MIX = ("answer", "list") * 4 + ("Today", "patient page")  # one cycle of the fixed mix
KINDS = ("answer", "list", "Today", "patient page")


@dataclass(frozen=True)
class Setup:
    """What the clients use: open check-ins to answer, devices, the clinician's cookie."""

    config: Config
    targets: list[Target]
    patient_ids: list[int]
    cookie: str


def load_patients(shape: Template, count: int, now: datetime) -> list[Target]:
    """``count`` enrolled patients, each treated 7 hours ago with one check-in open now (the
    rest of the protocol still to come) and a device token: what the clients answer and list."""
    patient_ids = add_patients(shape, "A", count)
    tokens = {patient_id: new_token() for patient_id in patient_ids}
    bulk(
        (
            {"patient_id": patient_id, "token_hash": token_digest(token), "created_at": now}
            for patient_id, token in tokens.items()
        ),
        PatientToken,
    )
    treated_at = now - timedelta(hours=7)
    treatment_ids = add_treatments(shape, patient_ids, treated_at, per_patient=1)
    bulk(({"treatment_id": treatment_id} for treatment_id in treatment_ids), TreatmentOutcome)

    def checkins() -> Iterator[dict[str, Any]]:
        for treatment_id in treatment_ids:
            for number, (slot, hours, items) in enumerate(shape.slots):
                due = treated_at + timedelta(hours=hours)
                is_open = number == 0
                closes = now + timedelta(hours=6) if is_open else due + timedelta(hours=12)
                yield {
                    "treatment_id": treatment_id,
                    "slot": slot,
                    "nominal_hours": hours,
                    "items": ["soreness", "pain"] if is_open else items,
                    "due_at": now - timedelta(hours=1) if is_open else due,
                    "expires_at": closes,
                    "status": "sent" if is_open else "scheduled",
                    "sent_at": now - timedelta(hours=1) if is_open else None,
                    "next_attempt_at": None if is_open else due,
                }

    bulk(checkins(), CheckIn)
    query = (
        select(CheckIn.id, Treatment.patient_id)
        .join(Treatment)
        .where(Treatment.id.in_(treatment_ids), CheckIn.status == "sent")
        .order_by(CheckIn.id)
    )
    return [Target(row.id, f"Bearer {tokens[row.patient_id]}") for row in db.session.execute(query)]


def prepare(url: str, history: int, answers: int, workdir: Path) -> Setup:
    """bench/load.py's history, patients to answer, and a signed-in clinician, analyzed."""
    config = Config.for_tests(url, workdir)
    app = create_app(config)
    now = datetime.now(UTC)
    with app.app_context():
        db.drop_all()
        db.create_all()
        shape = template(now)
        load_history(shape, history, now)
        targets = load_patients(shape, answers, now)
        session = db.session()
        clinician = session.get_one(Clinician, shape.clinician_id)
        started = start_session(session, clinician=clinician, now=now)
        session.commit()
        query = select(Patient.id).where(Patient.code.like("A-%")).order_by(Patient.id)
        patient_ids = list(session.scalars(query))
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        signed = serializer.dumps({"session_token": started.token})
        cookie = f"{app.config['SESSION_COOKIE_NAME']}={signed}"
        with db.engine.begin() as connection:  # the bench must not wait for autovacuum
            connection.execute(text("ANALYZE"))
        db.session.remove()
        db.engine.dispose()
    return Setup(config, targets, patient_ids, cookie)


def add_prompts(config: Config, sink: str, *, count: int, start: datetime, span_s: float) -> None:
    """``count`` patients subscribed to the push service, each with one check-in falling due
    between ``start`` and ``span_s`` seconds later, evenly."""
    app = create_app(config)
    p256dh, auth = browser_keys()
    with app.app_context():
        session = db.session()
        clinician = session.scalars(select(Clinician)).one()
        template = session.scalars(select(Treatment).order_by(Treatment.id).limit(1)).one()
        first = session.scalars(select(CheckIn).where(CheckIn.treatment_id == template.id)).first()
        assert first is not None  # noqa: S101 - the template treatment has its check-ins
        bulk(
            (
                {"clinic_id": clinician.clinic_id, "code": f"S-{n}", "timezone": "UTC"}
                for n in range(count)
            ),
            Patient,
        )
        query = select(Patient.id).where(Patient.code.like("S-%")).order_by(Patient.id)
        patient_ids = list(session.scalars(query))
        bulk(
            (
                {
                    "patient_id": patient_id,
                    "endpoint": f"{sink}/push/{patient_id}",
                    "p256dh": p256dh,
                    "auth": auth,
                    "created_at": start,
                }
                for patient_id in patient_ids
            ),
            PushSubscription,
        )
        before = session.scalar(select(Treatment.id).order_by(Treatment.id.desc()).limit(1)) or 0
        bulk(
            (
                {
                    "clinic_id": clinician.clinic_id,
                    "clinician_id": clinician.id,
                    "patient_id": patient_id,
                    "modality": template.modality,
                    "treated_at": start - timedelta(hours=first.nominal_hours),
                    "regions": ["neck"],
                    "thoracic_region": False,
                    "protocol": template.protocol,
                }
                for patient_id in patient_ids
            ),
            Treatment,
        )
        query = select(Treatment.id).where(Treatment.id > before).order_by(Treatment.id)
        treatment_ids = list(session.scalars(query))

        def checkins() -> Iterator[dict[str, Any]]:
            for number, treatment_id in enumerate(treatment_ids):
                due = start + timedelta(seconds=span_s * number / count)
                yield {
                    "treatment_id": treatment_id,
                    "slot": first.slot,
                    "nominal_hours": first.nominal_hours,
                    "items": first.items,
                    "due_at": due,
                    "expires_at": due + timedelta(hours=2),
                    "next_attempt_at": due,
                    "status": "scheduled",
                }

        bulk(checkins(), CheckIn)
        db.session.remove()
        db.engine.dispose()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m jobs`` at its default settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "jobs"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux /proc), None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def processes(web: subprocess.Popen[bytes], worker: subprocess.Popen[bytes]) -> dict[str, int]:
    """Each process by its role: the gunicorn master, its workers (by pid), the job worker."""
    try:
        with open(f"/proc/{web.pid}/task/{web.pid}/children") as children:
            workers = sorted(int(pid) for pid in children.read().split())
    except OSError:
        workers = []
    return {
        "gunicorn master": web.pid,
        **{f"gunicorn worker {pid}": pid for pid in workers},
        "python -m jobs": worker.pid,
    }


Request = tuple[str, str, bytes | None, dict[str, str]]


@dataclass
class Record:
    """What the clients saw: per minute and kind, each latency; every status by kind."""

    latencies: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, minute: int, kind: str, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            self.latencies.setdefault((minute, kind), []).append(seconds)


def request_makers(setup: Setup) -> dict[str, Callable[[random.Random], Request]]:
    """How each kind of request is made."""
    targets = iter(setup.targets)
    lock = threading.Lock()
    devices = [target.authorization for target in setup.targets]

    def answer(_: random.Random) -> Request:
        with lock:
            target = next(targets)
        body = json.dumps({"client_id": str(uuid.uuid4()), "answers": ANSWER}).encode()
        headers = {"Authorization": target.authorization, "Content-Type": "application/json"}
        return "POST", f"/api/v1/me/checkins/{target.checkin_id}/response", body, headers

    def checkin_list(pick: random.Random) -> Request:
        return "GET", "/api/v1/me/checkins", None, {"Authorization": pick.choice(devices)}

    page_headers = {"Cookie": setup.cookie, "Accept-Encoding": "gzip"}

    def today(_: random.Random) -> Request:
        return "GET", "/clinic/", None, page_headers

    def patient_page(pick: random.Random) -> Request:
        return "GET", f"/clinic/patients/{pick.choice(setup.patient_ids)}", None, page_headers

    return {"answer": answer, "list": checkin_list, "Today": today, "patient page": patient_page}


def drive(port: int, setup: Setup, rate: float, seconds: float, record: Record) -> None:
    """Send the mix at ``rate`` a second for ``seconds``: a pacer puts each request on a queue
    at its time, ``CLIENTS`` threads send them."""
    makers = request_makers(setup)
    due: queue.Queue[tuple[float, str] | None] = queue.Queue()
    start = time.monotonic()

    def client(number: int) -> None:
        pick = random.Random(number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (item := due.get()) is not None:
            at, kind = item
            method, path, body, headers = makers[kind](pick)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                status = type(error).__name__
            record.add(int((at - start) // 60), kind, status, time.monotonic() - at)
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for number, kind in enumerate(itertools.cycle(MIX)):
        at = start + number / rate
        if at - start >= seconds:
            break
        time.sleep(max(0.0, at - time.monotonic()))
        due.put((at, kind))
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def watch_memory(
    roles: Callable[[], dict[str, int]], seconds: float, sample_s: float, stop: threading.Event
) -> dict[int, dict[str, float | None]]:
    """RSS of every process at each ``sample_s`` from the start, until ``stop``."""

    def sample() -> dict[str, float | None]:
        return {role: rss_mb(pid) for role, pid in roles().items()}

    samples = {0: sample()}
    start = time.monotonic()
    for tick in itertools.count(1):
        if stop.wait(max(0.0, start + tick * sample_s - time.monotonic())):
            break
        samples[tick] = sample()
        if tick * sample_s >= seconds:
            break
    return samples


def report(
    record: Record,
    minutes: int,
    memory: dict[int, dict[str, float | None]],
    memory_from: int,
    prompts: tuple[int, int],
) -> None:
    print("  statuses (target: every answer 201, every page and list 200):")
    for kind in KINDS:
        counts = {status: n for (k, status), n in sorted(record.statuses.items()) if k == kind}
        print(f"    {kind:<13} " + ", ".join(f"{status}: {n:,}" for status, n in counts.items()))
    print("  per minute: requests, p50 / p99 ms of all, then p99 ms of each kind")
    print("    min  requests  p50 all  p99 all   " + "  ".join(f"{k:>12}" for k in KINDS))
    for minute in range(minutes):
        every = list(
            itertools.chain.from_iterable(record.latencies.get((minute, k), []) for k in KINDS)
        )
        if not every:
            continue
        each = "  ".join(
            f"{percentile(record.latencies[(minute, k)], 0.99) * 1000:12.0f}"
            if record.latencies.get((minute, k))
            else f"{'-':>12}"
            for k in KINDS
        )
        print(
            f"    {minute + 1:>3}  {len(every):>8,}  {statistics.median(every) * 1000:7.0f}"
            f"  {percentile(every, 0.99) * 1000:7.0f}   {each}"
        )
    due, received = prompts
    print(f"  prompts: {due:,} fell due during the run; the push service received {received:,}")
    print(f"  resident memory (MB) each minute; growth from minute {memory_from} to the end:")
    roles = list(dict.fromkeys(itertools.chain.from_iterable(memory.values())))
    last = max(memory)
    print(f"    {'minute':<24} " + " ".join(f"{minute:>6}" for minute in sorted(memory)))
    for role in roles:
        series = [memory[minute].get(role) for minute in sorted(memory)]
        shown = " ".join(f"{mb:6.1f}" if mb is not None else "     -" for mb in series)
        early, late = memory.get(memory_from, {}).get(role), memory[last].get(role)
        growth = f"{(late / early - 1) * 100:+6.1f} %" if early and late else "     -"
        print(f"    {role:<24} {shown}   {growth}")


def soak(database: str, args: argparse.Namespace, sink: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    url = (
        postgres_database(DATABASE_NAME)
        if database == "postgresql"
        else f"sqlite:///{workdir / 'bench-soak.db'}"
    )
    try:
        began = time.monotonic()
        seconds = args.minutes * 60
        answers = round(args.rate * seconds * MIX.count("answer") / len(MIX)) + 100
        setup = prepare(url, args.history, answers, workdir)
        start = datetime.now(UTC) + timedelta(seconds=15)  # after the processes have started
        count = round(args.prompts * seconds)
        add_prompts(setup.config, sink, count=count, start=start, span_s=seconds)
        print(
            f"{database}: loaded in {time.monotonic() - began:.0f} s ({args.history:,} past "
            f"check-ins, {len(setup.targets):,} open to answer, {count:,} prompts to fall due)",
            flush=True,
        )
        env = {
            **bench_environment(setup.config, url),
            "PUSH_ALLOW_LOCAL": "1",
            "PUBLIC_BASE_URL": "http://127.0.0.1",
        }
        web, port = start_web(setup.config, url, 2, env)
        worker = start_worker(env)
        try:
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
            sent_before = sink_count(sink)
            record = Record()
            stop = threading.Event()
            memory: dict[int, dict[str, float | None]] = {}
            watcher = threading.Thread(
                target=lambda: memory.update(
                    watch_memory(lambda: processes(web, worker), seconds, 60.0, stop)
                )
            )
            watcher.start()
            try:
                drive(port, setup, args.rate, seconds, record)
            finally:
                watcher.join(timeout=seconds + 120)
                stop.set()
            # the prompts due by the end: the worker looks every DISPATCH_INTERVAL_S
            deadline = time.monotonic() + 3 * setup.config.DISPATCH_INTERVAL_S
            while sink_count(sink) - sent_before < count and time.monotonic() < deadline:
                time.sleep(1)
            received = sink_count(sink) - sent_before
            print(f"  load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
            report(
                record,
                args.minutes,
                memory,
                min(args.memory_from, args.minutes),
                (count, received),
            )
        finally:
            for process in (worker, web):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    finally:
        if database == "postgresql":
            drop_postgres_database(DATABASE_NAME)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0, help="requests a second, all kinds")
    parser.add_argument("--prompts", type=float, default=5.0, help="prompts falling due a second")
    parser.add_argument("--history", type=int, default=10_000, help="past check-ins")
    parser.add_argument(
        "--memory-from", type=int, default=2, help="the minute memory growth is measured from"
    )
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    sink, sink_base = start_sink(20.0)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"gunicorn 2 workers and python -m jobs; {args.rate:g} requests/s for {args.minutes} min "
        f"({', '.join(f'{MIX.count(k)}/{len(MIX)} {k}' for k in KINDS)}); "
        f"{args.prompts:g} prompts/s falling due"
    )
    try:
        for database in args.databases:
            soak(database, args, sink_base)
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
