"""The audit log: one call for every audited action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.models import AuditEvent


def record_event(
    session: Session,
    *,
    clinic_id: int | None,
    actor: str,
    action: str,
    at: datetime,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits or rolls back with it)."""
    event = AuditEvent(
        clinic_id=clinic_id, actor=actor, action=action, target=target, at=at, details=details or {}
    )
    session.add(event)
    return event
