"""The audit log: one call for every audited action.

Where the action came from (the client's address) is set once per request by the web layer
(``from_address``), so no service needs the request to say it; the worker's actions have none.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.models import AuditEvent

from_address: ContextVar[str | None] = ContextVar("audit_from_address", default=None)


def record_event(
    session: Session,
    *,
    clinic_id: int | None,
    actor: str,
    action: str,
    at: datetime,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    patient_id: int | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits or rolls back with it). The
    patient concerned is ``patient_id``, or the target's where it is a patient."""
    if patient_id is None and target is not None and target.startswith("patient:"):
        patient_id = int(target.removeprefix("patient:"))
    event = AuditEvent(
        clinic_id=clinic_id,
        actor=actor,
        action=action,
        target=target,
        at=at,
        details=details or {},
        patient_id=patient_id,
        address=from_address.get(),
    )
    session.add(event)
    return event
