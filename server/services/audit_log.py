"""Reading the audit log: a clinic admin's search by clinician, patient, action and dates,
newest first, a page at a time or whole as CSV rows, in words (who, what, which record, when,
from where).

The words for each action are data (``ACTION_LABELS``); an action without words shows its
code. Entries hold no answers or notes, so nothing here can show any.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.errors import Forbidden
from server.models import AuditEvent, Clinician, Patient
from server.services.audit import record_event
from server.services.exports import spreadsheet_safe

ACTION_LABELS = {
    "alert.acknowledged": "acknowledged a red flag",
    "api_token.issued": "made an API token",
    "api_token.revoked": "revoked an API token",
    "checkin.cancelled": "cancelled a check-in",
    "checkin.moved": "moved a check-in",
    "clinic.alert_contact_added": "added an alert contact",
    "clinic.alert_contact_removed": "removed an alert contact",
    "clinic.alert_routing_updated": "changed the alert routing",
    "clinic.updated": "changed a clinic setting",
    "clinician.access_revoked": "ended sessions and API tokens",
    "clinician.deactivated": "ended a clinician's access",
    "clinician.invited": "invited a clinician",
    "clinician.invitation_link_made": "made an invitation link",
    "clinician.password_changed": "changed their password",
    "clinician.password_reset": "reset their password through a link",
    "clinician.password_reset_requested": "asked for a password reset",
    "clinician.phone_changed": "changed their mobile number",
    "clinician.reactivated": "restored a clinician's access",
    "clinician.recovery_code_used": "signed in with a recovery code",
    "clinician.recovery_codes_renewed": "made new recovery codes",
    "clinician.reset_link_made": "made a password-reset link",
    "clinician.role_changed": "changed a clinician's role",
    "clinician.sign_in_failed": "failed to sign in",
    "clinician.signed_in": "signed in",
    "clinician.signed_out": "signed out",
    "clinician.signed_up": "set their password from an invitation",
    "clinician.two_factor_disabled": "turned two-factor sign-in off",
    "clinician.two_factor_enabled": "turned two-factor sign-in on",
    "clinician.two_factor_reset": "reset a clinician's two-factor sign-in",
    "audit.exported": "downloaded the audit log",
    "enrolment.issued": "made an enrolment link",
    "export.analytics_csv": "downloaded analytics figures",
    "export.csv": "exported answers (CSV)",
    "export.fhir": "exported records (FHIR)",
    "patient.created": "registered a patient",
    "patient.enrolled": "enrolled a phone",
    "patient.summary_printed": "printed a patient's summary",
    "patient.exported": "exported a patient's record (FHIR)",
    "patient.discharged": "discharged a patient",
    "patient.readmitted": "re-admitted a patient",
    "patient.erased": "erased a patient's data",
    "patient.sms_opted_in": "opted in to texts (START)",
    "patient.sms_opted_out": "opted out of texts (STOP)",
    "patient.tokens_revoked": "revoked a patient's devices",
    "patient.updated": "changed a patient's details",
    "patient.viewed": "viewed a patient's record",
    "patients.listed": "viewed the patient list",
    "protocol.override": "changed a protocol",
    "protocol.reset": "reset a protocol",
    "response.entered": "entered answers for a patient",
    "treatment.recorded": "recorded a treatment",
    "treatment.viewed": "viewed a treatment",
}


@dataclass(frozen=True)
class AuditQuery:
    """What to look for; None: any. Dates are the clinic's local days, both included."""

    clinician_id: int | None = None
    patient_id: int | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """One entry in words."""

    id: int
    at: datetime
    actor: str
    who: str
    action: str
    what: str
    target: str | None
    record: str
    patient_id: int | None
    address: str | None
    details: dict[str, Any]


def search_audit(
    session: Session, *, viewer: Clinician, query: AuditQuery, offset: int, limit: int
) -> tuple[list[AuditRow], int]:
    """A page of the clinic's entries, newest first, and how many match in all (admins)."""
    criteria = _criteria(viewer, query)
    total = session.scalar(select(func.count(AuditEvent.id)).where(*criteria)) or 0
    events = session.scalars(
        select(AuditEvent)
        .where(*criteria)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return _in_words(session, list(events)), total


def audit_csv(session: Session, *, viewer: Clinician, query: AuditQuery, now: datetime) -> str:
    """Every matching entry as CSV (the download is itself audited)."""
    criteria = _criteria(viewer, query)
    events = session.scalars(
        select(AuditEvent).where(*criteria).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    ).all()
    rows = _in_words(session, list(events))
    record_event(
        session,
        clinic_id=viewer.clinic_id,
        actor=f"clinician:{viewer.id}",
        action="audit.exported",
        at=now,
        details={"entries": len(rows)},
    )
    return _csv(rows)


def _criteria(viewer: Clinician, query: AuditQuery) -> list[ColumnElement[bool]]:
    if not viewer.is_admin:
        raise Forbidden("only a clinic admin can read the audit log")
    zone = ZoneInfo(viewer.clinic.timezone)
    criteria: list[ColumnElement[bool]] = [AuditEvent.clinic_id == viewer.clinic_id]
    if query.clinician_id is not None:
        criteria.append(AuditEvent.actor == f"clinician:{query.clinician_id}")
    if query.patient_id is not None:
        criteria.append(AuditEvent.patient_id == query.patient_id)
    if query.action:
        criteria.append(AuditEvent.action == query.action)
    if query.since is not None:
        criteria.append(AuditEvent.at >= datetime.combine(query.since, time(), zone))
    if query.until is not None:
        end = datetime.combine(query.until + timedelta(days=1), time(), zone)
        criteria.append(AuditEvent.at < end)
    return criteria


def _in_words(session: Session, events: list[AuditEvent]) -> list[AuditRow]:
    """Entries with their people and patients named (one query for each kind)."""
    clinician_ids = {
        int(event.actor.removeprefix("clinician:"))
        for event in events
        if event.actor.startswith("clinician:")
    } | {
        int(event.target.removeprefix("clinician:"))
        for event in events
        if event.target and event.target.startswith("clinician:")
    }
    names = {
        clinician.id: clinician.name or clinician.email
        for clinician in session.scalars(select(Clinician).where(Clinician.id.in_(clinician_ids)))
    }
    patient_ids = {event.patient_id for event in events if event.patient_id is not None}
    codes = dict(
        session.execute(select(Patient.id, Patient.code).where(Patient.id.in_(patient_ids))).all()
    )
    return [
        AuditRow(
            id=event.id,
            at=event.at,
            actor=event.actor,
            who=_person(event.actor, names, codes),
            action=event.action,
            what=ACTION_LABELS.get(event.action, event.action),
            target=event.target,
            record=_record(event, names, codes),
            patient_id=event.patient_id,
            address=event.address,
            details=event.details,
        )
        for event in events
    ]


def _person(actor: str, names: dict[int, str], codes: dict[int, str]) -> str:
    kind, _, key = actor.partition(":")
    if kind == "clinician" and key.isdigit():
        return names.get(int(key), f"clinician #{key}")
    if kind == "patient" and key.isdigit():
        return f"patient {codes.get(int(key), f'#{key} (erased)')}"
    if kind == "address":
        return f"unknown, from {key}"
    if kind == "provider":
        return "the SMS provider"
    return actor


def _record(event: AuditEvent, names: dict[int, str], codes: dict[int, str]) -> str:
    """Which record the entry concerns, in words: the patient by code, and what of theirs."""
    parts = []
    if event.patient_id is not None:
        parts.append(f"patient {codes.get(event.patient_id, f'#{event.patient_id} (erased)')}")
    if event.target:
        kind, _, key = event.target.partition(":")
        if kind == "clinician" and key.isdigit():
            parts.append(names.get(int(key), f"clinician #{key}"))
        elif kind != "patient":
            parts.append(f"{kind.replace('_', ' ')} #{key}")
    return ", ".join(parts)


def _csv(rows: list[AuditRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at_utc", "who", "actor", "action", "what", "record", "patient_id", "address"])
    for row in rows:
        writer.writerow(
            [
                row.at.isoformat(),
                spreadsheet_safe(row.who),  # names are typed by people: never a formula
                row.actor,
                row.action,
                row.what,
                spreadsheet_safe(row.record),
                row.patient_id or "",
                row.address or "",
            ]
        )
    return out.getvalue()
