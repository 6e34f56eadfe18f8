"""The ways a check-in reaches its patient, each one module behind one small interface.

A channel finds the addresses by which it reaches the patients of a claimed batch (the only
step with the database), then sends to them without the database: ``start`` begins (a push
batch goes out on the sender's thread at once), ``finish`` waits for the answers. The pipeline
tries a purpose's channels in order (``outbound.CHANNELS``) and records every result in the
ledger, whatever the channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from server.services.links import checkin_url

from ..outbound import Attempt, ClaimedRow, Outbound


class Sending(Protocol):
    """A channel's batch on its way out."""

    def finish(self, send_until: float) -> list[Attempt]:
        """Each item's attempt, once every answer is in. Nothing is started once
        ``time.monotonic()`` reaches ``send_until``: such an item is "released" unsent."""
        ...

    def cancel(self) -> None:
        """Send nothing not already started (the batch is being given back)."""
        ...


class Channel(Protocol):
    """One way of reaching a patient."""

    @property
    def name(self) -> str:
        """How the ledger and ``outbound.CHANNELS`` name it."""
        ...

    def addresses(
        self, session: Session, rows: Sequence[ClaimedRow], *, now: datetime
    ) -> dict[int, tuple[Any, ...]]:
        """The addresses this channel reaches each claimed check-in's patient by, by check-in
        id (a check-in it cannot reach is left out)."""
        ...

    def start(self, items: Sequence[Outbound], *, now: datetime) -> Sending:
        """Begin sending these items (all of them this channel's)."""
        ...


def claimed_link(base_url: str, secret: str, row: ClaimedRow) -> str:
    """A claimed check-in's address with its signed token, for the channels that send links
    (e-mail, texts): it works until the check-in closes or the patient's devices are revoked."""
    return checkin_url(
        base_url,
        secret,
        checkin_id=row.id,
        patient_id=row.patient_id,
        expires_at=row.expires_at,
        version=row.link_version,
    )
