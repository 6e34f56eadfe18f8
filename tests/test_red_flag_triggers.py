"""What a check-in's questions carry: the answers that would raise a red flag there, and the
advice they bring, so a phone that cannot reach the server still shows the right advice."""

from __future__ import annotations

import pytest

from server.protocols import Value, default_protocols, item_bank
from server.services.red_flags import Trigger, evaluate, triggers

NUMBER = "000"


def at(
    code: str, window_h: tuple[float, float], baseline: dict[str, Value] | None = None
) -> list[Trigger]:
    return triggers(
        item_bank()[code], baseline=baseline or {}, window_h=window_h, emergency_number=NUMBER
    )


def test_breathlessness_is_urgent_with_the_advice_naming_the_number() -> None:
    [trigger] = at("rf_breath_chest", (2, 4))
    assert (trigger.rule, trigger.values, trigger.severity) == ("RF-1", (True,), "urgent")
    assert "Call 000 or go to an emergency department now." in trigger.advice


@pytest.mark.parametrize(
    ("code", "rule"), [("rf_faint", "RF-2"), ("rf_infection", "RF-3"), ("rf_neuro", "RF-4")]
)
def test_the_same_day_items_are_not_urgent(code: str, rule: str) -> None:
    [trigger] = at(code, (24, 36))
    assert (trigger.rule, trigger.values, trigger.severity) == (rule, (True,), "same_day")


def test_fainting_says_it_becomes_urgent_with_breathlessness() -> None:
    [trigger] = at("rf_faint", (2, 4))
    assert (trigger.escalate_with, trigger.escalate_to) == (("RF-1",), "urgent")


def test_bleeding_is_urgent_and_a_large_bruise_routine() -> None:
    found = {(t.rule, t.values, t.severity) for t in at("bruise_bleed", (6, 10))}
    assert found == {("RF-5", ("bleeding",), "urgent"), ("RF-6", ("large",), "routine")}


def test_strong_soreness_is_routine_in_the_first_days_and_same_day_from_72_hours() -> None:
    assert [(t.rule, t.values) for t in at("soreness", (24, 36))] == [("RF-8", (8, 9, 10))]
    assert [(t.rule, t.values) for t in at("soreness", (72, 96))] == [("RF-7", (8, 9, 10))]
    assert at("soreness", (2, 4)) == []


def test_pain_far_above_the_baseline_counts_from_the_baseline() -> None:
    [trigger] = at("pain", (168, 216), baseline={"pain": 3})
    assert (trigger.rule, trigger.values) == ("RF-7", (6, 7, 8, 9, 10))


def test_a_rule_that_can_fire_at_any_moment_of_the_window_counts() -> None:
    # a clinic's own time point open from 60 to 80 h: RF-8 before 72 h, RF-7 after
    assert {t.rule for t in at("soreness", (60, 80))} == {"RF-7", "RF-8"}


def test_free_text_raises_nothing() -> None:
    assert at("comment", (168, 216)) == []


def protocol_windows() -> list[tuple[str, str, float, float]]:
    rows = []
    for modality, protocol in default_protocols().items():
        for point in protocol.timepoints:
            closes = point.offset_h + (point.window_h or 8)
            for code in (*point.items, *point.optional_items):
                rows.append((f"{modality}-{point.slot}", code, point.offset_h, closes))
    return rows


@pytest.mark.parametrize(("where", "code", "opens", "closes"), protocol_windows())
def test_triggers_agree_with_the_rules_at_every_moment_of_every_default_time_point(
    where: str, code: str, opens: float, closes: float
) -> None:
    item = item_bank()[code]
    baseline: dict[str, Value] = {"pain": 4, "soreness": 1}
    found = at(code, (opens, closes), baseline)
    moments = (opens, (opens + closes) / 2, closes - 0.01)
    for value in item.answer_values():
        promised = {t.rule for t in found if value in t.values}
        met = {
            rule
            for moment in moments
            for rule in evaluate({code: value}, baseline=baseline, elapsed_h=moment)
        }
        assert met == promised, f"{where}: {code}={value}"
