"""Clinic aggregate: the clinic, its clinicians, their API tokens and protocol overrides."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow

# admin: the clinic's settings and its comparison across clinicians; network_admin: also the
# comparison across the clinics of its network
CLINICIAN_ROLES = ("clinician", "admin", "network_admin")


class Network(Base):
    """A group of clinics whose lead may compare outcomes across them."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Clinic(Base):
    """A clinic: the tenant every other record belongs to."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # the phone patients call, in E.164 (+61299990000); NULL until the clinic gives one
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [{"opens": "08:00", "closes": "18:00"}], ...}: local times per weekday; NULL: not
    # given
    opening_hours: Mapped[dict[str, list[dict[str, str]]] | None] = mapped_column(JSON)
    # NULL: each patient is told their own country's number (server/protocols/countries.toml);
    # set: the number for the clinic's own country, which patients there are told instead
    emergency_number: Mapped[str | None] = mapped_column(String(20))
    network_id: Mapped[int | None] = mapped_column(
        ForeignKey("networks.id", ondelete="SET NULL"), index=True
    )
    # minutes an urgent alert waits for an acknowledgement before its next step goes out
    escalate_after_min: Mapped[int] = mapped_column(default=15, server_default="15")
    # who each severity's alerts reach, step by step (services.alert_routing); NULL: the default
    alert_routing: Mapped[dict[str, list[dict[str, list[str]]]] | None] = mapped_column(JSON)
    # every clinician signs in with a code from an authenticator app too (set up at next sign-in)
    require_two_factor: Mapped[bool] = mapped_column(default=False, server_default=false())
    # new patients' quiet hours unless given (both NULL: none); the 22:00-08:00 default
    default_quiet_start: Mapped[time | None] = mapped_column(
        default=time(22), server_default="22:00:00"
    )
    default_quiet_end: Mapped[time | None] = mapped_column(
        default=time(8), server_default="08:00:00"
    )
    # years after a patient's last treatment their record is proposed for review and erasure
    # (clinical records have legal minimums: a person decides); NULL: never proposed
    retention_years: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    network: Mapped[Network | None] = relationship()
    clinicians: Mapped[list[Clinician]] = relationship(back_populates="clinic")


class Clinician(Base):
    """A person who treats patients and reads their answers; signs in with e-mail and password."""

    __tablename__ = "clinicians"
    __table_args__ = (CheckConstraint(f"role IN {CLINICIAN_ROLES}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    # a mobile number for urgent alerts by text, in E.164
    phone: Mapped[str | None] = mapped_column(String(20))
    # two-factor sign-in: the TOTP secret (base32) once confirmed, NULL while off; the last
    # time step a code was accepted for, so a code cannot be used twice
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None]
    role: Mapped[str] = mapped_column(String(20), default="clinician")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic] = relationship(back_populates="clinicians")

    @property
    def is_admin(self) -> bool:
        """Whether this clinician may change clinic-wide settings such as protocols."""
        return self.role in ("admin", "network_admin")

    @property
    def is_network_admin(self) -> bool:
        """Whether this clinician may compare the clinics of their network."""
        return self.role == "network_admin"


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("clinicians.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # what its owner calls it ("lab export script"), to tell their tokens apart when revoking one
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    # NULL: never expires (only tokens made before expiry existed)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    clinician: Mapped[Clinician] = relationship()


class ClinicianSession(Base):
    """A signed-in browser: its cookie holds a random token whose SHA-256 is stored here, so
    signing out (or revoking every session) ends it on the server, whoever holds a copy."""

    __tablename__ = "clinician_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("clinicians.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    clinician: Mapped[Clinician] = relationship()


# what a one-time account link does: set an invited clinician's first password, or a new one
ACCOUNT_LINK_PURPOSES = ("invitation", "reset")


class AccountLink(Base):
    """A one-time, expiring link that sets a clinician's password (an invitation, a reset);
    only its SHA-256 is stored. Using one, or issuing another of the same purpose, ends it."""

    __tablename__ = "account_links"
    __table_args__ = (CheckConstraint(f"purpose IN {ACCOUNT_LINK_PURPOSES}", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("clinicians.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # NULL: asked for by the clinician (a reset), or made by an admin since removed
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )

    clinician: Mapped[Clinician] = relationship(foreign_keys=[clinician_id])


class RecoveryCode(Base):
    """A one-time code that signs in instead of the authenticator app (a lost phone); shown
    once when made, stored as its SHA-256."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("clinicians.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """A sign-in that failed (wrong password, unknown e-mail, malformed form), by the client's
    address: the login limit counts these across every web process, and the audit reads them."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    address: Mapped[str] = mapped_column(String(64))
    # as typed (trimmed and cut to the column); NULL when none was given
    email: Mapped[str | None] = mapped_column(String(254))


class ProtocolOverride(Base):
    """A clinic's own time points for one modality; applies to treatments recorded afterwards."""

    __tablename__ = "protocol_overrides"
    __table_args__ = (UniqueConstraint("clinic_id", "modality"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(20))
    timepoints: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL")
    )
