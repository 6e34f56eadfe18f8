"""A clinic's protocols: the defaults from data, or the clinic's own time points."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound, flatten_errors
from server.models import Clinician, ProtocolOverride
from server.protocols import Protocol, default_protocols, dump_timepoints, parse_timepoints
from server.services.audit import record_event


def clinic_protocol(session: Session, *, clinic_id: int, modality: str) -> tuple[Protocol, bool]:
    """The protocol in force for new treatments of this modality, and whether the clinic set it."""
    try:
        protocol = default_protocols()[modality]
    except KeyError:
        raise InvalidInput(
            f"unknown modality; use one of: {', '.join(default_protocols())}", field="modality"
        ) from None
    override = session.scalar(
        select(ProtocolOverride).filter_by(clinic_id=clinic_id, modality=modality)
    )
    if override is None:
        return protocol, False
    return replace(protocol, timepoints=parse_timepoints(override.timepoints)), True


def protocol_for(session: Session, *, clinic_id: int, modality: str) -> Protocol:
    """The protocol in force for new treatments of this modality at this clinic."""
    return clinic_protocol(session, clinic_id=clinic_id, modality=modality)[0]


def clinic_protocols(session: Session, *, clinic_id: int) -> list[tuple[Protocol, bool]]:
    """Every modality's protocol in force, with whether the clinic overrides it."""
    return [
        clinic_protocol(session, clinic_id=clinic_id, modality=modality)
        for modality in default_protocols()
    ]


def override_timepoints(
    session: Session,
    *,
    clinician: Clinician,
    modality: str,
    timepoints: list[dict[str, Any]],
    now: datetime,
) -> Protocol:
    """Replace a modality's time points for this clinic; treatments recorded before keep theirs."""
    protocol_for(session, clinic_id=clinician.clinic_id, modality=modality)  # known modality?
    try:
        parsed = parse_timepoints(timepoints)
    except ma.ValidationError as error:
        raise InvalidInput(
            "the time points are not valid", errors=flatten_errors(error.messages)
        ) from None
    override = session.scalar(
        select(ProtocolOverride).filter_by(clinic_id=clinician.clinic_id, modality=modality)
    ) or ProtocolOverride(clinic_id=clinician.clinic_id, modality=modality, timepoints=[])
    override.timepoints = dump_timepoints(parsed)
    override.updated_at = now
    override.updated_by_id = clinician.id
    session.add(override)
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="protocol.override",
        target=f"protocol:{modality}",
        at=now,
    )
    session.flush()
    return protocol_for(session, clinic_id=clinician.clinic_id, modality=modality)


def reset_protocol(
    session: Session, *, clinician: Clinician, modality: str, now: datetime
) -> Protocol:
    """Drop the clinic's override: new treatments use the default time points again."""
    override = session.scalar(
        select(ProtocolOverride).filter_by(clinic_id=clinician.clinic_id, modality=modality)
    )
    if override is None:
        raise NotFound("this clinic has no override for that modality", field="modality")
    session.delete(override)
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="protocol.reset",
        target=f"protocol:{modality}",
        at=now,
    )
    session.flush()
    return protocol_for(session, clinic_id=clinician.clinic_id, modality=modality)
