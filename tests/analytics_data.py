"""Builders for analytics tests: treatments with answers written straight to the tables, so a
test states exactly which values the analytics must aggregate."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from server.models import Answer, CheckIn, Clinic, Clinician, Patient, Response, Treatment
from server.protocols import Protocol, default_protocols, dump_timepoints
from server.services import outcomes
from tests.factories import NOW


class Cohort:
    """Patients of one clinic, each treated once or more, with answers per slot."""

    def __init__(self, session: Session, clinic: Clinic, clinician: Clinician | None = None):
        self.session, self.clinic, self.clinician = session, clinic, clinician
        self.count = 0

    def patient(self) -> Patient:
        """A new patient of the clinic."""
        self.count += 1
        patient = Patient(
            clinic_id=self.clinic.id, code=f"P{self.count:04d}", timezone="America/Vancouver"
        )
        self.session.add(patient)
        self.session.flush()
        return patient

    def treatment(
        self,
        modality: str,
        *,
        patient: Patient | None = None,
        treated_at: datetime = NOW - timedelta(days=10),
        regions: list[str] | None = None,
        clinician: Clinician | None = None,
        protocol: Protocol | None = None,
    ) -> Treatment:
        """A treatment (with its protocol snapshot, the default unless given; no check-ins
        until ``checkin`` adds them)."""
        protocol = protocol or default_protocols()[modality]
        by = clinician or self.clinician
        treatment = Treatment(
            clinic_id=self.clinic.id,
            patient_id=(patient or self.patient()).id,
            clinician_id=by.id if by else None,
            modality=modality,
            treated_at=treated_at,
            regions=regions or ["neck"],
            thoracic_region=True,
            protocol=dump_timepoints(protocol.timepoints),
        )
        self.session.add(treatment)
        self.session.flush()
        outcomes.refresh(self.session, [treatment.id])
        return treatment

    def answer(
        self,
        treatment: Treatment,
        slot: str,
        *,
        hours: float | None = None,
        source: str = "app",
        **values: int | None,
    ) -> Response:
        """A response at ``slot`` answered ``hours`` after T0 (default: the slot's offset;
        the baseline one hour before T0), with scale answers as keyword arguments."""
        if hours is None:
            hours = -1.0 if slot == "baseline" else _offset(treatment.modality, slot)
        response = Response(
            client_id=uuid.uuid4(),
            treatment_id=treatment.id,
            slot=slot,
            answered_at=treatment.treated_at + timedelta(hours=hours),
            source="baseline" if slot == "baseline" else source,
            answers=[
                Answer(
                    item_code=code,
                    value_num=value,
                    treatment_id=treatment.id,
                    clinic_id=treatment.clinic_id,
                    modality=treatment.modality,
                    slot=slot,
                    elapsed_hours=hours,
                )
                for code, value in values.items()
                if value is not None
            ],
        )
        self.session.add(response)
        self.session.flush()
        outcomes.refresh(self.session, [treatment.id])
        return response

    def checkin(self, treatment: Treatment, slot: str, status: str) -> CheckIn:
        """A check-in of the treatment in the given state."""
        due = treatment.treated_at + timedelta(hours=_offset(treatment.modality, slot))
        checkin = CheckIn(
            treatment_id=treatment.id,
            slot=slot,
            nominal_hours=_offset(treatment.modality, slot),
            items=["soreness"],
            due_at=due,
            expires_at=due + timedelta(hours=4),
            status=status,
        )
        self.session.add(checkin)
        self.session.flush()
        return checkin


def _offset(modality: str, slot: str) -> float:
    for point in default_protocols()[modality].timepoints:
        if point.slot == slot:
            return point.offset_h
    raise KeyError(slot)


def as_dict(value: Any) -> Any:
    """Dataclasses to plain dicts, for readable assertions."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [as_dict(item) for item in value]
    return value
