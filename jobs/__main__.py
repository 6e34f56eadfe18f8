"""``python -m jobs`` runs the scheduler; ``python -m jobs tick [--now ISO]`` runs one pass."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from jobs import tasks
from server import create_app


def _parse_now(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give --now with its UTC offset, e.g. 2026-11-24T09:00Z")
    return moment.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    """Run the worker, or one pass of every job with ``tick``."""
    parser = argparse.ArgumentParser(prog="python -m jobs")
    commands = parser.add_subparsers(dest="command")
    tick = commands.add_parser("tick", help="run one pass of every job and exit")
    tick.add_argument("--now", type=_parse_now, help="act as if it were this instant (ISO 8601)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    if args.command == "tick":
        missed = tasks.expire_missed_checkins(app, args.now)
        print(f"expired: {missed}")  # noqa: T201 - the command's output
        return 0
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        tasks.expire_missed_checkins,
        "interval",
        args=[app],
        seconds=app.config["EXPIRE_INTERVAL_S"],
        id="expire_missed_checkins",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        app.logger.info("signal %d: finishing the job in hand, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
