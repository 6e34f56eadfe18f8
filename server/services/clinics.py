"""Clinics, clinicians and their API tokens."""

from __future__ import annotations

from datetime import datetime, time
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from server.models import Clinic, Clinician
from server.models.clinics import CLINICIAN_ROLES
from server.services.audit import record_event
from server.services.contacts import check_emergency_number, check_phone, clinic_country
from server.services.credentials import hash_password, verify_password
from server.services.staff import check_password
from server.services.zones import check_quiet_hours, check_timezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OpeningHours = dict[str, list[tuple[time, time]]]


def create_clinic(
    session: Session,
    *,
    name: str,
    timezone: str,
    phone: str | None = None,
    emergency_number: str | None = None,
    opening_hours: OpeningHours | None = None,
) -> Clinic:
    """A new clinic; names are unique. With no emergency number of its own, each patient is
    told the number of their own country."""
    if session.scalar(select(Clinic).filter_by(name=name)) is not None:
        raise Conflict("a clinic with that name exists", field="name")
    clinic = Clinic(name=name, timezone=check_timezone(timezone))
    _set_contacts(
        clinic,
        {"phone": phone, "emergency_number": emergency_number, "opening_hours": opening_hours},
    )
    session.add(clinic)
    session.flush()
    return clinic


CLINIC_SETTINGS = (
    "name",
    "timezone",
    "phone",
    "emergency_number",
    "opening_hours",
    "require_two_factor",
    "default_quiet_start",
    "default_quiet_end",
    "retention_years",
)
RETENTION_YEARS = (1, 100)


def update_clinic(
    session: Session, *, clinician: Clinician, changes: dict[str, Any], now: datetime
) -> Clinic:
    """Change the clinic's settings (admins only); each change is audited, old and new value."""
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can change the clinic's settings")
    clinic = clinician.clinic
    before = {name: getattr(clinic, name) for name in CLINIC_SETTINGS}
    if "name" in changes and changes["name"] != clinic.name:
        taken = session.scalar(select(Clinic.id).filter_by(name=changes["name"]))
        if taken is not None:
            raise Conflict("a clinic with that name exists", field="name")
        clinic.name = changes["name"]
    if "timezone" in changes:
        clinic.timezone = check_timezone(changes["timezone"])
    if "require_two_factor" in changes:  # asked at each clinician's next sign-in
        clinic.require_two_factor = bool(changes["require_two_factor"])
    if "default_quiet_hours" in changes:  # for patients registered from now on
        clinic.default_quiet_start, clinic.default_quiet_end = check_quiet_hours(
            changes["default_quiet_hours"], field="default_quiet_hours"
        )
    if "retention_years" in changes:
        years = changes["retention_years"]
        if years is not None and not RETENTION_YEARS[0] <= years <= RETENTION_YEARS[1]:
            raise InvalidInput(
                f"give {RETENTION_YEARS[0]} to {RETENTION_YEARS[1]} years, or null for none",
                field="retention_years",
            )
        clinic.retention_years = years
    _set_contacts(clinic, changes)
    for name in CLINIC_SETTINGS:
        if getattr(clinic, name) != before[name]:
            record_event(
                session,
                clinic_id=clinic.id,
                actor=f"clinician:{clinician.id}",
                action="clinic.updated",
                target=f"clinic:{clinic.id}",
                at=now,
                details={
                    "field": name,
                    "old": _plain(before[name]),
                    "new": _plain(getattr(clinic, name)),
                },
            )
    session.flush()
    return clinic


def _plain(value: Any) -> Any:
    """A setting's value as the audit log's JSON holds it (a time as HH:MM)."""
    return value.strftime("%H:%M") if isinstance(value, time) else value


def _set_contacts(clinic: Clinic, changes: dict[str, Any]) -> None:
    """Phone, emergency number and opening hours, each checked; those not in ``changes`` stay."""
    if "phone" in changes:
        clinic.phone = check_phone(changes["phone"], country=clinic_country(clinic))
    if "emergency_number" in changes:
        clinic.emergency_number = check_emergency_number(
            changes["emergency_number"], field="emergency_number"
        )
        if clinic.emergency_number and clinic_country(clinic) is None:
            raise InvalidInput(
                "the clinic's number is for patients in its country: first give the clinic a "
                "time zone of its country (such as Europe/Zurich, not UTC)",
                field="emergency_number",
            )
    if "opening_hours" in changes:
        clinic.opening_hours = check_opening_hours(changes["opening_hours"])


def check_opening_hours(hours: OpeningHours | None) -> dict[str, list[dict[str, str]]] | None:
    """Opening hours as stored: each weekday's intervals, in order and apart; None: not given."""
    if hours is None:
        return None
    errors: dict[str, list[str]] = {}
    stored: dict[str, list[dict[str, str]]] = {}
    for day in WEEKDAYS:
        intervals = sorted(hours.get(day, []))
        if any(opens >= closes for opens, closes in intervals):
            errors[f"opening_hours.{day}"] = ["each interval must close after it opens"]
        elif any(later[0] < earlier[1] for earlier, later in pairwise(intervals)):
            errors[f"opening_hours.{day}"] = ["the intervals overlap"]
        stored[day] = [
            {"opens": f"{opens:%H:%M}", "closes": f"{closes:%H:%M}"} for opens, closes in intervals
        ]
    unknown = sorted(set(hours) - set(WEEKDAYS))
    if unknown:
        errors["opening_hours"] = [f"unknown days {unknown}; use {', '.join(WEEKDAYS)}"]
    if errors:
        raise InvalidInput("the opening hours are not valid; see errors", errors=errors)
    return stored


def create_clinician(
    session: Session,
    *,
    clinic: Clinic,
    email: str,
    password: str,
    role: str = "clinician",
    name: str = "",
) -> Clinician:
    """A new clinician of the clinic; e-mail addresses are unique across clinics."""
    email = email.strip().lower()
    if role not in CLINICIAN_ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(CLINICIAN_ROLES)}", field="role")
    if "@" not in email:
        raise InvalidInput("not an e-mail address", field="email")
    check_password(password, hints=(email, name))
    if session.scalar(select(Clinician).filter_by(email=email)) is not None:
        raise Conflict("a clinician with that e-mail exists", field="email")
    clinician = Clinician(
        clinic=clinic, email=email, password_hash=hash_password(password), role=role, name=name
    )
    session.add(clinician)
    session.flush()
    return clinician


def authenticate(session: Session, *, email: str, password: str) -> Clinician:
    """The active clinician with these credentials, else ``Unauthorized`` (never says which)."""
    clinician = session.scalar(
        select(Clinician).where(func.lower(Clinician.email) == email.strip().lower())
    )
    known = clinician is not None and clinician.is_active
    if not verify_password(clinician.password_hash if known and clinician else None, password):
        raise Unauthorized("wrong e-mail or password")
    assert clinician is not None  # noqa: S101 - verify_password fails without a hash
    return clinician


def clinician_by_email(session: Session, *, email: str) -> Clinician:
    """Find a clinician by e-mail (CLI use)."""
    clinician = session.scalar(select(Clinician).filter_by(email=email.strip().lower()))
    if clinician is None:
        raise NotFound("no clinician with that e-mail", field="email")
    return clinician
