"""A patient's weekly course of treatments with every check-in answered, as the clinic enters
them from a paper diary: for page tests, browser tests and bench/patient_page.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from server.models import Clinician, Patient, Treatment
from server.protocols import item_bank
from server.services.answers import enter_response
from tests.factories import make_treatment

MODALITIES = ("dry_needling", "ims", "acupuncture")


def make_course(
    session: Session,
    clinician: Clinician,
    patient: Patient,
    *,
    treatments: int = 8,
    now: datetime | None = None,
) -> list[Treatment]:
    """``treatments`` sessions a week apart, the newest two days ago, oldest first; each with a
    baseline and every check-in due so far answered. Pain before each session falls and
    mobility rises across the course; soreness flares after each session, then settles."""
    now = now or datetime.now(UTC)
    course = []
    for index in range(treatments):
        progress = index / max(treatments - 1, 1)
        treated_at = now - timedelta(days=7 * (treatments - 1 - index) + 2)
        pain, mobility = round(7 - 4 * progress), round(3 + 5 * progress)
        treatment = make_treatment(
            session,
            clinician,
            patient,
            modality=MODALITIES[index % len(MODALITIES)],
            treated_at=treated_at,
            regions=["lower_back"],
            side="left",
            baseline={
                "soreness": 2,
                "pain": pain,
                "mobility_activity": "Reaching up to a shelf",
                "mobility": mobility,
            },
            baseline_at=treated_at - timedelta(minutes=40),
        )
        for checkin in treatment.checkins:
            answered_at = checkin.due_at + timedelta(minutes=20)
            if answered_at > now:
                continue
            hours = checkin.nominal_hours
            values = {
                "soreness": max(0, round(5 - hours / 24)),
                "pain": max(0, pain - (1 if hours < 72 else 2)),
                "mobility": min(10, mobility + 1),
            }
            enter_response(
                session,
                clinician=clinician,
                checkin_id=checkin.id,
                client_id=uuid.uuid4(),
                answers={
                    code: _answer(code, values)
                    for code in checkin.items
                    if item_bank()[code].kind != "text"  # free text is optional: left out
                },
                answered_at=answered_at,
                source="paper",
                note=None,
                now=now,
            )
        course.append(treatment)
    session.commit()
    return course


def _answer(code: str, values: dict[str, int]) -> object:
    """A calm answer to any item but free text: the course's value of a measure, no red flag."""
    item = item_bank()[code]
    if code in values:
        return values[code]
    if item.kind == "scale":
        return 6
    if item.kind == "boolean":
        return False
    return item.options[0].code
