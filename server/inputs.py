"""What every schema that loads input shares: text that no database can store is refused.

PostgreSQL refuses a NUL character in text, and neither database can store half of a UTF-16
surrogate pair (JSON's ``"\\udfff"``); both would otherwise fail at the INSERT, a 500. The API's
schemas and the pages' forms subclass ``InputSchema``, so each such value is a 422 naming its
field, wherever in the input it sits (a nested field, a list, a key of a dict).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import marshmallow as ma

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REASON = "contains a character that cannot be stored (a NUL or an unpaired surrogate)"
# the largest id an INTEGER column holds on PostgreSQL (SQLite's are 64-bit; ids never get there)
MAX_ID = 2**31 - 1
ID = ma.validate.Range(min=1, max=MAX_ID, error="must be an id from {min} to {max}")
# days and moments a request may name: no treatment is recorded before 2000, and the calendar's
# edges (year 1, year 9999) overflow as soon as a day or an offset is added to them (the API
# states these as patterns: server.api.fields)
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
# a form's local date and time (its zone is applied after it is checked)
LOCAL_MOMENT = ma.validate.Range(
    min=datetime.combine(EARLIEST_DAY, datetime.min.time()),
    max=datetime.combine(LATEST_DAY, datetime.max.time()),
    error=f"must be a time from {EARLIEST_DAY} to {LATEST_DAY}",
)


def unstorable_text(value: object, path: str = "") -> dict[str, list[str]]:
    """{dotted path: [reason]} for every string in ``value`` (and every key) no database stores."""
    found: dict[str, list[str]] = {}
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            found[path or "_schema"] = [REASON]
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and UNSTORABLE.search(key):
                found[UNSTORABLE.sub("?", name)] = [f"its name {REASON}"]
            else:
                found.update(unstorable_text(inner, name))
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            found.update(unstorable_text(inner, f"{path}.{index}" if path else str(index)))
    return found


class InputSchema(ma.Schema):
    """A schema of input: refuses text that cannot be stored, naming where it is."""

    @ma.pre_load
    def refuse_unstorable_text(self, data: Any, **_: Any) -> Any:
        """Every string of the input, and every key, must be storable."""
        found = unstorable_text(data)
        if found:
            raise ma.ValidationError(found)
        return data
