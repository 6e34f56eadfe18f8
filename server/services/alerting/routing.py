"""Who a clinic's red-flag alerts reach, step by step: routing as data a clinic admin edits.

Per severity, a list of steps; each step names groups of people and the channels to reach them
by. Step 1 goes out when the alert is raised (urgent: at once, at any hour; same-day: at once
within the clinic's opening hours, else when it next opens; routine: in a daily digest at
opening); each later step (urgent only) goes out ``escalate_after_min`` after the one before,
unless the alert was acknowledged first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from server.errors import Forbidden, InvalidInput
from server.models import Clinic, Clinician
from server.models.alerting import NOTICE_CHANNELS
from server.models.responses import SEVERITIES
from server.services.audit import record_event

# who a step can name: the clinician who gave the treatment, the clinic's on-call contacts,
# its backup contacts, every active clinic admin
GROUPS = ("treating", "on_call", "backup", "admins")
GROUP_LABELS = {
    "treating": "the treating clinician",
    "on_call": "the on-call contacts",
    "backup": "the backup contacts",
    "admins": "every clinic admin",
}
CHANNEL_LABELS = {"email": "e-mail", "sms": "text message (SMS)"}
# when step 1 of each severity goes out (CLINICAL.md §3)
TIMING = {"urgent": "at_once", "same_day": "opening_hours", "routine": "daily_digest"}
TIMING_LABELS = {
    "at_once": "at once, at any hour",
    "opening_hours": "at once within opening hours, else when the clinic next opens",
    "daily_digest": "in a daily digest when the clinic opens",
}
MAX_STEPS = 5
ESCALATE_AFTER_MIN = (1, 240)  # the bounds of the minutes between an urgent alert's steps


@dataclass(frozen=True)
class Step:
    """One step of a severity's routing: these groups, by these channels."""

    groups: tuple[str, ...]
    channels: tuple[str, ...]


Routing = dict[str, tuple[Step, ...]]

DEFAULT_ROUTING: Routing = {
    "urgent": (
        Step(("treating", "on_call"), ("email", "sms")),
        Step(("backup",), ("email", "sms")),
        Step(("admins",), ("email", "sms")),
    ),
    "same_day": (Step(("treating", "on_call"), ("email",)),),
    "routine": (Step(("treating",), ("email",)),),
}


@dataclass(frozen=True)
class ClinicRouting:
    """A clinic's routing as it is shown and edited: its steps, the minutes between them."""

    escalate_after_min: int
    routing: dict[str, list[dict[str, list[str]]]]
    is_default: bool


def clinic_routing(clinic: Clinic) -> ClinicRouting:
    """The routing in force for the clinic, in its stored form."""
    return ClinicRouting(
        clinic.escalate_after_min, stored(routing_of(clinic)), clinic.alert_routing is None
    )


def routing_of(clinic: Clinic) -> Routing:
    """The clinic's routing: its own where it set one, the default otherwise."""
    if clinic.alert_routing is None:
        return DEFAULT_ROUTING
    return {
        severity: tuple(
            Step(tuple(step["groups"]), tuple(step["channels"]))
            for step in clinic.alert_routing[severity]
        )
        for severity in SEVERITIES
    }


def stored(routing: Routing) -> dict[str, list[dict[str, list[str]]]]:
    """Routing as the clinic's column (and the API) hold it."""
    return {
        severity: [
            {"groups": list(step.groups), "channels": list(step.channels)}
            for step in routing[severity]
        ]
        for severity in SEVERITIES
    }


def check_routing(raw: object) -> Routing:
    """Routing from its stored form, each rule checked: every severity, one to five steps for
    urgent and exactly one for the others, each step with known groups and channels, each named
    once. Errors are named as the API's body names them (``routing.urgent.0.groups``)."""
    if not isinstance(raw, dict):
        raise InvalidInput("give each severity's steps", field="routing")
    errors: dict[str, list[str]] = {}
    for severity in sorted(str(key) for key in set(raw) - set(SEVERITIES)):
        errors[f"routing.{severity}"] = [f"not a severity; use {', '.join(SEVERITIES)}"]
    routing: Routing = {}
    for severity in SEVERITIES:
        steps = raw.get(severity)
        most = MAX_STEPS if severity == "urgent" else 1
        if not isinstance(steps, list) or not 1 <= len(steps) <= most:
            errors[f"routing.{severity}"] = [
                f"give 1 to {most} steps"
                if most > 1
                else "give exactly one step: only urgent alerts escalate"
            ]
            continue
        routing[severity] = tuple(
            _check_step(step, f"routing.{severity}.{index}", errors)
            for index, step in enumerate(steps)
        )
    if errors:
        raise InvalidInput("the alert routing is not valid; see errors", errors=errors)
    return routing


def _check_step(step: object, where: str, errors: dict[str, list[str]]) -> Step:
    if not isinstance(step, dict):
        errors[where] = ["give the step's groups and channels"]
        return Step((), ())
    names: dict[str, tuple[str, ...]] = {}
    for name, known in (("groups", GROUPS), ("channels", NOTICE_CHANNELS)):
        given = step.get(name)
        if not isinstance(given, list) or not all(isinstance(item, str) for item in given):
            errors[f"{where}.{name}"] = [f"give a list of: {', '.join(known)}"]
        elif not given:
            errors[f"{where}.{name}"] = ["name at least one"]
        elif unknown := sorted(set(given) - set(known)):
            errors[f"{where}.{name}"] = [f"unknown {unknown}; use {', '.join(known)}"]
        elif len(set(given)) != len(given):
            errors[f"{where}.{name}"] = ["each may be named once"]
        else:
            names[name] = tuple(given)
    return Step(names.get("groups", ()), names.get("channels", ()))


def set_routing(
    session: Session,
    *,
    clinician: Clinician,
    routing: object,
    escalate_after_min: int,
    now: datetime,
) -> Clinic:
    """Set the clinic's routing, as its stored form (None: back to the default; each rule
    checked by ``check_routing``), and the minutes between an urgent alert's steps (admins
    only; audited). Alerts already raised keep their notices."""
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can change where alerts go")
    checked = None if routing is None else check_routing(routing)
    low, high = ESCALATE_AFTER_MIN
    if not low <= escalate_after_min <= high:
        raise InvalidInput(f"must be from {low} to {high} minutes", field="escalate_after_min")
    clinic = clinician.clinic
    old = {"routing": clinic.alert_routing, "escalate_after_min": clinic.escalate_after_min}
    clinic.alert_routing = None if checked is None else stored(checked)
    clinic.escalate_after_min = escalate_after_min
    new = {"routing": clinic.alert_routing, "escalate_after_min": clinic.escalate_after_min}
    if new != old:
        record_event(
            session,
            clinic_id=clinic.id,
            actor=f"clinician:{clinician.id}",
            action="clinic.alert_routing_updated",
            target=f"clinic:{clinic.id}",
            at=now,
            details={"old": old, "new": new},
        )
    session.flush()
    return clinic
