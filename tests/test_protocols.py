"""The item bank and the protocol loader: defaults as CLINICAL.md §1-2 states them, and each
validation rule of a protocol's time points."""

from __future__ import annotations

from datetime import time
from typing import Any

import marshmallow as ma
import pytest

from server.protocols import (
    TimePoint,
    default_protocols,
    dump_timepoints,
    item_bank,
    parse_timepoints,
)


def timepoint(**overrides: Any) -> dict[str, Any]:
    """A valid raw time point (2 h, open 2 h), with fields overridden."""
    raw: dict[str, Any] = {
        "slot": "2h",
        "label": "2 hours",
        "offset_h": 2,
        "window_h": 2,
        "items": ["soreness"],
    }
    raw.update(overrides)
    return raw


def timepoint_errors(raw: dict[str, Any]) -> dict[str, Any]:
    """The messages of the one time point's validation error, by field."""
    with pytest.raises(ma.ValidationError) as caught:
        parse_timepoints([raw])
    messages: dict[str, Any] = caught.value.messages_dict["timepoints"][0]
    return messages


def list_errors(raw: list[dict[str, Any]]) -> list[str]:
    """The messages of a time point list's whole-list validation error."""
    with pytest.raises(ma.ValidationError) as caught:
        parse_timepoints(raw)
    messages: list[str] = caught.value.messages_dict["timepoints"]
    return messages


def slots(modality: str) -> dict[str, TimePoint]:
    """The default time points of a modality, by slot."""
    return {point.slot: point for point in default_protocols()[modality].timepoints}


# ---- the item bank (CLINICAL.md §1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "min_label", "max_label"),
    [
        ("soreness", "No soreness", "Worst soreness imaginable"),
        ("pain", "No pain", "Worst pain imaginable"),
        ("mobility", "Unable to do it", "Able to do it as well as before the problem"),
    ],
)
def test_contract_items_are_0_to_10_scales_with_anchor_words(
    code: str, min_label: str, max_label: str
) -> None:
    item = item_bank()[code]
    assert (item.kind, item.min, item.max) == ("scale", 0, 10)
    assert (item.min_label, item.max_label) == (min_label, max_label)


def test_pain_is_coded_with_loinc_72514_3() -> None:
    assert item_bank()["pain"].loinc == "72514-3"


def test_soreness_has_no_loinc_code() -> None:
    assert item_bank()["soreness"].loinc is None


def test_only_pain_carries_a_loinc_code() -> None:
    coded = {code for code, item in item_bank().items() if item.loinc is not None}
    assert coded == {"pain"}


def test_pneumothorax_screen_depends_on_the_thoracic_region_flag() -> None:
    assert item_bank()["rf_breath_chest"].condition == "thoracic_region"


def test_bruise_bleed_offers_the_four_answers_of_clinical_md() -> None:
    codes = [option.code for option in item_bank()["bruise_bleed"].options]
    assert codes == ["none", "small", "large", "bleeding"]


def test_mobility_activity_is_free_text_of_at_most_80_characters() -> None:
    item = item_bank()["mobility_activity"]
    assert (item.kind, item.max_length) == ("text", 80)


# ---- the default protocols (CLINICAL.md §2.2 and §2.3) -----------------------------------------


def test_there_is_one_default_protocol_per_modality() -> None:
    assert set(default_protocols()) == {"ims", "dry_needling", "acupuncture"}


@pytest.mark.parametrize(
    ("modality", "expected"),
    [
        ("ims", ["2h", "6h", "24h", "48h", "7d"]),
        ("dry_needling", ["0h", "6h", "12h", "24h", "48h", "72h", "7d"]),
        ("acupuncture", ["evening_d0", "24h", "72h", "7d"]),
    ],
)
def test_default_protocol_has_the_time_points_of_clinical_md(
    modality: str, expected: list[str]
) -> None:
    assert [point.slot for point in default_protocols()[modality].timepoints] == expected


def test_time_point_labels_read_true_on_any_day() -> None:
    # a label is read on the patient's list and the clinician's pages days later: "this
    # evening" would be wrong by the next morning
    relative = {"this", "today", "tonight", "tomorrow", "yesterday"}
    labels = [
        point.label for protocol in default_protocols().values() for point in protocol.timepoints
    ]
    assert [label for label in labels if relative & set(label.lower().split())] == []
    evening = default_protocols()["acupuncture"].timepoints[0]
    assert evening.label == "Evening of the treatment day"


def test_only_the_dry_needling_12h_time_point_is_off_by_default() -> None:
    disabled = [
        (modality, point.slot)
        for modality, protocol in default_protocols().items()
        for point in protocol.timepoints
        if not point.enabled
    ]
    assert disabled == [("dry_needling", "12h")]


# slot: (offset_h, window_h, reminder_after_h), CLINICAL.md §2.2
WINDOWS: dict[str, tuple[float, float | None, float | None]] = {
    "0h": (0, 1, None),
    "2h": (2, 2, 1),
    "6h": (6, 4, 1),
    "12h": (12, 6, 2),
    "24h": (24, 12, 4),
    "48h": (48, 12, 4),
    "72h": (72, 24, 6),
    "7d": (168, 48, 24),
}


@pytest.mark.parametrize(
    ("modality", "slot"),
    [
        (modality, point.slot)
        for modality, protocol in default_protocols().items()
        for point in protocol.timepoints
        if point.slot in WINDOWS
    ],
)
def test_time_point_has_the_window_and_reminder_of_clinical_md(modality: str, slot: str) -> None:
    point = slots(modality)[slot]
    assert (point.offset_h, point.window_h, point.reminder_after_h) == WINDOWS[slot]


def test_acupuncture_evening_opens_4h_after_t0_if_not_later_than_2100_local() -> None:
    point = slots("acupuncture")["evening_d0"]
    assert (point.offset_h, point.latest_open_local) == (4, time(21, 0))


def test_acupuncture_evening_expires_at_2359_local_and_reminds_after_90_minutes() -> None:
    point = slots("acupuncture")["evening_d0"]
    timing = (point.window_h, point.expires_local, point.reminder_after_h)
    assert timing == (None, time(23, 59), 1.5)


def test_skipped_acupuncture_evening_moves_rf_faint_to_24h() -> None:
    assert slots("acupuncture")["evening_d0"].on_skip_move_items == {"rf_faint": "24h"}


ITEMS: dict[tuple[str, str], list[str]] = {
    ("ims", "2h"): ["soreness", "rf_faint", "rf_breath_chest", "rf_neuro"],
    ("ims", "6h"): ["soreness", "bruise_bleed", "rf_breath_chest", "rf_neuro"],
    ("ims", "24h"): [
        "soreness",
        "pain",
        "bruise_bleed",
        "rf_breath_chest",
        "rf_infection",
        "rf_neuro",
    ],
    ("ims", "48h"): ["soreness", "pain", "mobility", "rf_breath_chest", "rf_infection", "rf_neuro"],
    ("ims", "7d"): ["soreness", "pain", "mobility", "rf_infection", "comment"],
    ("dry_needling", "0h"): ["soreness", "rf_faint"],
    ("dry_needling", "6h"): ["soreness", "bruise_bleed", "rf_breath_chest", "rf_neuro"],
    ("dry_needling", "12h"): ["soreness"],
    ("dry_needling", "24h"): [
        "soreness",
        "pain",
        "bruise_bleed",
        "rf_breath_chest",
        "rf_infection",
        "rf_neuro",
    ],
    ("dry_needling", "48h"): ["soreness", "pain", "rf_breath_chest", "rf_infection", "rf_neuro"],
    ("dry_needling", "72h"): [
        "soreness",
        "pain",
        "mobility",
        "rf_breath_chest",
        "rf_infection",
        "rf_neuro",
    ],
    ("dry_needling", "7d"): ["soreness", "pain", "mobility", "rf_infection", "comment"],
    ("acupuncture", "evening_d0"): [
        "soreness",
        "bruise_bleed",
        "wb_relaxed",
        "wb_energy",
        "wb_mood",
        "wb_elsewhere",
        "wb_elsewhere_text",
        "rf_faint",
        "rf_breath_chest",
        "rf_neuro",
    ],
    ("acupuncture", "24h"): [
        "soreness",
        "pain",
        "wb_sleep",
        "wb_energy",
        "wb_mood",
        "wb_elsewhere",
        "wb_elsewhere_text",
        "rf_breath_chest",
        "rf_infection",
        "rf_neuro",
    ],
    ("acupuncture", "72h"): [
        "soreness",
        "pain",
        "mobility",
        "bruise_bleed",
        "wb_sleep",
        "wb_energy",
        "wb_mood",
        "rf_breath_chest",
        "rf_infection",
        "rf_neuro",
    ],
    ("acupuncture", "7d"): [
        "soreness",
        "pain",
        "mobility",
        "wb_sleep",
        "wb_energy",
        "wb_mood",
        "rf_infection",
        "comment",
    ],
}


def test_items_table_covers_every_default_time_point() -> None:
    every = {
        (modality, point.slot)
        for modality, protocol in default_protocols().items()
        for point in protocol.timepoints
    }
    assert every == set(ITEMS)


@pytest.mark.parametrize(("modality", "slot"), list(ITEMS))
def test_time_point_asks_the_items_of_clinical_md(modality: str, slot: str) -> None:
    assert list(slots(modality)[slot].items) == ITEMS[(modality, slot)]


def test_ims_24h_offers_sleep_and_energy_as_optional_items() -> None:
    assert slots("ims")["24h"].optional_items == ("wb_sleep", "wb_energy")


@pytest.mark.parametrize(
    ("modality", "baseline"),
    [
        ("ims", ["soreness", "pain", "mobility_activity", "mobility"]),
        ("dry_needling", ["soreness", "pain", "mobility_activity", "mobility"]),
        (
            "acupuncture",
            [
                "soreness",
                "pain",
                "mobility_activity",
                "mobility",
                "wb_relaxed",
                "wb_sleep",
                "wb_energy",
                "wb_mood",
            ],
        ),
    ],
)
def test_baseline_asks_the_items_of_clinical_md(modality: str, baseline: list[str]) -> None:
    assert list(default_protocols()[modality].baseline_items) == baseline


@pytest.mark.parametrize("modality", ["ims", "dry_needling", "acupuncture"])
def test_rf_breath_chest_is_never_asked_after_72h(modality: str) -> None:
    late = [
        point.slot
        for point in default_protocols()[modality].timepoints
        if point.offset_h > 72 and "rf_breath_chest" in point.items
    ]
    assert late == []


def test_dumped_time_points_parse_back_to_the_same_time_points() -> None:
    points = default_protocols()["acupuncture"].timepoints
    assert parse_timepoints(dump_timepoints(points)) == points


# ---- TimePointSchema: one time point ----------------------------------------------------------


def test_valid_time_point_is_parsed() -> None:
    (point,) = parse_timepoints([timepoint(reminder_after_h=1)])
    assert point == TimePoint(
        slot="2h", label="2 hours", offset_h=2, window_h=2, reminder_after_h=1, items=("soreness",)
    )


def test_unknown_item_code_is_rejected() -> None:
    errors = timepoint_errors(timepoint(items=["soreness", "nausea"]))
    assert errors == {"items": ["unknown item codes: nausea"]}


def test_unknown_optional_item_code_is_rejected() -> None:
    errors = timepoint_errors(timepoint(optional_items=["nausea"]))
    assert errors == {"items": ["unknown item codes: nausea"]}


def test_time_point_without_window_h_or_expires_local_is_rejected() -> None:
    errors = timepoint_errors(timepoint(window_h=None))
    assert errors == {"window_h": ["a time point needs window_h or expires_local"]}


def test_time_point_with_expires_local_needs_no_window_h() -> None:
    (point,) = parse_timepoints(
        [timepoint(window_h=None, latest_open_local="21:00", expires_local="23:59")]
    )
    assert point.expires_local == time(23, 59)


def test_time_point_closing_at_a_local_time_needs_an_earlier_latest_opening() -> None:
    errors = timepoint_errors(timepoint(window_h=None, expires_local="20:00"))
    assert errors == {"expires_local": ["expires_local needs a latest_open_local before it"]}


def test_time_point_closing_before_its_latest_opening_is_rejected() -> None:
    errors = timepoint_errors(
        timepoint(window_h=None, latest_open_local="21:00", expires_local="20:00")
    )
    assert "expires_local" in errors


def test_reminder_at_the_end_of_the_window_is_rejected() -> None:
    errors = timepoint_errors(timepoint(window_h=2, reminder_after_h=2))
    assert errors == {"reminder_after_h": ["the reminder must come before the window closes"]}


def test_reminder_after_the_end_of_the_window_is_rejected() -> None:
    errors = timepoint_errors(timepoint(window_h=2, reminder_after_h=3))
    assert "reminder_after_h" in errors


def test_moving_an_item_not_asked_at_the_time_point_is_rejected() -> None:
    errors = timepoint_errors(timepoint(on_skip_move_items={"rf_faint": "24h"}))
    assert errors == {"on_skip_move_items": ["not asked at this time point: rf_faint"]}


@pytest.mark.parametrize("slot", ["2H", "two hours", "", "x" * 33, "2h-late"])
def test_slot_code_not_matching_the_pattern_is_rejected(slot: str) -> None:
    assert "slot" in timepoint_errors(timepoint(slot=slot))


@pytest.mark.parametrize("offset_h", [-1, 24 * 60 + 1])
def test_offset_out_of_range_is_rejected(offset_h: float) -> None:
    assert "offset_h" in timepoint_errors(timepoint(offset_h=offset_h))


def test_zero_length_window_is_rejected() -> None:
    assert "window_h" in timepoint_errors(timepoint(window_h=0))


def test_time_point_asking_nothing_is_rejected() -> None:
    assert "items" in timepoint_errors(timepoint(items=[]))


# ---- TimePointListSchema: a protocol's time points as a whole ---------------------------------


def test_duplicate_slot_is_rejected() -> None:
    errors = list_errors([timepoint(), timepoint(offset_h=6)])
    assert errors == ["slot codes must be unique and not 'baseline'"]


def test_baseline_slot_is_rejected() -> None:
    errors = list_errors([timepoint(slot="baseline")])
    assert errors == ["slot codes must be unique and not 'baseline'"]


def test_offsets_not_in_ascending_order_are_rejected() -> None:
    errors = list_errors([timepoint(slot="6h", offset_h=6), timepoint(slot="2h", offset_h=2)])
    assert errors == ["'2h' must open after '6h' (offsets in ascending order)"]


def test_equal_offsets_are_rejected() -> None:
    errors = list_errors([timepoint(slot="a"), timepoint(slot="b")])
    assert errors == ["'b' must open after 'a' (offsets in ascending order)"]


def test_overlapping_windows_are_rejected() -> None:
    errors = list_errors(
        [timepoint(slot="2h", window_h=5), timepoint(slot="6h", offset_h=6, window_h=4)]
    )
    assert errors == ["the window of '2h' overlaps '6h'"]


def test_window_ending_when_the_next_opens_is_accepted() -> None:
    points = parse_timepoints(
        [timepoint(slot="2h", window_h=4), timepoint(slot="6h", offset_h=6, window_h=4)]
    )
    assert [point.slot for point in points] == ["2h", "6h"]


def test_moving_items_to_an_unknown_time_point_is_rejected() -> None:
    errors = list_errors(
        [timepoint(items=["soreness", "rf_faint"], on_skip_move_items={"rf_faint": "25h"})]
    )
    assert errors == ["'2h' moves rf_faint to unknown time point '25h'"]


def test_empty_time_point_list_is_rejected() -> None:
    with pytest.raises(ma.ValidationError):
        parse_timepoints([])


# ---- Item.check: one answer against its item --------------------------------------------------


@pytest.mark.parametrize("value", [0, 5, 10])
def test_scale_accepts_whole_numbers_within_its_range(value: int) -> None:
    assert item_bank()["pain"].check(value) == value


@pytest.mark.parametrize("value", [-1, 11])
def test_scale_rejects_numbers_outside_its_range(value: int) -> None:
    with pytest.raises(ValueError, match="must be from 0 to 10"):
        item_bank()["pain"].check(value)


def test_scale_rejects_a_float() -> None:
    with pytest.raises(ValueError, match="whole number"):
        item_bank()["soreness"].check(5.0)


@pytest.mark.parametrize("value", [True, False])
def test_scale_rejects_a_boolean(value: bool) -> None:
    with pytest.raises(ValueError, match="whole number"):
        item_bank()["soreness"].check(value)


def test_scale_rejects_a_numeric_string() -> None:
    with pytest.raises(ValueError, match="whole number"):
        item_bank()["soreness"].check("5")


@pytest.mark.parametrize("value", [True, False])
def test_boolean_accepts_true_and_false(value: bool) -> None:
    assert item_bank()["rf_faint"].check(value) is value


@pytest.mark.parametrize("value", [1, 0, "yes", "true", None])
def test_boolean_rejects_anything_but_true_or_false(value: object) -> None:
    with pytest.raises(ValueError, match="true or false"):
        item_bank()["rf_faint"].check(value)


@pytest.mark.parametrize("value", ["none", "small", "large", "bleeding"])
def test_choice_accepts_its_option_codes(value: str) -> None:
    assert item_bank()["bruise_bleed"].check(value) == value


@pytest.mark.parametrize("value", ["huge", "None", "", 1])
def test_choice_rejects_anything_but_its_option_codes(value: object) -> None:
    with pytest.raises(ValueError, match="must be one of: none, small, large, bleeding"):
        item_bank()["bruise_bleed"].check(value)


def test_text_is_stripped() -> None:
    assert item_bank()["mobility_activity"].check("  climbing stairs ") == "climbing stairs"


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_text_rejects_blank(value: str) -> None:
    with pytest.raises(ValueError, match="non-blank"):
        item_bank()["comment"].check(value)


def test_text_rejects_a_non_string() -> None:
    with pytest.raises(ValueError, match="non-blank"):
        item_bank()["comment"].check(42)


def test_text_accepts_its_maximum_length() -> None:
    assert item_bank()["mobility_activity"].check("x" * 80) == "x" * 80


def test_text_rejects_more_than_its_maximum_length() -> None:
    with pytest.raises(ValueError, match="at most 80 characters"):
        item_bank()["mobility_activity"].check("x" * 81)
