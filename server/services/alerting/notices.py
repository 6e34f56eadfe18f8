"""An alert's notices: made when it is raised (one per step, address and channel, each due at
its step's time), cancelled when it is acknowledged, and the checks that urgent alerts have a
way out at all.

Addresses are taken when the alert is raised, so the ledger says who was to be told; an
inactive clinician is left out then and skipped if deactivated before their notice is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.models import Alert, AlertContact, AlertNotice, Clinic, Clinician, Treatment
from server.services.delivery.alerts import notice_channels
from server.services.mail import Mailer
from server.services.opening_hours import next_opening, open_at_or_after
from server.services.sms import SmsProvider

from .routing import TIMING, Step, routing_of


@dataclass(frozen=True)
class Recipient:
    """A person a step reaches, with the addresses they have."""

    name: str
    email: str | None
    phone: str | None
    clinician_id: int | None = None
    contact_id: int | None = None

    def address(self, channel: str) -> str | None:
        """Where this channel reaches them, if it does."""
        return self.email if channel == "email" else self.phone


def recipients(
    session: Session, *, clinic: Clinic, clinician_id: int | None, groups: Iterable[str]
) -> list[Recipient]:
    """The active people of these groups, for an alert on a treatment by ``clinician_id``."""
    found: list[Recipient] = []
    for group in groups:
        if group == "treating" and clinician_id is not None:
            treating = session.get(Clinician, clinician_id)
            if treating is not None and treating.is_active:
                found.append(_member(treating))
        elif group == "admins":
            admins = session.scalars(
                select(Clinician)
                .filter_by(clinic_id=clinic.id, is_active=True)
                .where(Clinician.role.in_(("admin", "network_admin")))
                .order_by(Clinician.id)
            )
            found += [_member(admin) for admin in admins]
        elif group in ("on_call", "backup"):
            contacts = session.scalars(
                select(AlertContact)
                .filter_by(clinic_id=clinic.id, role=group)
                .order_by(AlertContact.id)
            )
            found += [_contact(contact) for contact in contacts if _is_live(contact)]
    return found


def _member(clinician: Clinician) -> Recipient:
    return Recipient(
        clinician.name or clinician.email, clinician.email, clinician.phone, clinician.id
    )


def _contact(contact: AlertContact) -> Recipient:
    member = contact.clinician
    if member is not None:
        name = contact.name or member.name or member.email
        phone = contact.phone or member.phone
        return Recipient(name, member.email, phone, member.id, contact.id)
    return Recipient(contact.name, contact.email, contact.phone, None, contact.id)


def _is_live(contact: AlertContact) -> bool:
    return contact.clinician is None or contact.clinician.is_active


def first_due(severity: str, clinic: Clinic, raised_at: datetime) -> datetime:
    """When a severity's first step goes out (routing.TIMING)."""
    timing = TIMING[severity]
    if timing == "opening_hours":
        return open_at_or_after(clinic.opening_hours, clinic.timezone, raised_at)
    if timing == "daily_digest":
        return next_opening(clinic.opening_hours, clinic.timezone, raised_at)
    return raised_at


def schedule_notices(
    session: Session, *, alerts: list[Alert], treatment: Treatment, now: datetime
) -> list[AlertNotice]:
    """Each alert's notices, by its severity's routing; flushed with the alert, so an alert
    and the promise to tell someone of it are stored together or not at all."""
    notices: list[AlertNotice] = []
    for alert in alerts:
        clinic = session.get_one(Clinic, alert.clinic_id)
        start = first_due(alert.severity, clinic, now)
        gap = timedelta(minutes=clinic.escalate_after_min)
        for number, step in enumerate(routing_of(clinic)[alert.severity], start=1):
            notices += _step_notices(
                session, alert, treatment, clinic, number, step, start + gap * (number - 1)
            )
    session.add_all(notices)
    session.flush()
    return notices


def _step_notices(
    session: Session,
    alert: Alert,
    treatment: Treatment,
    clinic: Clinic,
    number: int,
    step: Step,
    due_at: datetime,
) -> list[AlertNotice]:
    """One notice per address and channel of a step (a person in two groups is told once)."""
    taken: set[tuple[str, str]] = set()
    notices = []
    people = recipients(
        session, clinic=clinic, clinician_id=treatment.clinician_id, groups=step.groups
    )
    for person in people:
        for channel in step.channels:
            address = person.address(channel)
            if address is None or (channel, address) in taken:
                continue
            taken.add((channel, address))
            notices.append(
                AlertNotice(
                    alert_id=alert.id,
                    step=number,
                    channel=channel,
                    address=address,
                    clinician_id=person.clinician_id,
                    contact_id=person.contact_id,
                    recipient=person.name[:200],
                    is_digest=TIMING[alert.severity] == "daily_digest",
                    due_at=due_at,
                )
            )
    return notices


def cancel_notices(session: Session, *, alert: Alert, now: datetime) -> None:
    """Nothing more goes out for an acknowledged alert: pending notices, and claimed ones not
    yet sent (the claim is taken from the worker, which checks it before each message)."""
    session.execute(
        update(AlertNotice)
        .where(AlertNotice.alert_id == alert.id, AlertNotice.status.in_(("pending", "sending")))
        .values(
            status="cancelled",
            claimed_by=None,
            claimed_until=None,
            detail=f"acknowledged at {now:%Y-%m-%d %H:%M} UTC",
        )
    )


# what the server needs for each channel, as an admin is told
SETUP = {"email": "mail server (SMTP_HOST)", "sms": "SMS provider (SMS_ACCOUNT_SID)"}


def configured_channels(config: Mapping[str, Any]) -> set[str]:
    """The clinician channels the server's configuration sets up (as the worker's)."""
    return set(notice_channels(Mailer.from_config(config), SmsProvider.from_config(config)))


def urgent_route_problems(session: Session, *, clinic: Clinic, channels_on: set[str]) -> list[str]:
    """Why an urgent alert of this clinic might reach nobody outside the Today page, in words
    an admin can act on; empty when it has a way out."""
    steps = routing_of(clinic)["urgent"]
    named = {channel for step in steps for channel in step.channels}
    usable = named & channels_on
    if not usable:
        wanted = " and no ".join(SETUP[channel] for channel in sorted(named))
        return [f"The server has no {wanted}: urgent alerts reach nobody by message."]
    problems = []
    named_groups = {group for step in steps for group in step.groups}
    on_call = recipients(session, clinic=clinic, clinician_id=None, groups=["on_call"])
    if "on_call" in named_groups and not any(
        person.address(channel) for person in on_call for channel in usable
    ):
        problems.append(
            "No on-call contact has an address the server can reach: add one under Alert routing."
        )
    everyone = recipients(
        session, clinic=clinic, clinician_id=None, groups=named_groups - {"treating"}
    )
    if "treating" not in named_groups and not any(p.address(c) for p in everyone for c in usable):
        problems.append("Every recipient of urgent alerts is inactive or has no address.")
    return problems
