"""The patient recovery chart: pure functions from a treatment's answers to a plotly Figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.charts.palette import MEASURE_COLOURS
from server.charts.patient import RecoveryPoint, recovery_figure, recovery_rows, recovery_table

T0 = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
POINTS = [
    RecoveryPoint(hours=6.5, slot="6h", values={"soreness": 6}),
    RecoveryPoint(hours=24.2, slot="24h", values={"soreness": 3, "pain": 4}),
    RecoveryPoint(hours=72.0, slot="72h", values={"soreness": 1, "pain": 2, "mobility": 8}),
]
BASELINE = {"soreness": 1, "pain": 6, "mobility": 4}


def response(slot: str, hours: float, answers: dict[str, Any]) -> dict[str, Any]:
    """A response as treatment_detail gives it."""
    return {"slot": slot, "answered_at": T0 + timedelta(hours=hours), "answers": answers}


def traces(figure: Any) -> dict[str, Any]:
    return {trace.name: trace for trace in figure.data}


def test_rows_are_hours_since_treatment_in_time_order() -> None:
    points, baseline = recovery_rows(
        T0,
        [
            response("24h", 25.25, {"soreness": 3, "pain": 4, "rf_infection": False}),
            response("baseline", -0.5, {"soreness": 1, "pain": 6, "mobility_activity": "lift"}),
            response("6h", 6.04, {"soreness": 6, "bruise_bleed": "small"}),
        ],
    )

    assert points == [
        RecoveryPoint(hours=6.0, slot="6h", values={"soreness": 6}),
        RecoveryPoint(hours=25.2, slot="24h", values={"soreness": 3, "pain": 4}),
    ]
    assert baseline == {"soreness": 1, "pain": 6}


def test_rows_leave_out_checkins_that_answered_no_measure() -> None:
    points, baseline = recovery_rows(T0, [response("0h", 0.2, {"rf_faint": False})])

    assert (points, baseline) == ([], {})


def test_each_measure_is_a_line_against_hours() -> None:
    figure = recovery_figure(POINTS, {}, title="Dry needling")

    lines = traces(figure)
    assert list(lines) == ["Soreness", "Pain", "Mobility"]
    assert lines["Soreness"].x == (6.5, 24.2, 72.0)
    assert lines["Soreness"].y == (6, 3, 1)
    assert lines["Pain"].x == (24.2, 72.0)
    assert lines["Pain"].y == (4, 2)
    assert lines["Mobility"].x == (72.0,)
    assert lines["Soreness"].mode == "lines+markers"


def test_measures_keep_their_palette_colours() -> None:
    lines = traces(recovery_figure(POINTS, BASELINE, title="IMS"))

    for code in ("soreness", "pain", "mobility"):
        name = code.capitalize()
        assert lines[name].line.color == MEASURE_COLOURS[code]
        assert lines[f"{name} baseline"].marker.color == MEASURE_COLOURS[code]


def test_hover_shows_the_value_the_hours_and_the_checkin() -> None:
    soreness = traces(recovery_figure(POINTS, {}, title="IMS"))["Soreness"]

    assert soreness.customdata == ("6h", "24h", "72h")
    assert "%{y}" in soreness.hovertemplate
    assert "%{x:.1f} h" in soreness.hovertemplate
    assert "%{customdata}" in soreness.hovertemplate


def test_baseline_is_a_marker_at_zero_hours_and_a_dashed_line() -> None:
    figure = recovery_figure(POINTS, BASELINE, title="IMS")

    pain_baseline = traces(figure)["Pain baseline"]
    assert (pain_baseline.x, pain_baseline.y, pain_baseline.mode) == ((0,), (6,), "markers")
    assert [(shape.y0, shape.line.dash) for shape in figure.layout.shapes] == [
        (1, "dash"),
        (6, "dash"),
        (4, "dash"),
    ]


def test_baseline_alone_still_charts() -> None:
    figure = recovery_figure([], {"pain": 5}, title="IMS")

    assert [trace.name for trace in figure.data] == ["Pain baseline"]


def test_axes_are_hours_and_the_0_to_10_scale() -> None:
    layout = recovery_figure(POINTS, BASELINE, title="Dry needling").layout

    assert layout.xaxis.title.text == "Hours since treatment"
    assert layout.yaxis.range == (-0.5, 10.5)
    assert layout.xaxis.range[0] < 0 < 72 < layout.xaxis.range[1]
    assert layout.title.text == "Dry needling"


def test_table_lists_the_baseline_first_then_each_point() -> None:
    rows = recovery_table(POINTS[:2], {"pain": 6})

    assert rows == [
        {"hours": None, "slot": "baseline", "soreness": None, "pain": 6, "mobility": None},
        {"hours": 6.5, "slot": "6h", "soreness": 6, "pain": None, "mobility": None},
        {"hours": 24.2, "slot": "24h", "soreness": 3, "pain": 4, "mobility": None},
    ]
