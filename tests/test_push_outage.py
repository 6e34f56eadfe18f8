"""A push service answering 500 for five minutes: the worker backs off, never loops, and sends
every prompt once the service is back, while its window is open.

The worker runs at the default retry settings (5 attempts from a 30 s base) and looks for due
prompts every DISPATCH_INTERVAL_S of a clock the test steps; its jitter always draws the shortest
wait it may (the worst case for riding out an outage).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.config import Config
from server.models import CheckIn
from server.services.delivery import RetryPolicy
from tests.push_service import PushService
from tests.test_workers import DUE, prompted_patients

OUTAGE = timedelta(minutes=5)


class ShortestDraw(random.Random):
    """Jitter at its shortest: every ``uniform(a, b)`` is ``a``."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_the_default_retries_span_at_least_seven_and_a_half_minutes() -> None:
    policy = RetryPolicy(Config.RETRY_MAX_ATTEMPTS, Config.RETRY_BASE_S)

    # the waits between the 5 attempts: 30 + 60 + 120 + 240 s at the least
    span = sum(policy.delay_s(n, None, ShortestDraw()) for n in range(1, policy.max_attempts))

    assert span >= 7.5 * 60


def run_through_outage(worker: Worker, push: PushService) -> dict[int, list[datetime]]:
    """Step the worker's clock from DUE, every DISPATCH_INTERVAL_S, with the push service
    answering 500 for the first five minutes, until 15 minutes have passed; when each prompt's
    messages arrived, by the stepped clock."""
    interval = timedelta(seconds=worker.app.config["DISPATCH_INTERVAL_S"])
    arrivals: dict[int, list[datetime]] = defaultdict(list)
    now = DUE
    while now < DUE + timedelta(minutes=15):
        push.outage_status = 500 if now < DUE + OUTAGE else None
        seen = len(push.received)
        dispatch_due_checkins(worker, now)
        for message in push.received[seen:]:
            arrivals[message.payload["checkin_id"]].append(now)
        now += interval
    return arrivals


def test_a_five_minute_outage_costs_no_prompt(
    worker: Worker, session: Session, push: PushService
) -> None:
    checkin_ids = prompted_patients(session, push, 20)
    worst_case = replace(worker, rng=ShortestDraw())

    run_through_outage(worst_case, push)

    session.expire_all()
    checkins = session.scalars(select(CheckIn).where(CheckIn.id.in_(checkin_ids))).all()
    assert {checkin.status for checkin in checkins} == {"sent"}
    sent_at = [checkin.sent_at for checkin in checkins if checkin.sent_at is not None]
    assert len(sent_at) == len(checkin_ids)
    assert min(sent_at) >= DUE + OUTAGE  # none while it was down
    assert max(sent_at) < min(checkin.expires_at for checkin in checkins)  # each in its window
    assert [message.answered for message in push.received].count(201) == len(checkin_ids)


def test_a_five_minute_outage_is_tried_with_backoff_not_in_a_loop(
    worker: Worker, session: Session, push: PushService
) -> None:
    checkin_ids = prompted_patients(session, push, 20)
    base = timedelta(seconds=worker.app.config["RETRY_BASE_S"])

    arrivals = run_through_outage(replace(worker, rng=ShortestDraw()), push)

    assert sorted(arrivals) == sorted(checkin_ids)
    for moments in arrivals.values():
        assert len(moments) <= worker.app.config["RETRY_MAX_ATTEMPTS"]
        gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
        assert gaps == [base * 2**n for n in range(len(gaps))]  # each wait twice the last
