"""Protocols, items and red-flag rules as data, and the loader that validates them.

The TOML files beside this module are the defaults from CLINICAL.md. Nothing here touches the
database: a clinic's override is applied by ``server.services.protocols``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import time
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import marshmallow as ma

HERE = Path(__file__).parent
ITEM_KINDS = ("scale", "boolean", "choice", "text")
Value = int | bool | str


@dataclass(frozen=True)
class Option:
    """One answer of a single-choice item."""

    code: str
    label: str


@dataclass(frozen=True)
class Item:
    """One question of the item bank; ``code`` is the stable FHIR linkId."""

    code: str
    label: str
    kind: str
    text: str
    baseline_text: str | None = None
    fallback_text: str | None = None
    help: str | None = None
    min: int | None = None
    max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    options: tuple[Option, ...] = ()
    max_length: int | None = None
    loinc: str | None = None
    enable_when: dict[str, Any] | None = None
    condition: str | None = None

    def check(self, value: object) -> Value:
        """The value if it fits this item's scale; else ``ValueError`` saying why."""
        if self.kind == "scale":
            assert self.min is not None  # noqa: S101 - the loader ensures scales have both ends
            assert self.max is not None  # noqa: S101
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be a whole number from {self.min} to {self.max}")
            if not self.min <= value <= self.max:
                raise ValueError(f"must be from {self.min} to {self.max}; got {value}")
            return value
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if self.kind == "choice":
            codes = [option.code for option in self.options]
            if value not in codes:
                raise ValueError(f"must be one of: {', '.join(codes)}")
            assert isinstance(value, str)  # noqa: S101 - codes are strings
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be non-blank text; leave the item out to skip it")
        assert self.max_length is not None  # noqa: S101 - loader ensures
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        return value.strip()

    def answer_values(self) -> tuple[Value, ...]:
        """Every answer this item can take; none for free text."""
        if self.kind == "scale":
            assert self.min is not None  # noqa: S101 - the loader ensures scales have both ends
            assert self.max is not None  # noqa: S101
            return tuple(range(self.min, self.max + 1))
        if self.kind == "boolean":
            return (True, False)
        return tuple(option.code for option in self.options)

    def answer_label(self, value: Value) -> str:
        """An answer in words: 'yes', '3 of 10', the chosen option's label, the text itself."""
        if self.kind == "boolean":
            return "yes" if value else "no"
        if self.kind == "scale":
            return f"{value} of {self.max}"
        if self.kind == "choice":
            return next(
                (option.label for option in self.options if option.code == value), str(value)
            )
        return str(value)

    def to_columns(self, value: Value) -> tuple[int | None, str | None]:
        """Split a checked value into the answer row's (value_num, value_text)."""
        if self.kind in ("scale", "boolean"):
            return int(value), None
        return None, str(value)

    def from_columns(self, value_num: int | None, value_text: str | None) -> Value | None:
        """Rebuild the value from an answer row."""
        if self.kind == "scale":
            return value_num
        if self.kind == "boolean":
            return None if value_num is None else bool(value_num)
        return value_text


@dataclass(frozen=True)
class TimePoint:
    """One check-in of a protocol: when it opens, how long it stays open, what it asks."""

    slot: str
    label: str
    offset_h: float
    items: tuple[str, ...]
    window_h: float | None = None
    reminder_after_h: float | None = None
    optional_items: tuple[str, ...] = ()
    enabled: bool = True
    latest_open_local: time | None = None
    expires_local: time | None = None
    on_skip_move_items: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Protocol:
    """The check-in schedule and questions of one modality."""

    modality: str
    label: str
    discharge_advice: str
    baseline_items: tuple[str, ...]
    baseline_optional_items: tuple[str, ...]
    timepoints: tuple[TimePoint, ...]


@dataclass(frozen=True)
class Clause:
    """One comparison of a red-flag rule: an answer against a value, or baseline + a margin."""

    item: str
    op: str
    value: Value | None = None
    baseline_plus: int | None = None


@dataclass(frozen=True)
class RedFlagRule:
    """A red flag: fires when the elapsed time is in range and any clause holds."""

    id: str
    severity: str
    summary: str
    advice: str
    clauses: tuple[Clause, ...]
    min_elapsed_h: float | None = None
    max_elapsed_h: float | None = None
    escalate_with: tuple[str, ...] = ()
    escalate_to: str | None = None


class TimePointSchema(ma.Schema):
    """A time point as stored in TOML, in a treatment's snapshot and in a clinic override."""

    slot = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9_]{1,32}$"))
    label = ma.fields.String(required=True, validate=ma.validate.Length(1, 80))
    offset_h = ma.fields.Float(required=True, validate=ma.validate.Range(0, 24 * 60))
    window_h = ma.fields.Float(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(0, 24 * 30, min_inclusive=False),
    )
    reminder_after_h = ma.fields.Float(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(0, 24 * 30, min_inclusive=False),
    )
    items = ma.fields.List(ma.fields.String(), required=True, validate=ma.validate.Length(min=1))
    optional_items = ma.fields.List(ma.fields.String(), load_default=list)
    enabled = ma.fields.Boolean(load_default=True)
    latest_open_local = ma.fields.Time(format="%H:%M", load_default=None, allow_none=True)
    expires_local = ma.fields.Time(format="%H:%M", load_default=None, allow_none=True)
    on_skip_move_items = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), load_default=dict
    )

    @ma.validates_schema
    def check_timepoint(self, data: dict[str, Any], **_: Any) -> None:
        """A time point needs a window, known items, and a reminder inside its window."""
        bank = item_bank()
        unknown = [code for code in [*data["items"], *data["optional_items"]] if code not in bank]
        if unknown:
            raise ma.ValidationError(f"unknown item codes: {', '.join(unknown)}", "items")
        closing, latest = data["expires_local"], data["latest_open_local"]
        if closing is not None and (latest is None or latest >= closing):
            raise ma.ValidationError(
                "expires_local needs a latest_open_local before it", "expires_local"
            )
        if data["window_h"] is None and data["expires_local"] is None:
            raise ma.ValidationError("a time point needs window_h or expires_local", "window_h")
        window = data["window_h"]
        if window is not None and data["reminder_after_h"] and data["reminder_after_h"] >= window:
            raise ma.ValidationError(
                "the reminder must come before the window closes", "reminder_after_h"
            )
        moved = [code for code in data["on_skip_move_items"] if code not in data["items"]]
        if moved:
            raise ma.ValidationError(
                f"not asked at this time point: {', '.join(moved)}", "on_skip_move_items"
            )

    @ma.post_load
    def make_timepoint(self, data: dict[str, Any], **_: Any) -> TimePoint:
        """Build the immutable TimePoint."""
        data["items"] = tuple(data["items"])
        data["optional_items"] = tuple(data["optional_items"])
        return TimePoint(**data)


class TimePointListSchema(ma.Schema):
    """A protocol's time points, checked as a whole: unique slots, in order, windows apart."""

    timepoints = ma.fields.List(
        ma.fields.Nested(TimePointSchema), required=True, validate=ma.validate.Length(1, 20)
    )

    @ma.validates_schema
    def check_order(self, data: dict[str, Any], **_: Any) -> None:
        """Windows must not overlap, so every answer maps to exactly one time point."""
        points: list[TimePoint] = data["timepoints"]
        slots = [point.slot for point in points]
        if len(set(slots)) != len(slots) or "baseline" in slots:
            raise ma.ValidationError("slot codes must be unique and not 'baseline'", "timepoints")
        for earlier, later in pairwise(points):
            if later.offset_h <= earlier.offset_h:
                raise ma.ValidationError(
                    f"'{later.slot}' must open after '{earlier.slot}' (offsets in ascending order)",
                    "timepoints",
                )
            if (
                earlier.window_h is not None
                and earlier.offset_h + earlier.window_h > later.offset_h
            ):
                raise ma.ValidationError(
                    f"the window of '{earlier.slot}' overlaps '{later.slot}'", "timepoints"
                )
        for point in points:
            for code, target in point.on_skip_move_items.items():
                if target not in slots:
                    raise ma.ValidationError(
                        f"'{point.slot}' moves {code} to unknown time point '{target}'",
                        "timepoints",
                    )


def parse_timepoints(raw: list[dict[str, Any]]) -> tuple[TimePoint, ...]:
    """Validate raw time points; raise ``marshmallow.ValidationError`` naming what is wrong."""
    loaded = TimePointListSchema().load({"timepoints": raw})
    return tuple(loaded["timepoints"])


def dump_timepoints(points: tuple[TimePoint, ...] | list[TimePoint]) -> list[dict[str, Any]]:
    """Time points as plain JSON-ready dicts (for snapshots, overrides and the API)."""
    result: list[dict[str, Any]] = TimePointSchema(many=True).dump(points)
    return result


def _read(name: str) -> dict[str, Any]:
    with (HERE / name).open("rb") as handle:
        return tomllib.load(handle)


@cache
def item_bank() -> dict[str, Item]:
    """Every item by code, from items.toml (read once; immutable)."""
    bank: dict[str, Item] = {}
    for code, raw in _read("items.toml").items():
        raw = dict(raw)
        if raw.get("kind") not in ITEM_KINDS:
            raise ValueError(f"item {code}: unknown kind {raw.get('kind')!r}")
        raw["options"] = tuple(Option(**option) for option in raw.get("options", ()))
        item = Item(code=code, **raw)
        if item.kind == "scale" and (item.min is None or item.max is None):
            raise ValueError(f"item {code}: a scale needs min and max")
        if item.kind == "text" and item.max_length is None:
            raise ValueError(f"item {code}: free text needs max_length")
        if item.kind == "choice" and not item.options:
            raise ValueError(f"item {code}: a choice needs options")
        bank[code] = item
    return bank


@cache
def default_protocols() -> dict[str, Protocol]:
    """The three default protocols, from protocols.toml (read once; immutable)."""
    protocols = {}
    for modality, raw in _read("protocols.toml").items():
        baseline = tuple(raw["baseline_items"])
        unknown = [code for code in baseline if code not in item_bank()]
        if unknown:
            raise ValueError(f"protocol {modality}: unknown baseline items {unknown}")
        protocols[modality] = Protocol(
            modality=modality,
            label=raw["label"],
            discharge_advice=raw["discharge_advice"],
            baseline_items=baseline,
            baseline_optional_items=tuple(raw.get("baseline_optional_items", ())),
            timepoints=parse_timepoints(raw["timepoints"]),
        )
    return protocols


@cache
def red_flag_rules() -> tuple[RedFlagRule, ...]:
    """The red-flag rules, from red_flags.toml (read once; immutable)."""
    rules = []
    for raw in _read("red_flags.toml")["rules"]:
        raw = dict(raw)
        clauses = tuple(Clause(**clause) for clause in raw.pop("any"))
        for clause in clauses:
            if clause.item not in item_bank() or clause.op not in ("==", ">=", "<="):
                raise ValueError(f"rule {raw['id']}: bad clause {clause}")
        raw["escalate_with"] = tuple(raw.get("escalate_with", ()))
        rules.append(RedFlagRule(clauses=clauses, **raw))
    return tuple(rules)


@dataclass(frozen=True)
class Region:
    """A body region a treatment can record; a ``thoracic`` one brings the pneumothorax screen."""

    code: str
    label: str
    thoracic: bool


@cache
def regions() -> dict[str, Region]:
    """Every recordable body region by code, from regions.toml (read once; immutable)."""
    return {code: Region(code=code, **raw) for code, raw in _read("regions.toml").items()}
