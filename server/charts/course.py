"""A patient's course across treatments: soreness, pain and mobility before each treatment and
at the last answer after it, so a clinician sees whether a course of needling is working.

Treatments run left to right, oldest first, evenly spaced (a course is read session by
session, not by the calendar), each labelled by its date and modality in words. Before and
after sit a little either side of the treatment's tick, so equal values do not hide each other.
As on the recovery chart, soreness and pain (higher is worse) share the upper panel, mobility
(higher is better) has its own, and each axis title says which end is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from server.charts.layout import (
    AXIS_LINE,
    base_layout,
    hours_text,
    panel_axes,
    score_axis,
    stacked_panels,
)
from server.charts.palette import MEASURE_COLOURS
from server.charts.patient import MEASURE_LABELS, MEASURE_SYMBOLS, PANELS
from server.services.course import CourseStep

# axis units either side of a treatment's tick: before on the left, the last answer right
OFFSET = 0.15
KEY_GREY = "#595959"


def course_figure(steps: Sequence[CourseStep], labels: Sequence[str]) -> go.Figure:
    """The course chart of ``steps`` (oldest first; only those with some answer), ``labels``
    naming each treatment ("Tue 3 Nov<br>Dry needling"). Each measure is a solid line through
    its last answers and a dashed one through its values before each treatment."""
    names = [label.replace("<br>", ", ") for label in labels]
    traces: list[go.Scatter] = []
    layout = stacked_panels()
    for row, (measures, title) in enumerate(PANELS, start=1):
        axes = panel_axes(row)
        # an empty trace keeps each panel when it has nothing to draw
        traces.append(go.Scatter(x=[None], y=[None], showlegend=False, hoverinfo="skip", **axes))
        for code in measures:
            traces.append(_before_trace(code, steps, names, axes))
            traces.append(_after_trace(code, steps, names, axes))
        layout["yaxis" if row == 1 else f"yaxis{row}"] |= score_axis(title)
    axis = {
        "tickmode": "array",
        "tickvals": list(range(len(steps))),
        "ticktext": list(labels),
        "range": [-0.6, max(len(steps) - 1, 0) + 0.6],
        "showgrid": False,
        "zeroline": False,
        "linecolor": AXIS_LINE,
    }
    layout["xaxis"] |= {**axis, "title": {"text": ""}}
    layout["xaxis2"] |= {**axis, "title": {"text": "Treatments, oldest first"}}
    traces.append(_key("Before treatment", dash="dash", symbol="circle-open"))
    traces.append(_key("Last answer after it", dash="solid", symbol="circle"))
    return go.Figure(data=traces, layout={**base_layout(height=480), **layout})


def _after_trace(
    code: str, steps: Sequence[CourseStep], names: Sequence[str], axes: Mapping[str, str]
) -> go.Scatter:
    """The measure's last answer after each treatment: a gap where there was none."""
    label = MEASURE_LABELS[code]
    answers = [step.last.get(code) for step in steps]
    return go.Scatter(
        **axes,
        x=[index + OFFSET for index in range(len(steps))],
        y=[answer.value if answer else None for answer in answers],
        customdata=[
            [name, hours_text(answer.hours) if answer else ""]
            for name, answer in zip(names, answers, strict=True)
        ],
        mode="lines+markers",
        name=label,
        legendgroup=code,
        line={"color": MEASURE_COLOURS[code], "width": 2},
        marker={"symbol": MEASURE_SYMBOLS[code], "size": 9},
        hovertemplate=f"{label}: %{{y}} at the last answer, %{{customdata[1]}} after"
        "<br>%{customdata[0]}<extra></extra>",
    )


def _before_trace(
    code: str, steps: Sequence[CourseStep], names: Sequence[str], axes: Mapping[str, str]
) -> go.Scatter:
    """The measure before each treatment (its baseline): open marks on a dashed line."""
    label = MEASURE_LABELS[code]
    return go.Scatter(
        **axes,
        x=[index - OFFSET for index in range(len(steps))],
        y=[step.baseline.get(code) for step in steps],
        customdata=[[name] for name in names],
        mode="lines+markers",
        name=f"{label} before treatment",
        legendgroup=code,
        showlegend=False,  # the grey key explains the open marks once
        line={"color": MEASURE_COLOURS[code], "dash": "dash", "width": 1},
        marker={
            "symbol": f"{MEASURE_SYMBOLS[code]}-open",
            "size": 10,
            "color": MEASURE_COLOURS[code],
            "line": {"width": 2},
        },
        hovertemplate=f"{label}: %{{y}} before treatment<br>%{{customdata[0]}}<extra></extra>",
    )


def _key(name: str, *, dash: str, symbol: str) -> go.Scatter:
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
