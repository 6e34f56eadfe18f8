"""PostgreSQL restarted while the web app and the worker run under load: what clients saw.

The bench makes a PostgreSQL cluster of its own (tests/postgres_cluster.py: initdb on a free
port, never the shared server), loads patients with check-ins open to answer and subscribed
patients whose prompts fall due across the run, and serves the app with gunicorn as the
Procfile does (2 workers) beside ``python -m jobs`` (DISPATCH_INTERVAL_S 2, CLAIM_LEASE_S 30)
sending to a local push sink. ``--clients`` threads post answers one after another; after
``--before-s`` seconds the cluster is stopped (``pg_ctl stop -m fast``, as an operator's
restart), kept down ``--down-s`` seconds, and started again; the load goes on ``--after-s``.

It prints what the clients got each second (2xx, JSON 503 with Retry-After, anything else),
how long after the restart answers were stored again, whether any process was restarted, the
answers acknowledged against those stored (not one acknowledged may be lost), what a replay of
every unacknowledged answer with its client_id got (as the PWA's outbox does), and the prompts
the worker sent before, during and after.

    .venv/bin/python bench/fault_postgres_restart.py [--clients 8] [--before-s 10]
        [--down-s 5] [--after-s 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import select

from bench.alerts import add_prompts, free_port
from bench.dispatch import sink_count, start_sink
from bench.load import ANSWER, Target, load_answerers, template
from server import create_app
from server.config import REPO_ROOT, Config
from server.extensions import db
from server.models import Clinician
from tests.postgres_cluster import PostgresCluster, postgres_cluster

DATABASE = "needling_bench_restart"


@dataclass(frozen=True)
class Outcome:
    """One answer posted: when (seconds since the load began), what came back."""

    at: float
    status: int  # 0: no HTTP answer at all (connection refused or cut)
    retry_after: str | None
    is_json_error: bool
    client_id: str
    target: Target


def add_subscribed(
    config: Config, *, count: int, sink: str, start: datetime, span_s: float
) -> None:
    """``count`` subscribed patients whose IMS 2 h check-ins fall due in twenty waves from
    ``start`` over ``span_s`` seconds."""
    with create_app(config).app_context():
        clinician = db.session.scalars(select(Clinician)).first()
        if clinician is None:
            raise RuntimeError("build() makes the clinic's clinician first")
        add_prompts(
            db.session(), clinician, count=count, sink=sink, start=start, span_s=span_s, waves=20
        )
        db.engine.dispose()


def build(cluster: PostgresCluster, workdir: Path) -> tuple[Config, list[Target]]:
    """The bench's database on its own cluster: answerers and their open check-ins."""
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    config = Config.for_tests(cluster.url(DATABASE), workdir)
    app = create_app(config)
    with app.app_context():
        db.create_all()
        shape = template(datetime.now(UTC))
        targets = load_answerers(shape, datetime.now(UTC))
        db.session.remove()
        db.engine.dispose()
    return config, targets


def environment(config: Config, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": config.SQLALCHEMY_DATABASE_URI,
        "INSTANCE_PATH": str(workdir),
        "SECRET_KEY": config.SECRET_KEY,
        "VAPID_PRIVATE_KEY": config.VAPID_PRIVATE_KEY,
        "PUSH_ALLOW_LOCAL": "1",
        "DISPATCH_INTERVAL_S": "2",
        "CLAIM_LEASE_S": "30",
    }


def start_web(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn as the Procfile runs it (2 workers), its log to ``log``."""
    port = free_port()
    web = subprocess.Popen(  # noqa: S603 - our own app, fixed arguments
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "2"),
            "server:create_app()",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return web, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def wait_for_worker(log: Path) -> None:
    """Until the worker's scheduler has started (it says so in its log)."""
    for _ in range(1200):
        if "Scheduler started" in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError("the worker did not start")


def children(pid: int) -> set[int]:
    """The process ids of a process's children (gunicorn's workers)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in listed.split()}


def post_answer(port: int, target: Target, client_id: str) -> tuple[int, str | None, bool]:
    """POST one answer; its status, Retry-After and whether the body is the JSON error shape."""
    body = json.dumps({"client_id": client_id, "answers": ANSWER}).encode()
    headers = {"Authorization": target.authorization, "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", f"/api/v1/me/checkins/{target.checkin_id}/response", body, headers
        )
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException):
        return 0, None, False
    finally:
        connection.close()
    try:
        is_json_error = json.loads(payload).get("code") == response.status
    except ValueError:
        is_json_error = False
    return response.status, response.getheader("Retry-After"), is_json_error


def drive(
    port: int, clients: int, targets: list[Target], began: float, stop_at: float
) -> list[Outcome]:
    """``clients`` threads posting answers until ``stop_at`` (time.monotonic()); each
    outcome's time is counted from ``began``."""
    remaining = iter(targets)
    lock = threading.Lock()
    outcomes: list[Outcome] = []

    def client() -> None:
        while time.monotonic() < stop_at:
            with lock:
                target = next(remaining)
            client_id = str(uuid.uuid4())
            sent = time.monotonic() - began
            status, retry_after, is_json_error = post_answer(port, target, client_id)
            with lock:
                outcomes.append(
                    Outcome(sent, status, retry_after, is_json_error, client_id, target)
                )

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def stored_client_ids(cluster: PostgresCluster) -> list[str]:
    with psycopg.connect(cluster.url(DATABASE)) as connection:
        rows = connection.execute("SELECT client_id FROM responses").fetchall()
    return [str(row[0]) for row in rows]


def prompts_sent(cluster: PostgresCluster) -> tuple[int, int]:
    """How many of the prompts' check-ins are sent, of how many due so far."""
    with psycopg.connect(cluster.url(DATABASE)) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM checkins"
            " WHERE slot = '2h' AND due_at <= now()"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def per_second(outcomes: list[Outcome], marks: dict[str, float]) -> None:
    print("\n| second | 2xx | 503 JSON + Retry-After | other status | no answer | |")
    print("| --- | --- | --- | --- | --- | --- |")
    last = int(max(outcome.at for outcome in outcomes))
    for second in range(last + 1):
        these = [outcome for outcome in outcomes if int(outcome.at) == second]
        ok = sum(200 <= outcome.status < 300 for outcome in these)
        unavailable = sum(
            outcome.status == 503 and outcome.is_json_error and outcome.retry_after is not None
            for outcome in these
        )
        none = sum(outcome.status == 0 for outcome in these)
        other = len(these) - ok - unavailable - none
        note = ", ".join(name for name, moment in marks.items() if int(moment) == second)
        print(f"| {second} | {ok} | {unavailable} | {other} | {none} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--before-s", type=float, default=10.0)
    parser.add_argument("--down-s", type=float, default=5.0)
    parser.add_argument("--after-s", type=float, default=20.0)
    parser.add_argument("--prompts", type=int, default=400)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
        f"gunicorn 2 workers and python -m jobs on a PostgreSQL cluster of the bench's own; "
        f"{args.clients} clients answering; the cluster stopped (-m fast) at {args.before_s:g} s, "
        f"down {args.down_s:g} s",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-restart-"))
    sink, sink_base = start_sink(20.0)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with postgres_cluster() as cluster:
            config, targets = build(cluster, workdir)
            span = args.before_s + args.down_s + args.after_s
            env = environment(config, workdir)
            web, port = start_web(env, workdir / "web.log")
            worker = subprocess.Popen(
                [sys.executable, "-m", "jobs"],
                cwd=REPO_ROOT,
                env=env,
                stdout=(workdir / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes += [worker, web]
            web_workers = children(web.pid)
            wait_for_worker(workdir / "worker.log")
            # the prompts fall due in waves from now to the end of the load
            start = datetime.now(UTC)
            add_subscribed(config, count=args.prompts, sink=sink_base, start=start, span_s=span)
            marks: dict[str, float] = {}
            began = time.monotonic()
            results: list[list[Outcome]] = []
            load = threading.Thread(
                target=lambda: results.append(
                    drive(port, args.clients, targets, began, began + span)
                )
            )
            load.start()
            time.sleep(args.before_s)
            pushed: dict[str, int] = {"before": sink_count(sink_base)}
            marks["stop"] = time.monotonic() - began
            cluster.stop("fast")
            marks["stopped"] = time.monotonic() - began
            time.sleep(args.down_s)
            pushed["down"] = sink_count(sink_base)
            marks["start"] = time.monotonic() - began
            cluster.start()
            marks["accepting"] = time.monotonic() - began
            load.join()
            outcomes = sorted(results[0], key=lambda outcome: outcome.at)
            deadline = time.monotonic() + 90  # the prompts of a batch cut off: after their lease
            while (counts := prompts_sent(cluster))[0] < counts[1] and time.monotonic() < deadline:
                time.sleep(1)
            per_second(outcomes, marks)
            report(cluster, port, outcomes, marks, pushed, sink_base, counts, workdir)
            if worker.poll() is not None:
                tail = (workdir / "worker.log").read_text(errors="replace")[-2000:]
                print(f"the worker exited with {worker.returncode}:\n{tail}")
            print(
                "processes: gunicorn's workers "
                + ("unchanged" if children(web.pid) == web_workers else "REPLACED")
                + f" ({len(web_workers)}), the worker "
                + ("still running" if worker.poll() is None else "EXITED")
            )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        sink.terminate()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


def report(
    cluster: PostgresCluster,
    port: int,
    outcomes: list[Outcome],
    marks: dict[str, float],
    pushed: dict[str, int],
    sink_base: str,
    prompts: tuple[int, int],
    workdir: Path,
) -> None:
    """Recovery, acknowledged against stored, the replays, the worker's prompts."""
    statuses = Counter(outcome.status for outcome in outcomes)
    print(f"\nanswers posted: {len(outcomes)}; by status: {dict(sorted(statuses.items()))}")
    bad_503 = sum(o.status == 503 and not (o.is_json_error and o.retry_after) for o in outcomes)
    print(f"503s without the JSON body or Retry-After: {bad_503}")
    print(
        f"the stop took {marks['stopped'] - marks['stop']:.1f} s, the start "
        f"{marks['accepting'] - marks['start']:.1f} s (pg_ctl -w)"
    )
    failing = [o.at for o in outcomes if not 200 <= o.status < 300]
    if failing:
        print(
            f"answers not stored were posted from {min(failing) - marks['stop']:+.2f} s after "
            f"the stop began to {max(failing) - marks['accepting']:+.2f} s after the cluster "
            "accepted connections again"
        )
    late = [o for o in outcomes if o.at >= marks["accepting"] and not 200 <= o.status < 300]
    print(f"answers posted once it accepted connections that were not stored: {len(late)}")
    acknowledged = {o.client_id for o in outcomes if 200 <= o.status < 300}
    stored = stored_client_ids(cluster)
    print(
        f"acknowledged (2xx): {len(acknowledged)}; of them stored: "
        f"{len(acknowledged & set(stored))}; lost: {len(acknowledged - set(stored))}"
    )
    unacknowledged = [o for o in outcomes if not 200 <= o.status < 300]
    landed = {o.client_id for o in unacknowledged} & set(stored)
    print(f"not acknowledged: {len(unacknowledged)}; of them stored all the same: {len(landed)}")
    replays = Counter(post_answer(port, o.target, o.client_id)[0] for o in unacknowledged)
    stored_after = stored_client_ids(cluster)
    print(
        f"each unacknowledged answer sent again with its client_id: {dict(replays)} "
        f"(201 stored now, 200 a replay of one stored before); responses stored "
        f"{len(stored_after)} for {len(outcomes)} answers posted, "
        f"{len(stored_after) - len(set(stored_after))} stored twice"
    )
    pushes = sink_count(sink_base)
    print(
        f"prompts: {prompts[0]} of {prompts[1]} due sent; pushes received {pushes} "
        f"({pushes - prompts[0]} repeated); {pushed['before']} before the stop, "
        f"{pushed['down'] - pushed['before']} while it was down"
    )
    worker_log = (workdir / "worker.log").read_text(errors="replace")
    failed_runs = worker_log.count("raised an exception")
    print(f"worker job runs that raised (logged, run again at the next interval): {failed_runs}")
    web_log = (workdir / "web.log").read_text(errors="replace")
    print(
        f"gunicorn: {web_log.count('Booting worker')} worker boots, "
        f"{web_log.count('database unavailable')} 'database unavailable' warnings, "
        f"{web_log.count('Traceback')} tracebacks"
    )


if __name__ == "__main__":
    main()
