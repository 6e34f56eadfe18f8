"""When a clinic is open: its weekly hours (local times in its zone) against a moment.

Hours are stored as ``{"mon": [{"opens": "08:00", "closes": "18:00"}], ...}``; a day missing
or empty is closed. No hours given at all (None) reads as "not known", which callers treat as
always open: an alert is then never held back for hours nobody entered.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

StoredHours = dict[str, list[dict[str, str]]]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_OPENING = time(8, 0)  # a digest's hour where a clinic gave no hours


def _intervals(hours: StoredHours, day: datetime) -> list[tuple[datetime, datetime]]:
    """That local day's opening intervals as aware local datetimes."""
    zone = day.tzinfo
    return [
        (
            datetime.combine(day.date(), time.fromisoformat(interval["opens"]), zone),
            datetime.combine(day.date(), time.fromisoformat(interval["closes"]), zone),
        )
        for interval in hours.get(WEEKDAYS[day.weekday()], [])
    ]


def is_open(hours: StoredHours | None, zone: str, at: datetime) -> bool:
    """Whether the clinic is open at this moment (always, when no hours are given)."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(zone))
    return any(opens <= local < closes for opens, closes in _intervals(hours, local))


def open_at_or_after(hours: StoredHours | None, zone: str, at: datetime) -> datetime:
    """The first moment from ``at`` on when the clinic is open (``at`` itself when open now or
    when no hours are given; ``at`` too when the clinic never opens, rather than never)."""
    if is_open(hours, zone, at):
        return at
    return next_opening(hours, zone, at)


def next_opening(hours: StoredHours | None, zone: str, after: datetime) -> datetime:
    """The start of the clinic's next opening interval after ``after``; with no hours given,
    the next 08:00 local time. ``after`` itself when the clinic never opens in a week."""
    local = after.astimezone(ZoneInfo(zone))
    for offset in range(8):
        day = local + timedelta(days=offset)
        starts = (
            [datetime.combine(day.date(), DEFAULT_OPENING, day.tzinfo)]
            if hours is None
            else [opens for opens, _ in _intervals(hours, day)]
        )
        later = [start for start in starts if start > local]
        if later:
            return min(later).astimezone(UTC)
    return after
