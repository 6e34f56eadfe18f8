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
from plotly.subplots import make_subplots

from server.charts.layout import (
    BEFORE_X,
    TICK_HOURS,
    WEEK_H,
    base_layout,
    hours_text,
    position,
    score_axis,
    time_axis,
)
from server.charts.palette import MEASURE_COLOURS

MEASURES = ("soreness", "pain", "mobility")
MEASURE_LABELS = {"soreness": "Soreness", "pain": "Pain", "mobility": "Mobility"}
# a second cue besides colour, so the lines stay apart in grey print and for every eye
MEASURE_SYMBOLS = {"soreness": "circle", "pain": "square", "mobility": "diamond"}
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
    chart, and a Plotly title does not wrap, so on a phone it was clipped."""
    has_baseline = False
    figure = make_subplots(
        rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.6, 0.4]
    )
    for row, (measures, _) in enumerate(PANELS, start=1):
        # Plotly leaves out a panel with no trace: this empty one keeps both, and the time axis
        figure.add_trace(
            go.Scatter(x=[None], y=[None], showlegend=False, hoverinfo="skip"), row=row, col=1
        )
        for code in measures:
            answered = [point for point in points if code in point.values]
            if answered:
                figure.add_trace(_measure_trace(code, answered), row=row, col=1)
            if code in baseline:
                figure.add_trace(_baseline_trace(code, baseline[code]), row=row, col=1)
                has_baseline = True
                figure.add_hline(
                    y=baseline[code],
                    line={"color": MEASURE_COLOURS[code], "dash": "dash", "width": 1},
                    layer="below",
                    row=row,
                    col=1,
                )
        figure.update_yaxes(score_axis(PANELS[row - 1][1]), row=row, col=1)
    last_hour = max((point.hours for point in points), default=0.0)
    ticks = [hour for hour in TICK_HOURS if hour <= max(last_hour, WEEK_H)]
    # a week at least, so a treatment's first answer sits where it will on later days
    axis = time_axis(ticks, baseline=True, until_h=max(last_hour, WEEK_H))
    figure.update_xaxes({**axis, "title": {"text": ""}}, row=1, col=1)
    figure.update_xaxes(axis, row=2, col=1)
    if has_baseline:  # one legend entry for every baseline: the measure's colour tells which
        figure.add_trace(_baseline_key(), row=1, col=1)
    figure.update_layout(base_layout(height=460))
    return figure


def _measure_trace(code: str, points: Sequence[RecoveryPoint]) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        x=[position(point.hours) for point in points],
        y=[point.values[code] for point in points],
        customdata=[[point.slot, hours_text(point.hours)] for point in points],
        mode="lines+markers",
        name=label,
        legendgroup=code,
        line={"color": MEASURE_COLOURS[code], "width": 2},
        marker={"symbol": MEASURE_SYMBOLS[code], "size": 9},
        hovertemplate=f"{label}: %{{y}}<br>%{{customdata[1]}} after treatment"
        " (%{customdata[0]})<extra></extra>",
    )


def _baseline_key() -> go.Scatter:
    """The legend's one entry for every baseline (open marks, dashed lines), drawn nowhere."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="lines+markers",
        name="Before treatment",
        line={"color": "#595959", "dash": "dash", "width": 1},
        marker={"symbol": "circle-open", "size": 10, "color": "#595959"},
        hoverinfo="skip",
    )


def _baseline_trace(code: str, value: int) -> go.Scatter:
    label = MEASURE_LABELS[code]
    return go.Scatter(
        x=[BEFORE_X],
        y=[value],
        mode="markers",
        name=f"{label} baseline",
        legendgroup=code,
        showlegend=False,  # _baseline_key explains the open marks once
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
