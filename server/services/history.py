"""A patient's own recovery: soreness and pain against hours since each treatment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Answer, Patient, Response, Treatment
from server.services.treatment_words import treatment_words

MEASURES = ("soreness", "pain")


def recovery_history(session: Session, *, patient: Patient, limit: int = 5) -> list[dict[str, Any]]:
    """The patient's latest treatments, each with its baseline and answers over time."""
    treatments = list(
        session.scalars(
            select(Treatment)
            .filter_by(patient_id=patient.id)
            .order_by(Treatment.treated_at.desc())
            .limit(limit)
        )
    )
    rows = session.execute(
        select(
            Response.treatment_id,
            Response.slot,
            Response.answered_at,
            Answer.item_code,
            Answer.value_num,
        )
        .join(Answer, Answer.response_id == Response.id)
        .where(
            Response.treatment_id.in_([t.id for t in treatments]), Answer.item_code.in_(MEASURES)
        )
        .order_by(Response.answered_at)
    )
    by_treatment: dict[int, dict[str, Any]] = {
        t.id: {
            "treatment_id": t.id,
            "modality": t.modality,
            **treatment_words(t),
            "baseline": {},
            "points": {},
        }
        for t in treatments
    }
    for treatment_id, slot, answered_at, code, value in rows:
        entry = by_treatment[treatment_id]
        if slot == "baseline":
            entry["baseline"][code] = value
            continue
        treatment = next(t for t in treatments if t.id == treatment_id)
        hours = round((answered_at - treatment.treated_at).total_seconds() / 3600, 1)
        point = {"hours": hours, "slot_label": treatment.slot_label(slot)}
        entry["points"].setdefault(answered_at, point)[code] = value
    return [{**entry, "points": list(entry["points"].values())} for entry in by_treatment.values()]
