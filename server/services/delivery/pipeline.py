"""The batch pipeline the worker runs for each purpose: claim, prepare, send, record.

Batches overlap: while one batch's pushes are in flight (on the sender's thread), the next
batch is claimed, prepared and handed to its channels (its pushes start as soon as the last of
this batch's are out), and the previous batch's outcome is recorded, so neither the database
work nor the push services' answers leave the sender waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from .channels import Channel, Sending
from .claims import claim, release
from .outbound import NO_CHANNEL, Attempt, Outbound, outbound
from .steps import RetryPolicy, record

# stop sending with a quarter of the lease left: time for the message in hand and the record
LEASE_SAFETY = 0.25


@dataclass(frozen=True)
class Settings:
    """How the pipeline batches, leases and retries (from the app's configuration)."""

    batch: int
    lease: timedelta
    fallback_delay: timedelta
    retry: RetryPolicy

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of an app's configuration."""
        return cls(
            batch=config["DISPATCH_BATCH"],
            lease=timedelta(seconds=config["CLAIM_LEASE_S"]),
            fallback_delay=timedelta(seconds=config["EMAIL_FALLBACK_DELAY_S"]),
            retry=RetryPolicy(config["RETRY_MAX_ATTEMPTS"], config["RETRY_BASE_S"]),
        )


@dataclass
class _Batch:
    """A claimed batch, handed to its channels."""

    items: list[Outbound]
    sendings: list[Sending]
    send_until: float  # nothing is started after this time.monotonic()
    full: bool  # as many as a batch holds: more may be due

    def finish(self) -> list[Attempt]:
        """Every item's attempt, once its channel is done with it."""
        attempts = [Attempt(item, NO_CHANNEL) for item in self.items if item.channel == NO_CHANNEL]
        for sending in self.sendings:
            attempts += sending.finish(self.send_until)
        return attempts

    def cancel(self) -> None:
        """Send nothing more of this batch; nothing of it in flight once this returns."""
        for sending in self.sendings:
            sending.cancel()


@dataclass(frozen=True)
class Pipeline:
    """One worker's way of delivering: its name (claims are known by it), its channels, its
    settings. ``run`` is the one call the worker makes per purpose."""

    worker: str
    channels: Mapping[str, Channel]
    settings: Settings
    rng: random.Random
    stopping: threading.Event

    def run(self, session: Session, *, purpose: str, now: Callable[[], datetime]) -> int:
        """Claim and deliver batches until nothing more is due (or the worker is stopping);
        returns how many check-ins were handled (not released unsent). ``now`` is asked at
        each step (a fixed time when stepping through a protocol)."""
        handled = 0
        held: list[_Batch] = []  # claimed and not yet recorded, oldest first
        try:
            current = self._claim(session, purpose, now())
            held += [current] if current else []
            out_of_time = False
            while current is not None:
                following = None
                if current.full and not out_of_time and not self.stopping.is_set():
                    following = self._claim(session, purpose, now())  # SIGTERM: no more
                    held += [following] if following else []
                attempts = current.finish()
                # out of time: what was left was released; the next pass sends it
                out_of_time = any(attempt.channel == "released" for attempt in attempts)
                record(
                    session,
                    attempts,
                    now=now(),
                    worker=self.worker,
                    retry=self.settings.retry,
                    rng=self.rng,
                )
                session.commit()
                handled += sum(attempt.channel != "released" for attempt in attempts)
                held.pop(0)
                current = following
        except Exception:
            session.rollback()
            for batch in held:
                batch.cancel()
            release(session, [item.claimed for batch in held for item in batch.items], self.worker)
            session.commit()
            raise
        return handled

    def _claim(self, session: Session, purpose: str, now: datetime) -> _Batch | None:
        """Claim a batch (durably, before anything is sent) and hand it to its channels;
        None if none is due."""
        lease_start = time.monotonic()  # the lease runs from before the claim
        ids = claim(
            session,
            purpose=purpose,
            now=now,
            worker=self.worker,
            limit=self.settings.batch,
            lease=self.settings.lease,
            fallback_delay=self.settings.fallback_delay,
        )
        if not ids:
            session.commit()
            return None
        items = outbound(session, ids, purpose=purpose, now=now, channels=self.channels)
        # the claim and its queued ledger rows at once, before anything is sent (the rows stay
        # locked while they are prepared: a patient's answer may wait those few milliseconds)
        session.commit()
        by_channel: dict[str, list[Outbound]] = {}
        for item in items:
            if item.channel != NO_CHANNEL:
                by_channel.setdefault(item.channel, []).append(item)
        sendings = [self.channels[name].start(group, now=now) for name, group in by_channel.items()]
        send_until = lease_start + self.settings.lease.total_seconds() * (1 - LEASE_SAFETY)
        return _Batch(items, sendings, send_until, full=len(ids) == self.settings.batch)
