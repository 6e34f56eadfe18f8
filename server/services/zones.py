"""Time zones as people and clinics give them: IANA names only."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from server.errors import InvalidInput


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """The name if it is an IANA time zone, else ``InvalidInput`` naming the field."""
    if name not in _zones():
        raise InvalidInput("not an IANA time zone such as 'America/Vancouver'", field=field)
    return name
