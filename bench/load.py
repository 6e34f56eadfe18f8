"""Patients' answers per second under load, against the floor of the same app, as history grows.

For each size of history (``--sizes``, default 10,000 and 1,000,000 past check-ins of other
patients) and each database, the bench loads its own database (bulk INSERTs, executemany in
chunks), runs ANALYZE, serves the app with gunicorn as the Procfile does (2 workers; on SQLite
also 1, for the "two workers answer at least 1.2x as many as one" comparison) and drives it for
``--duration`` seconds at each of ``--clients`` (default 8 and 32) keep-alive HTTP clients
(gunicorn's sync workers close each connection: a client reconnects), sent by wrk when it is
installed (``bench/wrk.py``; ``--client python`` for threads with http.client, which on two
cores take a core from the server they measure):
- the trivial GET, ``GET /api/v1/push/key``;
- the minimal write, ``POST /bench/write``: one INSERT, one commit, the floor for any write
  (registered only under ``BENCH_ENDPOINTS``, which the bench sets for its own servers);
- patients' answers, ``POST /api/v1/me/checkins/{id}/response``, each to a check-in of its own
  (the patients have some thousands open, each with its device token).
It prints requests/s and p50/p99 of each, then the ratios the issue sets targets for, each
against figures of the same run: answers / minimal write (>= 0.5), answers at the largest size /
answers at the smallest (>= 0.8), SQLite 2 workers / 1 worker (>= 1.2).

    .venv/bin/python bench/load.py [--sizes 10000 1000000] [--duration 8] [--clients 8 32]
        [--databases sqlite postgresql] [--client wrk|python]

Uses (and drops) the PostgreSQL database ``needling_bench_load``; SQLite in a temporary
directory ``bench-load-*``, removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import JSON, func, insert, literal, select, text

from bench import wrk
from bench.alerts import free_port
from server import create_app
from server.config import REPO_ROOT, Config
from server.extensions import db
from server.models import (
    Answer,
    CheckIn,
    Patient,
    PatientToken,
    Response,
    Treatment,
    TreatmentOutcome,
)
from server.services.clinics import create_clinic, create_clinician
from server.services.credentials import new_token, token_digest
from server.services.patients import create_patient
from server.services.sql import days_between, table_of
from server.services.treatments import record_treatment
from tests.databases import drop_postgres_database, postgres_database

DATABASE_NAME = "needling_bench_load"  # named after the bench; dropped at its end
CHUNK = 20_000  # rows per executemany
OPEN_PER_SIZE = 36_000  # check-ins open to answer: more than any run answers
TREATMENTS_PER_PATIENT = 4
ANSWER = {"soreness": 3, "pain": 2}


@dataclass(frozen=True)
class Target:
    """A check-in open now and the device token of its patient."""

    checkin_id: int
    authorization: str


@dataclass(frozen=True)
class Template:
    """A real treatment's protocol snapshot and check-ins, to clone in bulk."""

    clinic_id: int
    clinician_id: int
    protocol: list[dict[str, Any]]
    slots: list[tuple[str, float, list[str]]]  # slot, nominal hours, items


def template(now: datetime) -> Template:
    """A clinic, a clinician and one treatment recorded by the service, whose shape the bulk
    rows copy (so they are what the app itself would have stored)."""
    session = db.session()
    clinic = create_clinic(session, name="Bench Clinic", timezone="UTC")
    clinician = create_clinician(
        session, clinic=clinic, email="lead@bench.example", password="bench-password-1"
    )
    patient = create_patient(
        session, clinician=clinician, code="T-0", timezone="UTC", quiet_hours=None, now=now
    )
    treatment = record_treatment(
        session,
        clinician=clinician,
        patient=patient,
        modality="dry_needling",
        treated_at=now - timedelta(days=2),
        now=now,
    )
    session.commit()
    slots = [(c.slot, c.nominal_hours, list(c.items)) for c in treatment.checkins]
    return Template(clinic.id, clinician.id, list(treatment.protocol), slots)


def bulk(rows: Iterator[dict[str, Any]], model: type[Any]) -> None:
    """Insert the rows in chunks, each one executemany."""
    session = db.session()
    while chunk := list(itertools.islice(rows, CHUNK)):
        session.execute(insert(model), chunk)
        session.commit()


def add_patients(shape: Template, prefix: str, count: int) -> list[int]:
    bulk(
        (
            {"clinic_id": shape.clinic_id, "code": f"{prefix}-{n}", "timezone": "UTC"}
            for n in range(count)
        ),
        Patient,
    )
    query = select(Patient.id).where(Patient.code.like(f"{prefix}-%")).order_by(Patient.id)
    return list(db.session.scalars(query))


def add_treatments(
    shape: Template,
    patient_ids: list[int],
    treated_at: datetime,
    per_patient: int = TREATMENTS_PER_PATIENT,
) -> list[int]:
    """``per_patient`` treatments of each patient, all at ``treated_at``: their ids, in order."""
    first = db.session.scalar(select(Treatment.id).order_by(Treatment.id.desc()).limit(1)) or 0
    bulk(
        (
            {
                "clinic_id": shape.clinic_id,
                "clinician_id": shape.clinician_id,
                "patient_id": patient_id,
                "modality": "dry_needling",
                "treated_at": treated_at,
                "regions": ["neck"],
                "thoracic_region": False,
                "protocol": shape.protocol,
            }
            for patient_id in patient_ids
            for _ in range(per_patient)
        ),
        Treatment,
    )
    query = select(Treatment.id).where(Treatment.id > first).order_by(Treatment.id)
    return list(db.session.scalars(query))


def load_history(shape: Template, size: int, now: datetime) -> None:
    """``size`` check-ins of other patients, over the past year: answered, missed, and a tenth
    still to come (the network's pending prompts, what the old global walk went through)."""
    per_treatment = len(shape.slots)
    treatments = -(-size // per_treatment)
    patient_ids = add_patients(shape, "H", -(-treatments // TREATMENTS_PER_PATIENT))
    treatment_ids = add_treatments(shape, patient_ids, now - timedelta(days=30))

    def rows() -> Iterator[dict[str, Any]]:
        made = 0
        for number, treatment_id in enumerate(treatment_ids):
            for slot, hours, items in shape.slots:
                if made == size:
                    return
                made += 1
                status = ("answered", "answered", "missed", "answered", "answered")[made % 5]
                if made % 10 == 0:
                    status = "scheduled"
                shift = timedelta(days=1 + number % 365)
                due = now - shift if status != "scheduled" else now + shift
                yield {
                    "treatment_id": treatment_id,
                    "slot": slot,
                    "nominal_hours": hours,
                    "items": items,
                    "due_at": due,
                    "expires_at": due + timedelta(hours=12),
                    "next_attempt_at": due if status == "scheduled" else None,
                    "status": status,
                    "answered_at": due + timedelta(hours=1) if status == "answered" else None,
                }

    bulk(rows(), CheckIn)
    add_past_answers(treatment_ids[0], now)


def add_past_answers(first_treatment_id: int, now: datetime) -> None:
    """A response with a soreness and a pain answer for each answered check-in of the history
    (from ``first_treatment_id`` on), written by the database itself (INSERT … SELECT): the
    tables an answer reads and writes then hold what a network's would, and are analyzed so."""
    session = db.session()
    dialect = session.get_bind().dialect.name
    checkins, treatments = table_of(CheckIn), table_of(Treatment)
    responses, answers = table_of(Response), table_of(Answer)
    random_id = func.gen_random_uuid() if dialect == "postgresql" else func.hex(func.randomblob(16))
    session.execute(
        insert(responses).from_select(
            [
                "client_id",
                "treatment_id",
                "checkin_id",
                "slot",
                "answered_at",
                "source",
                "flagged_rules",
                "created_at",
            ],
            select(
                random_id,
                checkins.c.treatment_id,
                checkins.c.id,
                checkins.c.slot,
                checkins.c.answered_at,
                literal("app"),
                literal([], JSON),
                checkins.c.answered_at,
            ).where(checkins.c.status == "answered", checkins.c.treatment_id >= first_treatment_id),
        )
    )
    hours = days_between(dialect, responses.c.answered_at, treatments.c.treated_at) * 24
    for item, scale in (("soreness", 8), ("pain", 6)):
        session.execute(
            insert(answers).from_select(
                [
                    "response_id",
                    "item_code",
                    "value_num",
                    "treatment_id",
                    "clinic_id",
                    "modality",
                    "slot",
                    "elapsed_hours",
                ],
                select(
                    responses.c.id,
                    literal(item),
                    responses.c.id % scale,
                    responses.c.treatment_id,
                    treatments.c.clinic_id,
                    treatments.c.modality,
                    responses.c.slot,
                    hours,
                )
                .join_from(responses, treatments, responses.c.treatment_id == treatments.c.id)
                .where(responses.c.treatment_id >= first_treatment_id),
            )
        )
    session.commit()


def load_answerers(shape: Template, now: datetime) -> list[Target]:
    """Enrolled patients whose check-ins are all open now: what the clients answer."""
    per_patient = TREATMENTS_PER_PATIENT * len(shape.slots)
    patient_ids = add_patients(shape, "A", -(-OPEN_PER_SIZE // per_patient))
    tokens = {patient_id: new_token() for patient_id in patient_ids}
    bulk(
        (
            {"patient_id": patient_id, "token_hash": token_digest(token), "created_at": now}
            for patient_id, token in tokens.items()
        ),
        PatientToken,
    )
    treatment_ids = add_treatments(shape, patient_ids, now - timedelta(days=2))
    # as record_treatment leaves it: every treatment has its outcome row
    bulk(({"treatment_id": treatment_id} for treatment_id in treatment_ids), TreatmentOutcome)
    bulk(
        (
            {
                "treatment_id": treatment_id,
                "slot": slot,
                "nominal_hours": hours,
                "items": ["soreness", "pain"],
                "due_at": now - timedelta(hours=1),
                "expires_at": now + timedelta(hours=6),
                "status": "sent",
                "sent_at": now - timedelta(hours=1),
            }
            for treatment_id in treatment_ids
            for slot, hours, _ in shape.slots
        ),
        CheckIn,
    )
    query = (
        select(CheckIn.id, Treatment.patient_id)
        .join(Treatment)
        .where(Treatment.patient_id.in_(patient_ids))
    )
    # interleaved by patient, so that clients answering at once answer different patients
    found = sorted(db.session.execute(query).all(), key=lambda row: (row.id % 97, row.id))
    return [Target(row.id, f"Bearer {tokens[row.patient_id]}") for row in found]


def build(url: str, size: int, workdir: Path) -> tuple[Config, list[Target]]:
    """The bench's database with ``size`` past check-ins and the answerers, analyzed."""
    config = Config.for_tests(url, workdir)
    app = create_app(config)
    now = datetime.now(UTC)
    with app.app_context():
        db.drop_all()
        db.create_all()
        shape = template(now)
        load_history(shape, size, now)
        targets = load_answerers(shape, now)
        with db.engine.begin() as connection:  # the bench must not wait for autovacuum
            connection.execute(text("ANALYZE"))
        db.session.remove()
        db.engine.dispose()
    return config, targets


def bench_environment(config: Config, url: str) -> dict[str, str]:
    """What the bench's processes read: its database and keys, and its floor registered."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": config.INSTANCE_PATH,
        "SECRET_KEY": config.SECRET_KEY,
        "VAPID_PRIVATE_KEY": config.VAPID_PRIVATE_KEY,
        "BENCH_ENDPOINTS": "1",
    }


def start_web(
    config: Config, url: str, workers: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn as the Procfile runs it, with the bench's floor registered (or ``env``)."""
    port = free_port()
    env = env or bench_environment(config, url)
    web = subprocess.Popen(  # noqa: S603 - our own app, fixed arguments
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            *("--access-logfile", "-"),
            "server:create_app()",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return web, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


Request = tuple[str, str, bytes | None, dict[str, str]]


@dataclass
class Measure:
    """Requests/s and latencies of one load."""

    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def drive(
    port: int, clients: int, duration_s: float, next_request: Callable[[], Request]
) -> Measure:
    """``clients`` threads, each sending one request after another for ``duration_s`` (after
    a second's warm-up, not counted); only 2xx answers are counted."""
    start = time.monotonic() + 1.0
    stop = start + duration_s
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (sent := time.monotonic()) < stop:
            method, path, body, headers = next_request()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = 200 <= response.status < 300
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            if sent >= start:
                if ok:
                    latencies[number].append(time.monotonic() - sent)
                else:
                    errors[number] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(itertools.chain.from_iterable(latencies))
    if not every:
        return Measure(0.0, 0.0, 0.0, sum(errors))
    p99 = every[min(len(every) - 1, round(0.99 * (len(every) - 1)))]
    return Measure(
        len(every) / duration_s, statistics.median(every) * 1000, p99 * 1000, sum(errors)
    )


def requests_of(kind: str, targets: Iterator[Target]) -> Callable[[], Request]:
    lock = threading.Lock()

    def trivial_get() -> Request:
        return "GET", "/api/v1/push/key", None, {}

    def minimal_write() -> Request:
        return "POST", "/bench/write", b"", {"Content-Length": "0"}

    def answer() -> Request:
        with lock:
            target = next(targets)
        body = json.dumps({"client_id": str(uuid.uuid4()), "answers": ANSWER}).encode()
        headers = {"Authorization": target.authorization, "Content-Type": "application/json"}
        return "POST", f"/api/v1/me/checkins/{target.checkin_id}/response", body, headers

    return {"trivial GET": trivial_get, "minimal write": minimal_write, "answers": answer}[kind]


KINDS = ("trivial GET", "minimal write", "answers")
ANSWERS_PER_RUN = 7_000  # check-ins handed to one wrk run: more than it answers in a measure


def drive_wrk(
    port: int, clients: int, duration_s: float, kind: str, targets: Iterator[Target]
) -> Measure:
    """As ``drive``, with wrk sending: a second's run to warm up, then the measure."""
    if kind == "answers":
        script = wrk.answers_script(json.dumps(ANSWER))
    else:
        method, path, _, _ = requests_of(kind, iter(()))()
        script = wrk.fixed_script(method, path)

    def run(seconds: float, count: int) -> wrk.WrkResult:
        answered = itertools.islice(targets, count if kind == "answers" else 0)
        listed = [f"{t.checkin_id} {t.authorization}" for t in answered]
        if kind == "answers" and len(listed) < count:
            raise RuntimeError("the bench ran out of open check-ins: load more (OPEN_PER_SIZE)")
        return wrk.run_wrk(port, clients=clients, duration_s=seconds, script=script, targets=listed)

    run(1.0, ANSWERS_PER_RUN // 5)
    found = run(duration_s, ANSWERS_PER_RUN)
    done = found.requests - found.failed
    return Measure(done / found.duration_s, found.p50_ms, found.p99_ms, found.failed)


def bench_size(
    database: str, size: int, args: argparse.Namespace, results: dict[tuple[Any, ...], Measure]
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        url = (
            postgres_database(DATABASE_NAME)
            if database == "postgresql"
            else f"sqlite:///{workdir / 'bench-load.db'}"
        )
        began = time.monotonic()
        config, targets = build(url, size, workdir)
        print(
            f"{database}, {size:,} past check-ins: loaded and analyzed in "
            f"{time.monotonic() - began:.0f} s ({len(targets):,} check-ins open to answer)",
            flush=True,
        )
        remaining = iter(targets)
        for workers in (2, 1) if database == "sqlite" else (2,):
            web, port = start_web(config, url, workers)
            try:
                for kind in KINDS:
                    for clients in args.clients:
                        if args.client == "wrk":
                            measure = drive_wrk(port, clients, args.duration, kind, remaining)
                        else:
                            sender = requests_of(kind, remaining)
                            measure = drive(port, clients, args.duration, sender)
                        results[(database, size, workers, kind, clients)] = measure
                        print(
                            f"  {workers} worker{'s' if workers > 1 else ' '} {kind:<13} "
                            f"{clients:>3} clients  {measure.rate:8.1f} /s   "
                            f"p50 {measure.p50_ms:7.1f} ms   p99 {measure.p99_ms:7.1f} ms"
                            + (f"   ({measure.errors} errors)" if measure.errors else ""),
                            flush=True,
                        )
            finally:
                web.send_signal(signal.SIGTERM)
                web.wait(timeout=60)
    finally:
        if database == "postgresql":
            drop_postgres_database(DATABASE_NAME)
        shutil.rmtree(workdir, ignore_errors=True)


def ratio(
    results: dict[tuple[Any, ...], Measure], top: tuple[Any, ...], bottom: tuple[Any, ...]
) -> str:
    if top not in results or bottom not in results or not results[bottom].rate:
        return "   -"
    return f"{results[top].rate / results[bottom].rate:4.2f}"


def report(results: dict[tuple[Any, ...], Measure], args: argparse.Namespace) -> None:
    small, large = min(args.sizes), max(args.sizes)
    print("\nratios (each of figures from this run)")
    print(
        "| database | workers | clients | answers / minimal write (>= 0.5) "
        f"| answers at {large:,} / at {small:,} (>= 0.8) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for database in args.databases:
        for workers in (2, 1) if database == "sqlite" else (2,):
            for clients in args.clients:
                floors = " / ".join(
                    ratio(
                        results,
                        (database, size, workers, "answers", clients),
                        (database, size, workers, "minimal write", clients),
                    )
                    for size in sorted(args.sizes)
                )
                growth = ratio(
                    results,
                    (database, large, workers, "answers", clients),
                    (database, small, workers, "answers", clients),
                )
                print(f"| {database} | {workers} | {clients} | {floors} | {growth} |")
    if "sqlite" in args.databases:
        print("\nSQLite, answers with 2 workers / with 1 (>= 1.2)")
        for size in sorted(args.sizes):
            for clients in args.clients:
                two = ratio(
                    results,
                    ("sqlite", size, 2, "answers", clients),
                    ("sqlite", size, 1, "answers", clients),
                )
                print(f"  {size:>9,} past check-ins, {clients:>3} clients: {two}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measure")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if wrk.WRK else "python",
        help="the load generator: wrk (C, a few %% of a core) when installed, else Python threads",
    )
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"gunicorn as in the Procfile; {args.duration:g} s per measure after 1 s of warm-up; "
        f"load from {args.client}"
    )
    results: dict[tuple[Any, ...], Measure] = {}
    for size in sorted(args.sizes):
        for database in args.databases:
            bench_size(database, size, args, results)
    report(results, args)
    print(f"\nload average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
