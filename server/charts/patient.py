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

from server.charts.palette import FONT, MEASURE_COLOURS

MEASURES = ("soreness", "pain", "mobility")
MEASURE_LABELS = {"soreness": "Soreness", "pain": "Pain", "mobility": "Mobility"}
# a second cue besides colour, so the lines stay apart in grey print and for every eye
MEASURE_SYMBOLS = {"soreness": "circle", "pain": "square", "mobility": "diamond"}


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


def recovery_figure(
    points: Sequence[RecoveryPoint], baseline: Mapping[str, int], *, title: str
) -> go.Figure:
    """Each measure as a line against hours since treatment; its baseline as a marker at 0 h
    and a dashed line across the chart."""
    figure = go.Figure()
    for code in MEASURES:
        answered = [point for point in points if code in point.values]
        if answered:
            figure.add_trace(_measure_trace(code, answered))
        if code in baseline:
            figure.add_trace(_baseline_trace(code, baseline[code]))
            figure.add_hline(
                y=baseline[code],
                line={"color": MEASURE_COLOURS[code], "dash": "dash", "width": 1},
                layer="below",
            )
    last_hour = max((point.hours for point in points), default=24.0)
    axis = {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "linecolor": "#595959"}
    figure.update_layout(
        template="none",  # plotly's default template is 6 KB of JSON per chart; set what we use
        title={"text": title},
        font={"family": FONT, "size": 14},
        xaxis={
            **axis,
            "title": {"text": "Hours since treatment"},
            "range": [-4, last_hour * 1.05 + 4],
        },
        yaxis={**axis, "title": {"text": "Score (0-10)"}, "range": [-0.5, 10.5], "dtick": 2},
        legend={"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top"},
        hovermode="closest",
        margin={"l": 60, "r": 20, "t": 50, "b": 120},
        plot_bgcolor="white",
    )
    return figure


def _measure_trace(code: str, points: Sequence[RecoveryPoint]) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        x=[point.hours for point in points],
        y=[point.values[code] for point in points],
        customdata=[point.slot for point in points],
        mode="lines+markers",
        name=label,
        legendgroup=code,
        line={"color": MEASURE_COLOURS[code], "width": 2},
        marker={"symbol": MEASURE_SYMBOLS[code], "size": 9},
        hovertemplate=f"{label}: %{{y}}<br>%{{x:.1f}} h after treatment (%{{customdata}})"
        "<extra></extra>",
    )


def _baseline_trace(code: str, value: int) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        x=[0],
        y=[value],
        mode="markers",
        name=f"{label} baseline",
        legendgroup=code,
        marker={
            "symbol": f"{MEASURE_SYMBOLS[code]}-open",
            "size": 12,
            "color": MEASURE_COLOURS[code],
            "line": {"width": 2},
        },
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
