"""The patient recovery chart: pure functions from a treatment's answers to a plotly Figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.charts.layout import BEFORE_X, position
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
    """The figure's named traces by name (the empty ones that hold a panel open have none)."""
    return {trace.name: trace for trace in figure.data if trace.name}


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


def test_each_measure_is_a_line_against_time_on_the_log_like_axis() -> None:
    figure = recovery_figure(POINTS, {})

    lines = traces(figure)
    assert list(lines) == ["Soreness", "Pain", "Mobility"]
    assert lines["Soreness"].x == tuple(position(hours) for hours in (6.5, 24.2, 72.0))
    assert lines["Soreness"].y == (6, 3, 1)
    assert lines["Pain"].x == (position(24.2), position(72.0))
    assert lines["Pain"].y == (4, 2)
    assert lines["Mobility"].x == (position(72.0),)
    assert lines["Soreness"].mode == "lines+markers"


def test_measures_keep_their_palette_colours() -> None:
    lines = traces(recovery_figure(POINTS, BASELINE))

    for code in ("soreness", "pain", "mobility"):
        name = code.capitalize()
        assert lines[name].line.color == MEASURE_COLOURS[code]
        assert lines[f"{name} baseline"].marker.color == MEASURE_COLOURS[code]


def test_hover_shows_the_value_the_time_and_the_checkin() -> None:
    soreness = traces(recovery_figure(POINTS, {}))["Soreness"]

    assert [list(row) for row in soreness.customdata] == [
        ["6h", "6.5 h"],
        ["24h", "1 d"],
        ["72h", "3 d"],
    ]
    assert "%{y}" in soreness.hovertemplate
    assert "%{customdata[1]} after treatment" in soreness.hovertemplate
    assert "%{customdata[0]}" in soreness.hovertemplate


def test_mobility_has_its_own_panel_saying_higher_is_better() -> None:
    figure = recovery_figure(POINTS, BASELINE)

    lines = traces(figure)
    assert lines["Soreness"].yaxis == lines["Pain"].yaxis == "y"
    assert lines["Mobility"].yaxis == lines["Mobility baseline"].yaxis == "y2"
    assert "10 = worst" in figure.layout.yaxis.title.text
    assert "10 = best" in figure.layout.yaxis2.title.text


def test_baseline_is_a_marker_before_zero_hours_and_a_dashed_line() -> None:
    figure = recovery_figure(POINTS, BASELINE)

    pain_baseline = traces(figure)["Pain baseline"]
    assert (pain_baseline.x, pain_baseline.y, pain_baseline.mode) == ((BEFORE_X,), (6,), "markers")
    assert BEFORE_X < 0
    assert [(shape.y0, shape.line.dash, shape.yref) for shape in figure.layout.shapes] == [
        (1, "dash", "y"),
        (6, "dash", "y"),
        (4, "dash", "y2"),
    ]


def test_baselines_share_one_legend_entry() -> None:
    figure = recovery_figure(POINTS, BASELINE)

    in_legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert in_legend == ["Soreness", "Pain", "Mobility", "Before treatment"]


def test_baseline_alone_still_charts_and_names_its_measure() -> None:
    figure = recovery_figure([], {"pain": 5})

    assert list(traces(figure)) == ["Pain", "Pain baseline", "Before treatment"]
    in_legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert in_legend == ["Pain", "Before treatment"]  # the colour of the open mark, named


def test_every_measure_drawn_has_its_legend_entry() -> None:
    # soreness answered after; pain and mobility only before: each colour still named
    figure = recovery_figure(POINTS[:1], BASELINE)

    in_legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert in_legend == ["Soreness", "Pain", "Mobility", "Before treatment"]


def test_axes_are_time_since_treatment_and_the_0_to_10_scale() -> None:
    layout = recovery_figure(POINTS, BASELINE).layout

    assert layout.xaxis2.title.text == "Time since treatment (log scale)"
    assert layout.xaxis2.ticktext[:2] == ("Before", "0 h")
    assert layout.yaxis.range == layout.yaxis2.range == (-0.5, 10.5)
    assert layout.xaxis2.range[0] < BEFORE_X < position(72) < layout.xaxis2.range[1]


def test_no_plotly_title_that_a_phone_would_clip() -> None:
    figure = recovery_figure(POINTS, BASELINE)

    assert figure.layout.title.text is None
    assert figure.layout.legend.y >= 1  # above the plot, clear of the axis titles
    assert figure.layout.legend.yanchor == "bottom"


def test_one_answer_gets_a_week_of_axis_and_a_legend() -> None:
    figure = recovery_figure([RecoveryPoint(hours=0.2, slot="0h", values={"soreness": 4})], {})

    axis = figure.layout.xaxis2
    assert axis.range[0] < BEFORE_X < 0
    assert axis.range[1] > position(168)
    assert axis.ticktext[-1] == "7 d"
    assert figure.layout.showlegend is True
    assert list(traces(figure)) == ["Soreness"]


def test_table_lists_the_baseline_first_then_each_point() -> None:
    rows = recovery_table(POINTS[:2], {"pain": 6})

    assert rows == [
        {"hours": None, "slot": "baseline", "soreness": None, "pain": 6, "mobility": None},
        {"hours": 6.5, "slot": "6h", "soreness": 6, "pain": None, "mobility": None},
        {"hours": 24.2, "slot": "24h", "soreness": 3, "pain": 4, "mobility": None},
    ]
