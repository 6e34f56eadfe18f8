"""The questions a check-in asks, as the patient sees them (texts, scales, anchor words)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Answer, CheckIn, Response, Treatment
from server.protocols import Item, item_bank
from server.services.answers import baseline_of, hours_since
from server.services.contacts import emergency_words
from server.services.red_flags import triggers


def question(
    item: Item, *, activity: str | None = None, at_baseline: bool = False
) -> dict[str, Any]:
    """One item as the phone renders it; the mobility text names the patient's own activity."""
    text = item.baseline_text if at_baseline and item.baseline_text else item.text
    if "{mobility_activity}" in text:
        text = (
            text.replace("{mobility_activity}", activity)
            if activity
            else (item.fallback_text or text)
        )
    shown: dict[str, Any] = {"code": item.code, "kind": item.kind, "text": text, "required": False}
    if item.help:
        shown["help"] = item.help
    if item.kind == "scale":
        shown.update(min=item.min, max=item.max, min_label=item.min_label, max_label=item.max_label)
    if item.kind == "choice":
        shown["options"] = [{"code": option.code, "label": option.label} for option in item.options]
    if item.kind == "text":
        shown["max_length"] = item.max_length
    if item.enable_when:
        shown["enable_when"] = dict(item.enable_when)
    if item.loinc:
        shown["loinc"] = item.loinc
    return shown


def mobility_activity(session: Session, *, patient_id: int) -> str | None:
    """The activity the patient named at their latest baseline, for the mobility question."""
    return session.scalar(
        select(Answer.value_text)
        .join(Response)
        .join(Treatment)
        .where(
            Treatment.patient_id == patient_id,
            Response.slot == "baseline",
            Answer.item_code == "mobility_activity",
        )
        .order_by(Response.answered_at.desc())
        .limit(1)
    )


def questions_for(session: Session, checkin: CheckIn) -> list[dict[str, Any]]:
    """Every item the check-in asks, in protocol order."""
    activity = None
    if "mobility" in checkin.items:
        activity = mobility_activity(session, patient_id=checkin.treatment.patient_id)
    return [question(item_bank()[code], activity=activity) for code in checkin.items]


def questions_for_patient(session: Session, checkin: CheckIn) -> list[dict[str, Any]]:
    """The questions as the patient's phone gets them: each with the answers that would raise
    a red flag at this check-in and the advice they bring (``red_flags``)."""
    bank, treatment = item_bank(), checkin.treatment
    baseline = baseline_of(session, treatment.id)
    window_h = (hours_since(treatment, checkin.due_at), hours_since(treatment, checkin.expires_at))
    number = emergency_words(treatment.patient)
    return [
        {
            **shown,
            "red_flags": triggers(
                bank[shown["code"]], baseline=baseline, window_h=window_h, emergency_number=number
            ),
        }
        for shown in questions_for(session, checkin)
    ]
