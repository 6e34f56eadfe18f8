"""Audit log: who read or changed what, for record views and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class AuditEvent(Base):
    """One audited action; ``actor`` is ``clinician:<id>``, ``patient:<id>`` or ``system``.

    An entry says who, what, which record, when and from where, never answers or notes; it
    keeps the bare id of the patient it concerns (no foreign key: an erased patient's entries
    stay, naming nobody)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "clinic_id", "at"), Index(None, "clinic_id", "patient_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None]
    # the client's address (as the proxies in front saw it); NULL: not a request (the worker)
    address: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
