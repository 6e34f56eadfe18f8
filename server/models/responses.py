"""Response aggregate: a patient's answers to one check-in (or the baseline), and alerts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.patients import Patient
from server.models.treatments import Treatment

# how an answer reached us, in the words the clinic's pages use
SOURCE_LABELS = {
    "app": "Patient's app",
    "baseline": "In clinic, before needling",
    "phone": "By phone",
    "paper": "On paper",
    "clinic": "In clinic",
}
RESPONSE_SOURCES = tuple(SOURCE_LABELS)
SEVERITIES = ("urgent", "same_day", "routine")
# what was done about an alert, as its acknowledgement records it
ACK_ACTIONS = ("called_patient", "advised_emergency_care", "booked_review", "no_action_needed")


class Response(Base):
    """One submission; ``client_id`` is the client's idempotency key."""

    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint(f"source IN {RESPONSE_SOURCES}", name="source"),
        Index(None, "treatment_id", "slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    # NULL for the baseline, given in clinic before the first needle
    checkin_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkins.id", ondelete="CASCADE"), unique=True
    )
    slot: Mapped[str] = mapped_column(String(32))
    answered_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(20), default="app")
    entered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    # red-flag rules this submission met, so a replay can show the same advice again
    flagged_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    treatment: Mapped[Treatment] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="Answer.id"
    )


class Answer(Base):
    """One item's answer, keyed by item code, so a new item needs no schema change.

    Each answer also carries what the analytics group it by: its treatment (and that
    treatment's clinic and modality), its response's time point and the hours from T0 to the
    answer. Treatments and responses are never changed once stored, so these copies stay true;
    with them a recovery curve is one pass over one index instead of a three-table join
    (bench/analytics.py). A feature that edits a treatment must update its answers too."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "item_code"),
        # covering and in GROUP BY order: the curves of a clinic's items never visit the table
        # nor sort (SQLite otherwise sorts every answer: n log n)
        Index(
            "ix_answers_grouping",
            *("clinic_id", "item_code", "modality", "slot", "value_num", "elapsed_hours"),
        ),
        # covering too, for the curves of some treatments only (filtered, split by clinician,
        # patients counted): reached from the treatments, not by reading every answer
        Index(
            "ix_answers_by_treatment",
            *("treatment_id", "item_code", "modality", "slot", "value_num", "elapsed_hours"),
        ),
        # a clinic's answer version, its count and highest id, from one range (services/adjusted)
        Index(None, "clinic_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(64))
    # scales as integers, yes/no as 1/0; choices and free text in value_text
    value_num: Mapped[int | None]
    value_text: Mapped[str | None] = mapped_column(Text)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(20))
    slot: Mapped[str] = mapped_column(String(32))
    elapsed_hours: Mapped[float]  # answered_at - treated_at; negative for a baseline

    response: Mapped[Response] = relationship(back_populates="answers")


class Alert(Base):
    """A red flag from an answer: once per rule per treatment; later answers never clear it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("treatment_id", "rule"),
        CheckConstraint(f"severity IN {SEVERITIES}", name="severity"),
        Index(None, "clinic_id", "acknowledged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # what the acknowledging clinician did (ACK_ACTIONS) and their note
    ack_action: Mapped[str | None] = mapped_column(String(30))
    ack_note: Mapped[str | None] = mapped_column(String(1000))

    patient: Mapped[Patient] = relationship()
