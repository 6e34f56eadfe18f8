"""Countries: their names, the zones they keep, and the number to call in an emergency.

Names and zones come from IANA's tables as the ``tzdata`` package ships them (``iso3166.tab``,
``zone.tab``, and the links of ``tzdata.zi`` for old names such as ``Australia/NSW``); the
emergency numbers from ``countries.toml`` beside this module.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

TABLE = Path(__file__).with_name("countries.toml")
# what a tel: link can dial: digits, a leading +, and separators people write between groups
DIALLABLE = re.compile(r"^\+?[0-9](?:[ -]?[0-9]){1,19}$")


@dataclass(frozen=True)
class Country:
    """A country by its ISO 3166-1 alpha-2 code; ``emergency_number`` None when not tabled."""

    code: str
    name: str
    emergency_number: str | None


def _tzdata_lines(name: str) -> Iterator[list[str]]:
    text = files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t") if name.endswith(".tab") else line.split(" ")


@cache
def countries() -> dict[str, Country]:
    """Every country IANA names, by code, with its emergency number where the table has one."""
    with TABLE.open("rb") as handle:
        numbers: dict[str, str] = tomllib.load(handle)["emergency"]
    names = {fields[0]: fields[1] for fields in _tzdata_lines("iso3166.tab")}
    unknown = sorted(set(numbers) - set(names))
    if unknown:
        raise ValueError(f"countries.toml: not ISO 3166 codes: {', '.join(unknown)}")
    undiallable = sorted(code for code, number in numbers.items() if not DIALLABLE.match(number))
    if undiallable:
        raise ValueError(f"countries.toml: numbers that cannot be dialled: {undiallable}")
    return {code: Country(code, name, numbers.get(code)) for code, name in sorted(names.items())}


@cache
def _zone_countries() -> dict[str, str]:
    zones = {fields[2]: fields[0] for fields in _tzdata_lines("zone.tab")}
    links = {
        fields[2]: fields[1]
        for fields in _tzdata_lines("tzdata.zi")
        if fields[0] == "L" and fields[1] in zones
    }
    return {**{link: zones[target] for link, target in links.items()}, **zones}


def country_of_zone(zone: str) -> str | None:
    """The country a time zone is kept for (``Australia/Sydney`` is AU); None for ``UTC`` and
    other zones of no one country."""
    return _zone_countries().get(zone)


def emergency_number_of(country: str | None) -> str | None:
    """The emergency number of a country, if the table has one."""
    found = countries().get(country) if country else None
    return found.emergency_number if found else None
