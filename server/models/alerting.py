"""Who a red-flag alert reaches: a clinic's on-call and backup contacts, and each notice sent
(the alert's ledger: one row per step, address and channel, claimed like a check-in)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.clinics import Clinician

CONTACT_ROLES = ("on_call", "backup")
NOTICE_CHANNELS = ("email", "sms")
# pending: waits for its time (or a retry); sending: claimed and on its way (a lapsed claim is
# sent again); sent; failed: gave up; skipped: nobody to send to (an inactive clinician, a
# channel not configured); cancelled: the alert was acknowledged first
NOTICE_STATUSES = ("pending", "sending", "sent", "failed", "skipped", "cancelled")


class AlertContact(Base):
    """Someone a clinic's alerts go to by role: a clinician of the clinic, or a person outside
    it (an on-call phone, a covering practitioner) with an address of their own."""

    __tablename__ = "alert_contacts"
    __table_args__ = (
        CheckConstraint(f"role IN {CONTACT_ROLES}", name="role"),
        CheckConstraint(
            "clinician_id IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL", name="reachable"
        ),
        UniqueConstraint("clinic_id", "role", "clinician_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinician: Mapped[Clinician | None] = relationship()


class AlertNotice(Base):
    """One notification of an alert to one address at one step of its routing."""

    __tablename__ = "alert_notices"
    __table_args__ = (
        CheckConstraint(f"status IN {NOTICE_STATUSES}", name="status"),
        CheckConstraint(f"channel IN {NOTICE_CHANNELS}", name="channel"),
        UniqueConstraint("alert_id", "step", "channel", "address"),
        Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    step: Mapped[int]  # 1 at once; each later one an escalation
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(254))  # as it was when the alert was raised
    # who: the clinician (inactive ones are skipped when it is due) or the outside contact
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_contacts.id", ondelete="SET NULL")
    )
    recipient: Mapped[str] = mapped_column(String(200))  # a name to show in the ledger
    is_digest: Mapped[bool] = mapped_column(default=False)  # sent with others due together
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(String(300))
