"""``python -m jobs`` runs the scheduler; ``python -m jobs tick [--now ISO]`` runs one pass."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from jobs.tasks import JOBS, Worker, channels_off, route_problems
from server import create_app


def _parse_now(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give --now with its UTC offset, e.g. 2026-11-24T09:00Z")
    return moment.astimezone(UTC)


def tick(worker: Worker, now: datetime | None) -> dict[str, int]:
    """One pass of every job, in order; returns how much each did."""
    return {job.__name__: job(worker, now) for job, _ in JOBS}


def run_scheduler(worker: Worker) -> None:
    """Run every job on its interval until SIGTERM or SIGINT; the batches in hand are finished."""
    scheduler = BlockingScheduler(timezone="UTC")
    for job, interval in JOBS:
        scheduler.add_job(
            job,
            "interval",
            args=[worker],
            seconds=worker.app.config[interval],
            id=job.__name__,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        worker.app.logger.info("signal %d: finishing the batch in hand, then stopping", signum)
        worker.stopping.set()
        scheduler.shutdown(wait=True)

    for off in channels_off(worker):
        worker.app.logger.warning("%s", off)
    for clinic, problems in route_problems(worker).items():
        for problem in problems:
            worker.app.logger.warning("urgent alerts of %s: %s", clinic, problem)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # what startup built (the libraries, the app) stays for the process's life: frozen, it is
    # not scanned again by every full collection (about 100 ms each here, a stall in a batch)
    gc.collect()
    gc.freeze()
    scheduler.start()
    worker.sender.close()


def main(argv: list[str] | None = None) -> int:
    """Run the worker, or one pass of every job with ``tick``."""
    parser = argparse.ArgumentParser(prog="python -m jobs")
    commands = parser.add_subparsers(dest="command")
    tick_parser = commands.add_parser("tick", help="run one pass of every job and exit")
    tick_parser.add_argument(
        "--now", type=_parse_now, help="act as if it were this instant (ISO 8601 with offset)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = Worker.for_app(create_app())
    if args.command == "tick":
        done = tick(worker, args.now)
        worker.sender.close()
        print(" ".join(f"{name}={count}" for name, count in done.items()))  # noqa: T201
        return 0
    run_scheduler(worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
