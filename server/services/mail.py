"""E-mail through the standard library's SMTP client: the fallback when push does not reach.

A batch sends all its messages through one ``MailSession``: one SMTP connection, opened at the
first message and reopened once if the server dropped it in between (idle timeout, a limit of
messages per connection).
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any

SERVICE_CLOSING = 421  # the server is closing the connection: a fresh one may work


@dataclass(frozen=True)
class Mailer:
    """Where and how to send mail."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_config(cls, config: Any) -> Mailer:
        """The mail server of an app's configuration (not configured without SMTP_HOST)."""
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            sender=config["SMTP_FROM"],
            user=config["SMTP_USER"],
            password=config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"],
        )

    @property
    def is_configured(self) -> bool:
        """Whether there is an SMTP server to send through."""
        return bool(self.host)

    def session(self) -> MailSession:
        """A session for many messages; use it as a context manager so it is closed."""
        return MailSession(self)


class MailSession:
    """One SMTP connection reused for every message sent through it."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, *, to: str, subject: str, text: str) -> str | None:
        """Send one plain-text message; returns None when accepted, else the reason."""
        mailer = self._mailer
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = mailer.sender, to, subject
        message.set_content(text)
        try:
            is_reused = self._smtp is not None
            try:
                self._connection().send_message(message)
            except (smtplib.SMTPException, OSError) as error:
                if not (is_reused and _is_dropped(error)):
                    raise
                # the server closed the connection we kept since the last message: once more
                self.close()
                self._connection().send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            self.close()  # its state is unknown: the next message starts a fresh connection
            return f"{type(error).__name__}: {error}"[:300]
        return None

    def close(self) -> None:
        """Say goodbye to the server, if connected (a dead connection is just dropped)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            mailer = self._mailer
            smtp = smtplib.SMTP(mailer.host, mailer.port, timeout=mailer.timeout_s)
            try:
                if mailer.starttls:
                    smtp.starttls()
                if mailer.user:
                    smtp.login(mailer.user, mailer.password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp


def _is_dropped(error: Exception) -> bool:
    """The server went away (or said it is going), as opposed to refusing this message."""
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == SERVICE_CLOSING
    return isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError)
