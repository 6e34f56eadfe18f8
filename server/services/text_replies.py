"""Texts patients send back: STOP and its synonyms opt them out, START opts them in again, and
anything else is answered with where to turn, since nobody reads this number.

The keywords are the provider's (Twilio's standard opt-out, opt-in and help words): a message
that is one of them, whatever its case and trailing punctuation, is that keyword. The provider
confirms an opt-out or opt-in itself; we record it so that no text is even tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Patient
from server.services.audit import record_event
from server.services.contacts import contacts_for, emergency_words

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
# Twilio's OptOutType parameter, sent with a keyword when its opt-out management is on
OPT_TYPES = {"STOP": "stop", "START": "start", "HELP": "help"}


@dataclass(frozen=True)
class Reply:
    """What an inbound text was taken as, whom it concerned, and what to answer (None: the
    provider answers keywords itself)."""

    kind: str  # stop | start | help | other
    patient_ids: tuple[int, ...]
    answer: str | None


def kind_of(body: str, opt_type: str | None = None) -> str:
    """stop, start, help or other: the provider's own reading first, else the keywords."""
    if opt_type and opt_type.upper() in OPT_TYPES:
        return OPT_TYPES[opt_type.upper()]
    word = body.strip().rstrip(".!").strip().upper()
    if word in OPT_OUT:
        return "stop"
    if word in OPT_IN:
        return "start"
    return "help" if word in HELP else "other"


def receive_text(
    session: Session, *, sender: str, body: str, opt_type: str | None, now: datetime
) -> Reply:
    """Record what a text from ``sender`` (E.164) says of its patients' texts: every patient
    with that number (a family may share one) is opted out or in, audited without the text."""
    kind = kind_of(body, opt_type)
    patients = list(session.scalars(select(Patient).filter_by(phone=sender).order_by(Patient.id)))
    for patient in patients:
        if kind == "stop" and patient.sms_opted_out_at is None:
            patient.sms_opted_out_at = now
        elif kind == "start" and patient.sms_opted_out_at is not None:
            patient.sms_opted_out_at = None
        else:
            continue
        record_event(
            session,
            clinic_id=patient.clinic_id,
            actor=f"patient:{patient.id}",
            action="patient.sms_opted_out" if kind == "stop" else "patient.sms_opted_in",
            target=f"patient:{patient.id}",
            at=now,
            details={"why": f"the patient texted {kind.upper()}"},
        )
    session.flush()
    answer = None if kind != "other" else _not_read(patients)
    return Reply(kind, tuple(patient.id for patient in patients), answer)


def _not_read(patients: list[Patient]) -> str:
    """The answer to any other text: nobody reads it, and whom to call instead."""
    clinic, emergency = "your clinic", "your local emergency number"
    if len(patients) == 1:
        [patient] = patients
        phone = contacts_for(patient).clinic
        clinic = f"your clinic on {phone.display}" if phone else "your clinic"
        emergency = emergency_words(patient)
    return (
        "Replies to this number are not read. To tell your clinic how you are, use the "
        f"check-in link. If you are worried, call {clinic}; in an emergency call {emergency}."
    )
