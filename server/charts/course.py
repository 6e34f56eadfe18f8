"""A patient's course across treatments: soreness, pain and mobility before each treatment and
at the last answer after it, so a clinician sees whether a course of needling is working.

Each treatment is a row, newest at the top as in the list of treatments below the chart,
labelled by its date and modality in words: a row's label stays level and readable on a
phone, where eight labels side by side along an x axis would not fit. Scores run along x.
Before sits a little above the row's line, the last answer a little below, so equal values do
not hide each other; each measure's marks are joined from row to row, so a course that works
shows pain moving left and mobility right towards the top. As on the recovery chart, soreness
and pain (higher is worse) share one panel, mobility (higher is better) has its own beside it,
and each axis title says which end is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from server.charts.layout import (
    AXIS_LINE,
    GRID,
    base_layout,
    hours_text,
    label_margin,
    score_axis,
)
from server.charts.palette import MEASURE_COLOURS
from server.charts.patient import (
    MEASURE_LABELS,
    PANELS,
    baseline_marker,
    legend_key,
    measure_style,
)
from server.services.course import CourseStep

# axis units either side of a treatment's row: before above it, the last answer below
OFFSET = 0.15
# the panels side by side (soreness and pain wider: two measures), sharing the rows
DOMAINS = ([0.0, 0.54], [0.64, 1.0])
ROW_PX, FRAME_PX = 60, 170  # the chart's height: a row per treatment (two lines), legend, axes


def course_figure(steps: Sequence[CourseStep], labels: Sequence[str]) -> go.Figure:
    """The course chart of ``steps`` (oldest first; only those with some answer), ``labels``
    naming each treatment ("Tue 3 Nov<br>Dry needling"). Each measure is a solid line through
    its last answers and a dashed one through its values before each treatment."""
    names = [label.replace("<br>", ", ") for label in labels]
    traces: list[go.Scatter] = []
    layout: dict[str, Any] = {}
    for panel, (measures, title) in enumerate(PANELS, start=1):
        suffix = "" if panel == 1 else str(panel)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        # an empty trace keeps each panel when it has nothing to draw
        traces.append(go.Scatter(x=[None], y=[None], showlegend=False, hoverinfo="skip", **axes))
        for code in measures:
            traces.append(_before_trace(code, steps, names, axes))
            traces.append(_after_trace(code, steps, names, axes))
        layout[f"xaxis{suffix}"] = {
            **score_axis(title),
            # the two-line title clear of the tick labels above it
            "title": {"text": title, "standoff": 12},
            "automargin": True,
            "anchor": f"y{suffix}",
            "domain": DOMAINS[panel - 1],
        }
        layout[f"yaxis{suffix}"] = _rows_axis(labels, f"x{suffix}", labelled=panel == 1)
    traces.append(legend_key("Before treatment", dash="dash", symbol="circle-open"))
    traces.append(legend_key("Last answer after it", dash="solid", symbol="circle"))
    height = FRAME_PX + ROW_PX * max(len(steps), 2)
    base = base_layout(height=height)
    margin = {**base["margin"], "l": label_margin(labels)}
    return go.Figure(data=traces, layout={**base, "margin": margin, **layout})


def _rows_axis(labels: Sequence[str], anchor: str, *, labelled: bool) -> dict[str, Any]:
    """The treatments' rows, oldest at the bottom; the first panel names them."""
    rows = {
        "anchor": anchor,
        "domain": [0.0, 1.0],
        "range": [-0.6, max(len(labels) - 1, 0) + 0.6],
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "showgrid": True,
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": AXIS_LINE,
    }
    if labelled:
        return {**rows, "ticktext": list(labels)}
    return {**rows, "matches": "y", "showticklabels": False}


def _after_trace(
    code: str, steps: Sequence[CourseStep], names: Sequence[str], axes: Mapping[str, str]
) -> go.Scatter:
    """The measure's last answer after each treatment: a gap where there was none."""
    label = MEASURE_LABELS[code]
    answers = [step.last.get(code) for step in steps]
    return go.Scatter(
        **axes,
        x=[answer.value if answer else None for answer in answers],
        y=[index - OFFSET for index in range(len(steps))],
        customdata=[
            [name, hours_text(answer.hours) if answer else ""]
            for name, answer in zip(names, answers, strict=True)
        ],
        mode="lines+markers",
        name=label,
        legendgroup=code,
        **measure_style(code),
        hovertemplate=f"{label}: %{{x}} at the last answer, %{{customdata[1]}} after"
        "<br>%{customdata[0]}<extra></extra>",
    )


def _before_trace(
    code: str, steps: Sequence[CourseStep], names: Sequence[str], axes: Mapping[str, str]
) -> go.Scatter:
    """The measure before each treatment (its baseline): open marks on a dashed line."""
    label = MEASURE_LABELS[code]
    return go.Scatter(
        **axes,
        x=[step.baseline.get(code) for step in steps],
        y=[index + OFFSET for index in range(len(steps))],
        customdata=[[name] for name in names],
        mode="lines+markers",
        name=f"{label} before treatment",
        legendgroup=code,
        showlegend=False,  # the grey key explains the open marks once
        line={"color": MEASURE_COLOURS[code], "dash": "dash", "width": 1},
        marker=baseline_marker(code, size=10),
        hovertemplate=f"{label}: %{{x}} before treatment<br>%{{customdata[0]}}<extra></extra>",
    )
