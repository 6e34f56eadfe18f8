"""A patient's course of needling: for each treatment, soreness, pain and mobility before it
(its baseline) and at the last answer after it, so a clinician sees whether the course works.

CLINICAL.md §5: each session has its own baseline, never imputed from answers after T0; the
last answer is the latest one after T0 of each measure, with how long after T0 it came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Answer, Patient, Treatment

COURSE_MEASURES = ("soreness", "pain", "mobility")
BASELINE = "baseline"


@dataclass(frozen=True)
class LastAnswer:
    """A measure's latest answer after a treatment, and how many hours after T0 it came."""

    value: int
    hours: float


@dataclass(frozen=True)
class CourseStep:
    """One treatment of the course: its measures before it and at their last answer after it."""

    treatment_id: int
    modality: str
    treated_at: datetime
    baseline: dict[str, int] = field(default_factory=dict)
    last: dict[str, LastAnswer] = field(default_factory=dict)

    @property
    def is_answered(self) -> bool:
        """Whether any measure was answered, before or after the treatment."""
        return bool(self.baseline or self.last)


def patient_course(session: Session, *, patient: Patient) -> list[CourseStep]:
    """Every treatment of the patient, oldest first, with its baseline and last answers: one
    query over the answers' by-treatment index, whatever the number of treatments."""
    treatments = session.execute(
        select(Treatment.id, Treatment.modality, Treatment.treated_at)
        .filter_by(patient_id=patient.id)
        .order_by(Treatment.treated_at, Treatment.id)
    ).all()
    steps = {row.id: CourseStep(row.id, row.modality, row.treated_at) for row in treatments}
    answers = session.execute(
        select(Answer.treatment_id, Answer.item_code, Answer.slot, Answer.elapsed_hours)
        .add_columns(Answer.value_num)
        .join(Treatment, Answer.treatment_id == Treatment.id)
        .where(
            Treatment.patient_id == patient.id,
            Answer.item_code.in_(COURSE_MEASURES),
            Answer.value_num.is_not(None),
        )
        .order_by(Answer.treatment_id, Answer.elapsed_hours, Answer.id)
    ).all()
    for answer in answers:
        step = steps[answer.treatment_id]
        if answer.slot == BASELINE:
            step.baseline[answer.item_code] = answer.value_num
        elif answer.elapsed_hours >= 0:  # in time order: the last one read is the latest
            step.last[answer.item_code] = LastAnswer(answer.value_num, answer.elapsed_hours)
    return list(steps.values())
