"""What every chart shares: the layout (legend above the plot, no Plotly title) and the time
axis, hours since treatment on a log-like scale.

Why log-like. The protocols' time points crowd the first hours (0, 2, 4 and 6 h) and then
stretch to 7 days (168 h). On a linear axis the first four share 4 % of the width and their
labels pile into "0246". Evenly spaced categories would read, but they would draw 4 h to 6 h
as long as 2 days to 7 days, so slopes would mislead, and they cannot place a patient's actual
answer times (6.5 h, 25.2 h: CLINICAL.md analyses elapsed time). So x is log2(1 + hours / 2):
T0 stays at 0, the first hours get room, each doubling after that takes the same width, and
7 days still fits. Ticks keep their labels in hours and days; a time point too close to a
labelled neighbour for its label to fit on a phone keeps a grid line without one.

Why no Plotly title and the legend on top. Each chart sits under an HTML heading that names
it (a Plotly title does not wrap, so at 390 px it is clipped). A legend above the plot pushes
the top margin and meets nothing there; a legend below it meets the axis title.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from typing import Any

from server.charts.palette import FONT

SPREAD_H = 2.0  # hours: the scale is about linear below this and about logarithmic above it
BEFORE_X = -1.2  # axis units: the baseline (answered before the first needle), left of T0
# labelled ticks at least this far apart (axis units): 0.9 is about 33 px at 390 px wide
MIN_LABEL_GAP = 0.9
# axis ticks for charts of actual elapsed time (a patient's answers, Kaplan-Meier steps)
TICK_HOURS = (0.0, 2.0, 4.0, 6.0, 12.0, 24.0, 48.0, 72.0, 168.0, 336.0)
WEEK_H = 168.0
GRID = "#E5E5E5"
MINOR_GRID = "#F2F2F2"
AXIS_LINE = "#595959"
TIME_TITLE = "Time since treatment (log scale)"
FONT_PX = 14
# characters' widths in ems, at most, in the sans-serif fonts pages fall back to (DejaVu Sans
# is the widest of them): enough room for a label whichever of them the browser has
NARROW_EM, WIDE_EM, CAPITAL_EM, OTHER_EM = 0.36, 1.0, 0.78, 0.64
NARROW, WIDE = frozenset(" fijlrt.,:;'!|()-"), frozenset("mwMW")
# a tick label longer than this many characters is wrapped onto two lines
LABEL_CHARS = 16
TICK_PAD_PX = 12  # between the tick labels and the plot, and at the page's edge


def position(hours: float) -> float:
    """Where a time after treatment sits on the x axis: log2(1 + hours / 2); 0 h is 0."""
    return round(math.log2(1 + max(hours, 0.0) / SPREAD_H), 4)


def hours_text(hours: float) -> str:
    """A time after treatment as people say it: '6 h' below a day, then '1 d', '1.5 d'."""
    if hours < 24:
        return f"{hours:.1f}".removesuffix(".0") + " h"
    return f"{hours / 24:.1f}".removesuffix(".0") + " d"


def labelled_hours(hours: Iterable[float], min_gap: float = MIN_LABEL_GAP) -> list[float]:
    """The hours whose ticks get a label: the first, then each one far enough from the last
    labelled; the latest always (it takes the place of a too-close one before it)."""
    ordered = sorted(set(hours))
    labelled: list[float] = []
    for hour in ordered:
        if not labelled or position(hour) - position(labelled[-1]) >= min_gap:
            labelled.append(hour)
    if len(labelled) > 1 and labelled[-1] != ordered[-1]:
        labelled[-1] = ordered[-1]
    return labelled


def time_axis(
    hours: Iterable[float], *, baseline: bool, until_h: float | None = None, title: bool = True
) -> dict[str, Any]:
    """The x axis for ``hours`` since treatment: ticks at those hours (labelled where they fit),
    "Before" left of T0 when a baseline is drawn, and room up to ``until_h`` at least."""
    ticks = sorted(set(hours))
    labelled = labelled_hours(ticks)
    last = max([*ticks, until_h or 0.0, 1.0])
    return {
        "title": {"text": TIME_TITLE if title else ""},
        "tickmode": "array",
        "tickvals": [BEFORE_X] * baseline + [position(hour) for hour in labelled],
        "ticktext": ["Before"] * baseline + [hours_text(hour) for hour in labelled],
        "minor": {
            "tickmode": "array",
            "tickvals": [position(hour) for hour in ticks if hour not in labelled],
            "showgrid": True,
            "gridcolor": MINOR_GRID,
        },
        "range": [BEFORE_X - 0.5 if baseline else -0.2, position(last) + 0.2],
        "showgrid": True,
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": AXIS_LINE,
    }


def text_px(text: str) -> int:
    """The px a line of text takes at most at the charts' font size."""
    ems = sum(
        NARROW_EM
        if char in NARROW
        else WIDE_EM
        if char in WIDE
        else CAPITAL_EM
        if char.isupper()
        else OTHER_EM
        for char in text
    )
    return math.ceil(ems * FONT_PX)


def wrapped(label: str) -> str:
    """A tick label longer than ``LABEL_CHARS`` on two lines of about even length ("Evening of
    the<br>treatment day"), so it leaves a phone's chart room to draw in."""
    if len(label) <= LABEL_CHARS:
        return label
    for width in range(math.ceil(len(label) / 2), len(label)):
        lines = textwrap.wrap(label, width, break_long_words=False)
        if len(lines) <= 2:
            return "<br>".join(lines)
    return label


def label_margin(labels: Iterable[str]) -> int:
    """The px a margin needs for these tick labels (lines split at "<br>"), worked out here so
    that Plotly need not: its ``automargin`` measures the drawn labels and lays the whole chart
    out again, which made the course chart's drawing take about 1.7 times the processor time
    (issue 22 §5)."""
    lines = [line for label in labels for line in label.split("<br>")]
    return max((text_px(line) for line in lines), default=0) + 2 * TICK_PAD_PX


def base_layout(*, height: int | None = None) -> dict[str, Any]:
    """The layout every chart starts from: our font, a white plot, the legend above it."""
    return {
        "template": "none",  # plotly's default template is 6 KB of JSON per chart; set what we use
        "font": {"family": FONT, "size": FONT_PX},
        "hovermode": "closest",
        "showlegend": True,  # also for one series: the legend says what the marks are
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        "margin": {"l": 64, "r": 16, "t": 16, "b": 56},
        "plot_bgcolor": "white",
        "height": height,
    }


def score_axis(title: str) -> dict[str, Any]:
    """A y axis for a 0-10 score, titled with its name and which end is better."""
    return {
        "title": {"text": title},
        "range": [-0.5, 10.5],
        "tickvals": [0, 5, 10],
        "showgrid": True,
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": AXIS_LINE,
    }


def stacked_panels(
    *, heights: tuple[float, float] = (0.6, 0.4), spacing: float = 0.1
) -> dict[str, dict[str, Any]]:
    """The axes of two panels stacked on one x axis, as plain layout: what
    ``make_subplots(rows=2, shared_xaxes=True)`` lays out. A figure built whole from its traces
    and such a layout costs a fraction of ``make_subplots`` and the ``update_*`` calls after it,
    which validate the whole figure again each time (issue 22 §5: tens of ms per chart). Traces
    of the upper panel name axes x and y, of the lower x2 and y2; x is the lower panel's."""
    room = 1 - spacing
    lower_top = round(heights[1] * room, 6)
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
        "yaxis": {"anchor": "x", "domain": [round(1 - heights[0] * room, 6), 1.0]},
        "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
        "yaxis2": {"anchor": "x2", "domain": [0.0, lower_top]},
    }


def panel_axes(row: int) -> dict[str, str]:
    """The axes a trace of ``stacked_panels``' row 1 or 2 is drawn on."""
    return {"xaxis": "x", "yaxis": "y"} if row == 1 else {"xaxis": f"x{row}", "yaxis": f"y{row}"}
