"""One patient's recovery after one treatment: soreness, pain and mobility against hours since T0.

Pure functions: the answers of a treatment in, rows out; rows in, a plotly Figure out. Hours are
actual elapsed time (answered_at - T0), not the nominal time point (CLINICAL.md, top).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from server.charts.layout import (
    BEFORE_X,
    TICK_HOURS,
    WEEK_H,
    base_layout,
    hours_text,
    panel_axes,
    position,
    score_axis,
    stacked_panels,
    time_axis,
)
from server.charts.palette import MEASURE_COLOURS

MEASURES = ("soreness", "pain", "mobility")
MEASURE_LABELS = {"soreness": "Soreness", "pain": "Pain", "mobility": "Mobility"}
# a second cue besides colour, so the lines stay apart in grey print and for every eye
MEASURE_SYMBOLS = {"soreness": "circle", "pain": "square", "mobility": "diamond"}
# the legend's keys to what marks and lines mean, whichever the measure
KEY_GREY = "#595959"


def measure_style(code: str) -> dict[str, Any]:
    """A measure's line and marker wherever its answers are drawn: its colour and symbol."""
    return {
        "line": {"color": MEASURE_COLOURS[code], "width": 2},
        "marker": {"symbol": MEASURE_SYMBOLS[code], "size": 9},
    }


def baseline_marker(code: str, *, size: int) -> dict[str, Any]:
    """A measure's mark before treatment: its symbol, open, in its colour."""
    return {
        "symbol": f"{MEASURE_SYMBOLS[code]}-open",
        "size": size,
        "color": MEASURE_COLOURS[code],
        "line": {"width": 2},
    }


def legend_key(name: str, *, dash: str, symbol: str) -> go.Scatter:
    """A legend entry in grey for what the marks of every measure mean, drawn nowhere."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="lines+markers",
        name=name,
        line={"color": KEY_GREY, "dash": dash, "width": 1},
        marker={"symbol": symbol, "size": 9, "color": KEY_GREY},
        hoverinfo="skip",
    )


# higher soreness and pain are worse, higher mobility is better: never on one axis unsaid
PANELS = (
    (("soreness", "pain"), "Soreness, pain<br>(10 = worst)"),
    (("mobility",), "Mobility<br>(10 = best)"),
)


@dataclass(frozen=True)
class RecoveryPoint:
    """One answered check-in: hours since the treatment and the measures it answered."""

    hours: float
    slot: str
    values: Mapping[str, int]


def recovery_rows(
    treated_at: datetime, responses: Iterable[Mapping[str, Any]]
) -> tuple[list[RecoveryPoint], dict[str, int]]:
    """The chart's rows from a treatment's responses (as ``treatment_detail`` gives them):
    one point per answered check-in, in time order, and the baseline's measures."""
    points: list[RecoveryPoint] = []
    baseline: dict[str, int] = {}
    for response in sorted(responses, key=lambda response: response["answered_at"]):
        values = {
            code: response["answers"][code]
            for code in MEASURES
            if isinstance(response["answers"].get(code), int)
        }
        if response["slot"] == "baseline":
            baseline = values
        elif values:
            hours = (response["answered_at"] - treated_at).total_seconds() / 3600
            points.append(RecoveryPoint(round(hours, 1), response["slot"], values))
    return points, baseline


def recovery_figure(points: Sequence[RecoveryPoint], baseline: Mapping[str, int]) -> go.Figure:
    """Soreness and pain (higher is worse) in one panel, mobility (higher is better) in the
    panel below, against time since treatment; each baseline as an open marker left of T0
    and a dashed line across its panel. No title is drawn: the page's headings name the
    chart, and a Plotly title does not wrap, so on a phone it was clipped. Built whole, in
    one go (``stacked_panels``), as its build time counts on every patient page."""
    traces: list[go.Scatter] = []
    lines: list[dict[str, Any]] = []
    layout = stacked_panels()
    for row, (measures, title) in enumerate(PANELS, start=1):
        axes = panel_axes(row)
        # an empty trace keeps each panel, and the time axis, when it has nothing to draw
        traces.append(go.Scatter(x=[None], y=[None], showlegend=False, hoverinfo="skip", **axes))
        for code in measures:
            answered = [point for point in points if code in point.values]
            if answered:
                traces.append(_measure_trace(code, answered, axes))
            elif code in baseline:  # asked only before: its colour still needs its name
                traces.append(_measure_key(code, axes))
            if code in baseline:
                traces.append(_baseline_trace(code, baseline[code], axes))
                lines.append(_baseline_line(code, baseline[code], axes))
        layout["yaxis" if row == 1 else f"yaxis{row}"] |= score_axis(title)
    last_hour = max((point.hours for point in points), default=0.0)
    ticks = [hour for hour in TICK_HOURS if hour <= max(last_hour, WEEK_H)]
    # a week at least, so a treatment's first answer sits where it will on later days
    axis = time_axis(ticks, baseline=True, until_h=max(last_hour, WEEK_H))
    layout["xaxis"] |= {**axis, "title": {"text": ""}}
    layout["xaxis2"] |= axis
    if lines:  # one legend entry for every baseline: the measure's colour tells which
        traces.append(legend_key("Before treatment", dash="dash", symbol="circle-open"))
    return go.Figure(data=traces, layout={**base_layout(height=460), **layout, "shapes": lines})


def _baseline_line(code: str, value: int, axes: Mapping[str, str]) -> dict[str, Any]:
    """A baseline's dashed line across its panel, behind the data."""
    return {
        "type": "line",
        "layer": "below",
        "line": {"color": MEASURE_COLOURS[code], "dash": "dash", "width": 1},
        "xref": f"{axes['xaxis']} domain",
        "x0": 0,
        "x1": 1,
        "yref": axes["yaxis"],
        "y0": value,
        "y1": value,
    }


def _measure_trace(
    code: str, points: Sequence[RecoveryPoint], axes: Mapping[str, str]
) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        **axes,
        x=[position(point.hours) for point in points],
        y=[point.values[code] for point in points],
        customdata=[[point.slot, hours_text(point.hours)] for point in points],
        mode="lines+markers",
        name=label,
        legendgroup=code,
        **measure_style(code),
        hovertemplate=f"{label}: %{{y}}<br>%{{customdata[1]}} after treatment"
        " (%{customdata[0]})<extra></extra>",
    )


def _measure_key(code: str, axes: Mapping[str, str]) -> go.Scatter:
    """A measure's legend entry, drawn nowhere, for a measure with a baseline alone."""
    return go.Scatter(
        **axes,
        x=[None],
        y=[None],
        mode="lines+markers",
        name=MEASURE_LABELS[code],
        legendgroup=code,
        **measure_style(code),
        hoverinfo="skip",
    )


def _baseline_trace(code: str, value: int, axes: Mapping[str, str]) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        **axes,
        x=[BEFORE_X],
        y=[value],
        mode="markers",
        name=f"{label} baseline",
        legendgroup=code,
        showlegend=False,  # the grey key explains the open marks once
        marker=baseline_marker(code, size=12),
        hovertemplate=f"{label} baseline: %{{y}}<br>before the first needle<extra></extra>",
    )


def recovery_table(
    points: Sequence[RecoveryPoint], baseline: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The chart's numbers, baseline first (hours None): its table and its CSV download."""
    rows: list[dict[str, Any]] = []
    if baseline:
        rows.append(
            {"hours": None, "slot": "baseline", **{code: baseline.get(code) for code in MEASURES}}
        )
    rows.extend(
        {
            "hours": point.hours,
            "slot": point.slot,
            **{code: point.values.get(code) for code in MEASURES},
        }
        for point in points
    )
    return rows
