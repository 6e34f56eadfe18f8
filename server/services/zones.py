"""Time zones as people and clinics give them: IANA names only."""

from __future__ import annotations

from datetime import time
from functools import cache
from zoneinfo import available_timezones

from server.errors import InvalidInput

# what the system's zone directory holds beside IANA's zones: "localtime" is this machine's own
# zone (a different one on each machine), "Factory" a placeholder zone whose name is "-00"
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@cache
def known_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows (from the tzdata package, at least)."""
    return frozenset(available_timezones()) - NOT_ZONES


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """The name if it is an IANA time zone, else ``InvalidInput`` naming the field."""
    if name not in known_zones():
        raise InvalidInput("not an IANA time zone such as 'America/Vancouver'", field=field)
    return name


def check_quiet_hours(
    quiet_hours: dict[str, time] | None, *, field: str = "quiet_hours"
) -> tuple[time | None, time | None]:
    """Quiet hours as (start, end), each a local time; None: prompted at any hour."""
    if quiet_hours is None:
        return None, None
    start, end = quiet_hours["start"], quiet_hours["end"]
    if start == end:
        raise InvalidInput("start and end must differ; give none for no quiet hours", field=field)
    return start, end
