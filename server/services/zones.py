"""Time zones as people and clinics give them: IANA names only."""

from __future__ import annotations

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
