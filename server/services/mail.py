"""E-mail through the standard library's SMTP client: the fallback when push does not reach."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage


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

    @property
    def is_configured(self) -> bool:
        """Whether there is an SMTP server to send through."""
        return bool(self.host)

    def send(self, *, to: str, subject: str, text: str) -> str | None:
        """Send one plain-text message; returns None when accepted, else the reason."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            return f"{type(error).__name__}: {error}"[:300]
        return None
