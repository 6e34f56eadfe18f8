"""The adjusted comparison's freshness and setting in words, for the Compare page's section."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from server.charts.outcomes import slot_label
from server.pages.formatting import local_time
from server.protocols import Protocol
from server.services.adjusted.comparison import MeasureModel
from server.services.adjusted.store import Stored


def ago(moment: datetime, now: datetime) -> str:
    """'just now', '12 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max(0.0, (now - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def within(interval: timedelta) -> str:
    """The worker's interval as 'within 5 minutes'."""
    minutes = max(1, round(interval.total_seconds() / 60))
    return f"within {minutes} minute{'s' if minutes > 1 else ''}"


def freshness(stored: Stored, now: datetime, zone: str) -> str:
    """How fresh the figures are, or when they will come; times on the clinic's clock
    (``zone``), as every clinician page shows them."""
    if stored.comparison is None or stored.fitted_at is None:
        return (
            "Not fitted yet for these filters: the worker fits the model "
            f"{within(stored.refit_within)}. Reload the page then."
        )
    said = f"Fitted {ago(stored.fitted_at, now)}"
    if stored.answers_up_to is not None:
        said += f" on answers up to {local_time(stored.answers_up_to, zone)}"
    if not stored.is_current:
        said += f". Answers have come in since; the worker fits again {within(stored.refit_within)}"
    return said + "."


def shared_points(models: list[MeasureModel], protocols: Mapping[str, Protocol]) -> str:
    """Which time points each measure is compared at: '1 day and 7 days for soreness, ...'."""
    parts = []
    for model in models:
        if not model.slots:
            continue
        labels = [slot_label(protocols, model.reference, slot) for slot in model.slots]
        points = " and ".join(labels)
        parts.append(f"{points} for {model.measure}")
    return "; ".join(parts)
