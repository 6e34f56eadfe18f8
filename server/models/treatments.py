"""Treatment aggregate: a needling session and the check-ins it schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.patients import Patient

MODALITIES = ("ims", "dry_needling", "acupuncture")
CHECKIN_STATUSES = ("scheduled", "sent", "answered", "missed", "cancelled")
# a check-in in one of these states may still be answered or prompted
OPEN_STATUSES = ("scheduled", "sent")


class Treatment(Base):
    """One needling session (T0 = ``treated_at``, the last needle out)."""

    __tablename__ = "treatments"
    __table_args__ = (
        CheckConstraint(f"modality IN {MODALITIES}", name="modality"),
        Index(None, "clinic_id", "modality", "treated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL"), index=True
    )
    modality: Mapped[str] = mapped_column(String(20))
    treated_at: Mapped[datetime]
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # neck, shoulder girdle, upper back or chest needled; NULL = not recorded (ask to be safe)
    thoracic_region: Mapped[bool | None]
    # the time points in force when the treatment was recorded: later overrides do not touch it
    protocol: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship()
    checkins: Mapped[list[CheckIn]] = relationship(
        back_populates="treatment", order_by="CheckIn.due_at", cascade="all, delete-orphan"
    )


class CheckIn(Base):
    """One scheduled prompt: a time point of the treatment's protocol, with its answer window."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint(f"status IN {CHECKIN_STATUSES}", name="status"),
        CheckConstraint("expires_at > due_at", name="window"),
        UniqueConstraint("treatment_id", "slot"),
        # the dispatcher's hot query: what is due, by status and time
        Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(32))
    nominal_hours: Mapped[float]
    items: Mapped[list[str]] = mapped_column(JSON)
    reminder_after_s: Mapped[int | None]
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    sent_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    treatment: Mapped[Treatment] = relationship(back_populates="checkins")

    def is_open_at(self, moment: datetime) -> bool:
        """Whether the answer window is open at ``moment``."""
        return self.status in OPEN_STATUSES and self.due_at <= moment < self.expires_at
