"""The words a patient reads for a treatment and its check-ins, from the protocol data.

The phone shows "Dry needling (trigger point) on Monday 6 May, check-in: 1 day": the modality's
label from protocols.toml, the treatment day on the patient's own clock, and the time point's
label from the protocol the treatment was recorded under. The app keeps no copy of these.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from server.models import CheckIn, Treatment
from server.protocols import default_protocols


def modality_label(modality: str) -> str:
    """A modality's name from the protocol data; the code if no protocol names it."""
    protocol = default_protocols().get(modality)
    return protocol.label if protocol else modality


def treated_on(treatment: Treatment) -> date:
    """The day of the treatment on the patient's clock."""
    return treatment.treated_at.astimezone(ZoneInfo(treatment.patient.timezone)).date()


def treatment_words(treatment: Treatment) -> dict[str, Any]:
    """What the phone names a treatment by: its modality's label and its day."""
    return {
        "modality_label": modality_label(treatment.modality),
        "treated_at": treatment.treated_at,
        "treated_on": treated_on(treatment),
    }


def checkin_words(checkin: CheckIn) -> dict[str, Any]:
    """What the phone names a check-in by: its treatment's words and its time point's label."""
    return {
        **treatment_words(checkin.treatment),
        "slot_label": checkin.treatment.slot_label(checkin.slot),
    }
