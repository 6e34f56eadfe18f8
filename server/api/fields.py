"""Fields whose rule the OpenAPI document states exactly as the server applies it.

A date, a time, a time zone or a country written in a request is checked against the same
pattern or list the document publishes, before it is parsed: what the document allows, the
server takes, and what it forbids, the server refuses (both directions are fuzzed in CI).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import marshmallow as ma

from server.protocols import regions
from server.protocols.countries import DIALLABLE, countries
from server.services.zones import known_zones

# a calendar day from 2000-01-01 to 2100-12-31 (the days a request may name): months of 31, of
# 30, February of 28, and the 29th in leap years (2000 was one; 2100 will not be)
DAY_PATTERN = (
    r"(?:(?:20\d{2}|2100)-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
    r"|20(?:[02468][048]|[13579][26])-02-29)"
)
CLOCK_PATTERN = r"(?:[01]\d|2[0-3]):[0-5]\d"
# RFC 3339 with its offset, on such a day
MOMENT_PATTERN = rf"{DAY_PATTERN}T{CLOCK_PATTERN}:[0-5]\d(?:\.\d{{1,6}})?(?:Z|[+-]{CLOCK_PATTERN})"


class _Patterned(ma.fields.Field):  # type: ignore[type-arg]  # a mixin of typed fields
    """A field whose raw text must match ``pattern``, which the document publishes, before it
    is parsed."""

    pattern: str
    reason: str

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": f"^{self.pattern}$", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise ma.ValidationError(self.reason)
        return super()._deserialize(value, attr, data, **kwargs)


class Day(_Patterned, ma.fields.Date):
    """A calendar day, YYYY-MM-DD, from 2000-01-01 to 2100-12-31."""

    pattern = DAY_PATTERN
    reason = "give a day as YYYY-MM-DD, from 2000-01-01 to 2100-12-31"


class Moment(_Patterned, ma.fields.AwareDateTime):
    """A moment with its UTC offset (RFC 3339), from 2000 to 2100."""

    pattern = MOMENT_PATTERN
    reason = (
        "give the time as 2026-11-24T09:30:00+01:00 (RFC 3339, with its offset), from 2000 to 2100"
    )


class ClockTime(_Patterned, ma.fields.Time):
    """A local time of day, HH:MM (24 hours)."""

    pattern = CLOCK_PATTERN
    reason = "give a time of day as HH:MM, from 00:00 to 23:59"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


@cache
def _zone_names() -> list[str]:
    return sorted(known_zones())


def Zone(**kwargs: Any) -> ma.fields.String:  # noqa: N802 - a field, named as fields are
    """An IANA time zone, one of the list the document publishes."""
    return ma.fields.String(
        validate=ma.validate.OneOf(
            _zone_names(), error="not an IANA time zone such as 'America/Vancouver'"
        ),
        metadata={"example": "America/Vancouver", **kwargs.pop("metadata", {})},
        **kwargs,
    )


def Country(**kwargs: Any) -> ma.fields.String:  # noqa: N802 - a field, named as fields are
    """An ISO 3166-1 alpha-2 country code, in capitals."""
    return ma.fields.String(
        validate=ma.validate.OneOf(
            sorted(countries()), error="not an ISO 3166 country code such as AU or GB"
        ),
        metadata={"example": "AU", **kwargs.pop("metadata", {})},
        **kwargs,
    )


class StrictBoolean(ma.fields.Boolean):
    """JSON's true or false, and nothing else (marshmallow also takes 1, "yes", "on"...)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(ma.fields.Integer):
    """A JSON integer, and nothing else (marshmallow also takes "7", 7.0 and true)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(ma.fields.Float):
    """A JSON number, and nothing else (marshmallow also takes "0.25", true and NaN)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def Region(**kwargs: Any) -> ma.fields.String:  # noqa: N802 - a field, named as fields are
    """A body region of the vocabulary in regions.toml."""
    return ma.fields.String(validate=ma.validate.OneOf(list(regions())), **kwargs)


def DialledNumber(**kwargs: Any) -> ma.fields.String:  # noqa: N802 - a field, named as fields are
    """A number a phone can dial: digits, an optional leading +, spaces or hyphens between."""
    return ma.fields.String(
        validate=[
            ma.validate.Length(max=20),
            ma.validate.Regexp(
                DIALLABLE,
                error="give up to 20 digits, such as 000 or 112 (spaces and hyphens allowed)",
            ),
        ],
        **kwargs,
    )
