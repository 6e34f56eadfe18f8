"""Treatment aggregate: a needling session and the check-ins it schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.patients import Patient

MODALITIES = ("ims", "dry_needling", "acupuncture")
# the side needled, in the words the clinic's pages use
SIDE_LABELS = {"left": "Left side", "right": "Right side", "both": "Both sides"}
SIDES = tuple(SIDE_LABELS)
# the longest points and clinical note a clinician may write (the API and the form say so)
MAX_POINTS, MAX_NOTE = 500, 2000
# the dose's sane ranges, inclusive (the form, the API and the CHECK constraints say so): IMS
# needles stay in a few seconds (about 0.1 min), acupuncture's 15-20 minutes or longer; a
# diameter in mm, since gauge numbers differ between countries (0.16-0.35 mm in practice)
NEEDLE_SITES_RANGE = (1, 100)
RETENTION_MINUTES_RANGE = (0, 180)
NEEDLE_DIAMETER_MM_RANGE = (0.1, 0.6)
CHECKIN_STATUSES = ("scheduled", "sent", "answered", "missed", "cancelled")
# a check-in in one of these states may still be answered or prompted
OPEN_STATUSES = ("scheduled", "sent")


class Treatment(Base):
    """One needling session (T0 = ``treated_at``, the last needle out)."""

    __tablename__ = "treatments"
    __table_args__ = (
        CheckConstraint(f"modality IN {MODALITIES}", name="modality"),
        CheckConstraint(f"side IN {SIDES}", name="side"),
        CheckConstraint(
            "needle_sites BETWEEN {} AND {}".format(*NEEDLE_SITES_RANGE), name="needle_sites"
        ),
        CheckConstraint(
            "retention_minutes >= {} AND retention_minutes <= {}".format(*RETENTION_MINUTES_RANGE),
            name="retention_minutes",
        ),
        CheckConstraint(
            "needle_diameter_mm >= {} AND needle_diameter_mm <= {}".format(
                *NEEDLE_DIAMETER_MM_RANGE
            ),
            name="needle_diameter_mm",
        ),
        # covering for the analytics: a clinic's treatments per modality, their patients
        # counted in order and filtered by date without visiting the table (SQLite's indexes
        # hold the id anyway)
        Index(
            None,
            *("clinic_id", "modality", "patient_id", "treated_at"),
            postgresql_include=["id"],
        ),
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
    # which side was needled; NULL: not recorded (or no side applies, e.g. the spine)
    side: Mapped[str | None] = mapped_column(String(8))
    # the points needled, as the clinician writes them ("GB21, LI4"; "L4-5 multifidus"), beside
    # the coded regions, which alone drive the thoracic flag, the filters and the analytics
    points: Mapped[str | None] = mapped_column(String(MAX_POINTS))
    # the clinician's note on the session: free text, erased with the patient
    note: Mapped[str | None] = mapped_column(Text)
    # the dose, each optional (NULL: not recorded): how many sites were needled, how long the
    # needles stayed in (minutes; IMS's few seconds are fractions), the needle's diameter in mm
    needle_sites: Mapped[int | None]
    retention_minutes: Mapped[float | None]
    needle_diameter_mm: Mapped[float | None]
    # the time points in force when the treatment was recorded: later overrides do not touch it
    protocol: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship()
    checkins: Mapped[list[CheckIn]] = relationship(
        back_populates="treatment", order_by="CheckIn.due_at", cascade="all, delete-orphan"
    )

    def slot_label(self, slot: str) -> str:
        """A time point's words ("1 day") from the protocol the treatment was recorded under."""
        return slot_label(self.protocol, slot)


BASELINE_LABEL = "Before the treatment"  # the answers given in clinic, slot "baseline"


def slot_label(protocol: list[dict[str, Any]], slot: str) -> str:
    """A time point's words in a treatment's protocol snapshot (the baseline's too); the code
    if it has none."""
    if slot == "baseline":
        return BASELINE_LABEL
    return next((point["label"] for point in protocol if point["slot"] == slot), slot)


class TreatmentOutcome(Base):
    """A treatment's outcomes as CLINICAL.md §5 defines them, kept by ``services.outcomes``
    whenever the treatment or one of its answers is stored, so the analytics group treatments
    instead of reading every answer again."""

    __tablename__ = "treatment_outcomes"

    treatment_id: Mapped[int] = mapped_column(
        ForeignKey("treatments.id", ondelete="CASCADE"), primary_key=True
    )
    # hours from T0 to the first answer with soreness <= max(1, baseline soreness)
    resolved_hours: Mapped[float | None]
    # hours from T0 to the last soreness answer after T0 (censoring); NULL: none yet
    last_soreness_hours: Mapped[float | None]
    pain_before: Mapped[int | None]
    # at the last enabled time point of the treatment's own protocol
    pain_after: Mapped[int | None]
    # pain down >= 2 points and >= 30 %; NULL: not judged (no baseline pain > 0 or no final pain)
    responder: Mapped[bool | None]


class CheckIn(Base):
    """One scheduled prompt: a time point of the treatment's protocol, with its answer window."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint(f"status IN {CHECKIN_STATUSES}", name="status"),
        CheckConstraint("expires_at > due_at", name="window"),
        UniqueConstraint("treatment_id", "slot"),
        Index(None, "status", "due_at"),
        # the dispatcher's hot queries: prompts to send, reminders to send (both by status first,
        # so the cost follows what is open, not the history of answered and missed check-ins)
        Index(None, "status", "next_attempt_at"),
        Index(None, "status", "remind_at"),
        # a patient's path: their next check-in, the ones open now, an answer's own; each by
        # its treatment, so none walks every clinic's check-ins (tests/test_answer_plans.py)
        Index(None, "treatment_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(32))
    nominal_hours: Mapped[float]
    items: Mapped[list[str]] = mapped_column(JSON)
    reminder_after_s: Mapped[int | None]
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # when the single reminder is due (quiet hours respected); NULL: none, or already done
    remind_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    sent_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # delivery: when the prompt may next be tried (NULL: not to be tried again), how often it
    # was, and which worker holds it until when (a crashed worker's claim lapses)
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    shown_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    # when the check-in went out by e-mail or text: the fallback has nothing left to do
    messaged_at: Mapped[datetime | None]
    # the window had closed when the treatment was recorded (a back-dated treatment, e.g. from
    # a paper diary): never prompted, left out of the worklist's missed and answer rate; staff
    # enter its answers, and the analytics count it answered or missed like any other
    entry_only: Mapped[bool] = mapped_column(default=False, server_default=false())

    treatment: Mapped[Treatment] = relationship(back_populates="checkins")

    def schedule(
        self, *, due_at: datetime, expires_at: datetime, remind_at: datetime | None
    ) -> None:
        """Set the window and start delivery afresh: the prompt goes out when the window opens."""
        self.due_at, self.expires_at, self.remind_at = due_at, expires_at, remind_at
        self.status, self.sent_at, self.reminded_at = "scheduled", None, None
        self.next_attempt_at, self.attempts = due_at, 0
        self.claimed_until = self.claimed_by = None
        self.shown_at = self.opened_at = self.messaged_at = None

    def takes_entry_at(self, moment: datetime) -> bool:
        """Whether staff can enter its answers at ``moment``: its window has opened and it is
        neither answered nor cancelled (a missed one still takes answers from paper)."""
        return self.status == "missed" or (self.status in OPEN_STATUSES and self.due_at <= moment)

    def is_open_at(self, moment: datetime) -> bool:
        """Whether the answer window is open at ``moment``."""
        return self.status in OPEN_STATUSES and self.due_at <= moment < self.expires_at

    def state_at(self, moment: datetime) -> str:
        """Its state in a clinician's words at ``moment``: a window that has closed reads
        "missed" even before the expiry job marks it so."""
        if self.status not in OPEN_STATUSES:
            late = self.entry_only and self.status == "missed"
            return "not asked: recorded late" if late else self.status
        if moment < self.due_at:
            return "not yet open"
        if moment >= self.expires_at:
            return "missed"
        return "open, prompt sent" if self.status == "sent" else "open"


DELIVERY_KINDS = (
    "queued",  # claimed by a worker for sending
    "sent",  # the push service or mail server accepted it
    "failed",  # an attempt that did not go through (status_code / detail say why)
    "retry",  # another attempt is scheduled
    "gave_up",  # no further attempt: retries exhausted, window closing, or no way to reach them
    "shown",  # the service worker showed the notification
    "opened",  # the patient opened it
    "answered",
)


class DeliveryEvent(Base):
    """The delivery ledger: one row per step of getting a check-in in front of the patient."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        CheckConstraint(f"kind IN {DELIVERY_KINDS}", name="kind"),
        Index(None, "checkin_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    # prompt | reminder | fallback; channel push | email | sms
    purpose: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="SET NULL")
    )
    status_code: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(String(300))
