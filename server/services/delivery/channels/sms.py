"""Texts with a signed link to the one check-in, for patients who consented to them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services.sms import SmsProvider, SmsResult, segments

from ..outbound import FALLBACK, PROMPT, REMINDER, Attempt, ClaimedRow, Outbound, is_textable
from . import claimed_link

STOP = " Reply STOP to stop texts."
# each purpose's wordings, longest first: a text takes the first that fits one segment with its
# link (the link's length depends on the server's address), else the last. No health data
_PROMPT = (
    "Time for your check-in: a few quick questions about how you feel since your visit. "
    "{link}" + STOP,
    "Time for your check-in: {link}" + STOP,
    "Your check-in: {link}",
)
TEXTS = {
    PROMPT: _PROMPT,
    FALLBACK: _PROMPT,
    REMINDER: (
        "Reminder: your clinic would still like to hear how you are. {link}" + STOP,
        "Reminder, your check-in: {link}" + STOP,
        "Your check-in: {link}",
    ),
}


@dataclass(frozen=True)
class SmsAddress:
    """Where a check-in text goes, and the link it carries."""

    to: str
    link: str


def sms_text(item: Outbound) -> str:
    """The text of a check-in: the longest wording that keeps it to one segment."""
    [address] = item.addresses
    wordings = [wording.format(link=address.link) for wording in TEXTS[item.purpose]]
    return next((text for text in wordings if segments(text) == 1), wordings[-1])


@dataclass(frozen=True)
class SmsChannel:
    """Check-in texts through the configured provider (off when none is configured)."""

    provider: SmsProvider
    base_url: str
    secret: str
    name: str = "sms"

    def addresses(
        self, session: Session, rows: Sequence[ClaimedRow], *, now: datetime
    ) -> dict[int, tuple[Any, ...]]:
        """Each patient's mobile number with the check-in's signed link, for patients with a
        number, consent and no opt-out."""
        if not self.provider.is_configured:
            return {}
        return {
            row.id: (SmsAddress(row.phone, claimed_link(self.base_url, self.secret, row)),)
            for row in rows
            if is_textable(row)
        }

    def start(self, items: Sequence[Outbound], *, now: datetime) -> SmsSending:
        """Nothing goes yet: the texts are sent one after another by ``finish``."""
        return SmsSending(self.provider, list(items))


@dataclass
class SmsSending:
    """A batch's texts, sent through one HTTP session when finished."""

    provider: SmsProvider
    items: list[Outbound]

    def finish(self, send_until: float) -> list[Attempt]:
        """Send each text in turn; none is started once the deadline has passed (a slow
        provider must not keep a batch past its lease and so get it sent twice)."""
        attempts = []
        with self.provider.session() as texts:
            for item in self.items:
                if time.monotonic() >= send_until:
                    attempts.append(Attempt(item, "released"))
                    continue
                result: SmsResult = texts.send(to=item.addresses[0].to, body=sms_text(item))
                attempts.append(Attempt(item, "sms", (result,)))
        return attempts

    def cancel(self) -> None:
        """Nothing is sent before ``finish``."""
