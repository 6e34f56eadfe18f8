"""E-mail with a signed link to the one check-in, where push cannot reach the patient."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services.mail import Mailer

from ..outbound import TEXTS, Attempt, ClaimedRow, Outbound
from . import claimed_link


@dataclass(frozen=True)
class EmailAddress:
    """Where a check-in e-mail goes, and the link it carries (it opens this check-in without
    the app's token, until the check-in closes)."""

    to: str
    link: str


@dataclass(frozen=True)
class MailResult:
    """What the mail server said of one message (``error`` None: accepted)."""

    error: str | None
    subscription_id: None = None
    status_code: None = None
    retry_after_s: None = None

    @property
    def detail(self) -> str:
        return self.error or ""

    @property
    def is_sent(self) -> bool:
        return self.error is None

    @property
    def is_gone(self) -> bool:
        return False

    @property
    def is_retryable(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class EmailChannel:
    """Check-in e-mails through the configured SMTP server (off when none is configured)."""

    mailer: Mailer
    base_url: str
    secret: str
    name: str = "email"

    def addresses(
        self, session: Session, rows: Sequence[ClaimedRow], *, now: datetime
    ) -> dict[int, tuple[Any, ...]]:
        """Each patient's e-mail address with the check-in's signed link (signed only for
        these: a link is made only where e-mail is the way)."""
        if not self.mailer.is_configured:
            return {}
        return {
            row.id: (EmailAddress(row.email, claimed_link(self.base_url, self.secret, row)),)
            for row in rows
            if row.email
        }

    def start(self, items: Sequence[Outbound], *, now: datetime) -> EmailSending:
        """Nothing goes yet: the e-mails are sent one after another by ``finish``."""
        return EmailSending(self.mailer, list(items))


def email_text(item: Outbound) -> tuple[str, str]:
    """Subject and body of a check-in e-mail: no health data, only the link."""
    [address] = item.addresses
    title, body = TEXTS[item.purpose]
    text = (
        f"{body}\n\nOpen your check-in:\n{address.link}\n\nThe link works until the check-in "
        "closes. If you think it is an emergency, call your local emergency number: "
        "this service is not watched around the clock.\n"
    )
    return title, text


@dataclass
class EmailSending:
    """A batch's e-mails, sent through one SMTP session when finished."""

    mailer: Mailer
    items: list[Outbound]

    def finish(self, send_until: float) -> list[Attempt]:
        """Send each e-mail in turn; none is started once the deadline has passed (a slow
        mail server must not keep a batch past its lease and so get it sent twice)."""
        attempts = []
        with self.mailer.session() as mail:
            for item in self.items:
                if time.monotonic() >= send_until:
                    attempts.append(Attempt(item, "released"))
                    continue
                subject, text = email_text(item)
                error = mail.send(to=item.addresses[0].to, subject=subject, text=text)
                attempts.append(Attempt(item, "email", (MailResult(error),)))
        return attempts

    def cancel(self) -> None:
        """Nothing is sent before ``finish``."""
