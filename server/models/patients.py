"""Patient aggregate: the patient, their enrolment and device tokens, push subscriptions."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.clinics import Clinic

# the ways a check-in reaches a patient, and the order they are tried in unless the clinic
# sets another for the patient
CHANNELS = ("push", "email", "sms")
DEFAULT_CHANNEL_ORDER = ",".join(CHANNELS)
# where a patient's consent to texts was given: the enrolment form, to a clinician on the
# phone, on a paper form
CONSENT_SOURCES = ("enrolment", "phone", "paper")


class Patient(Base):
    """A patient, known to the clinic by a code; minimal personal data."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "code"),
        CheckConstraint(f"sms_consent_source IN {CONSENT_SOURCES}", name="sms_consent_source"),
        Index(None, "phone"),  # an inbound text (STOP) finds its patients by their number
        # an erased patient's id is never given out again: the audit log's bare ids name nobody
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # NULL start and end: no quiet hours at all (the patient asked to be prompted any time)
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    email: Mapped[str | None] = mapped_column(String(254))
    # a mobile number for texts, in E.164; texted only with consent and no opt-out
    phone: Mapped[str | None] = mapped_column(String(20))
    sms_consent_at: Mapped[datetime | None]
    sms_consent_source: Mapped[str | None] = mapped_column(String(10))
    # the patient texted STOP (or the provider said they had): never texted until they text START
    sms_opted_out_at: Mapped[datetime | None]
    # the channels a check-in tries, in this order (CHANNELS, comma-separated); one left out is
    # never used for this patient
    channel_order: Mapped[str] = mapped_column(
        String(32), default=DEFAULT_CHANNEL_ORDER, server_default=DEFAULT_CHANNEL_ORDER
    )
    # ISO 3166 code; NULL: the country of the patient's time zone
    country: Mapped[str | None] = mapped_column(String(2))
    # NULL: the number of the patient's country (or the clinic's own, when set, for its country)
    emergency_number: Mapped[str | None] = mapped_column(String(20))
    # discharged: no more prompts or reminders (open check-ins were cancelled then), the record
    # stays; NULL: under the clinic's care
    discharged_at: Mapped[datetime | None]
    # signed into every e-mailed check-in link; revoking the patient's devices moves it on, so
    # links sent before stop working too
    link_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic] = relationship()

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels tried for this patient, in order."""
        return tuple(self.channel_order.split(","))

    @property
    def is_textable(self) -> bool:
        """Whether a text may go to this patient: a number, consent, and no opt-out."""
        return bool(self.phone and self.sms_consent_at and self.sms_opted_out_at is None)


class EnrolmentToken(Base):
    """A one-time, expiring token behind the enrolment link / QR code; stored hashed."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )

    patient: Mapped[Patient] = relationship()


class PatientToken(Base):
    """The long-lived token a patient's phone holds after enrolment; stored hashed, revocable."""

    __tablename__ = "patient_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship()


class PushSubscription(Base):
    """A browser's Web Push subscription (``PushSubscription.toJSON()``) for one patient."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
