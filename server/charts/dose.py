"""Outcome against dose within a modality: soreness at 24 h per dose bin, a panel per dose
scale stacked down the page, a bar per modality in each bin with its 95 % interval. Bars lie
along the page, so bin names such as "20 to under 30 min" read in full on a phone. Analytics
rows in, a Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from server.charts.layout import AXIS_LINE, GRID, base_layout
from server.charts.palette import MODALITY_COLOURS, MODALITY_LABELS
from server.services.analytics.dose import DOSE_SCALES, NOT_RECORDED, DoseSeries

BIN_PX_PER_BAR = 14  # px of a bin per modality drawn in it
BIN_PADDING_PX = 14
PANEL_GAP_PX = 84  # between panels: the upper one's axis ticks, then the lower one's title
LEGEND_PX = 48
AXIS_TITLE = "Soreness at 24 h"  # 0-10, 10 = worst: the section's words say so


def dose_figure(series: Sequence[DoseSeries]) -> go.Figure:
    """A panel per dose scale with any answers: each bin a group of bars, one per modality,
    at the mean soreness with its t-based 95 % interval; a bin hidden (too few patients) or
    unanswered draws no bar, and "not recorded" is left to the table."""
    modalities = list(dict.fromkeys(s.modality for s in series))
    scales = [scale for scale in DOSE_SCALES if any(s.dose == scale.field for s in series)]
    bin_px = BIN_PX_PER_BAR * max(len(modalities), 1) + BIN_PADDING_PX
    heights = [len(scale.bins) * bin_px for scale in scales]
    plot_px = sum(heights) + PANEL_GAP_PX * max(len(scales) - 1, 0)
    layout: dict[str, Any] = base_layout(height=plot_px + LEGEND_PX + 72)
    layout |= {"barmode": "group", "bargap": 0.2, "annotations": []}
    traces = []
    top = plot_px
    for number, (scale, height) in enumerate(zip(scales, heights, strict=True), start=1):
        domain = [round((top - height) / plot_px, 6), round(top / plot_px, 6)]
        top -= height + PANEL_GAP_PX
        axis = "" if number == 1 else str(number)
        layout[f"xaxis{axis}"] = _score_axis(anchor=f"y{axis}")
        layout[f"yaxis{axis}"] = {
            "anchor": f"x{axis}",
            "domain": domain,
            "categoryorder": "array",
            "categoryarray": [band.label for band in scale.bins],
            # every range, the smallest dose on top, also those with no bar
            "range": [len(scale.bins) - 0.5, -0.5],
            "automargin": True,
            "linecolor": AXIS_LINE,
        }
        layout["annotations"].append(_panel_title(scale.label, domain[1]))
        for item in (s for s in series if s.dose == scale.field):
            cells = [c for c in item.cells if c.bin != NOT_RECORDED and c.mean is not None]
            traces.append(
                go.Bar(
                    y=[c.bin for c in cells],
                    x=[c.mean for c in cells],
                    orientation="h",
                    name=MODALITY_LABELS.get(item.modality, item.modality),
                    legendgroup=item.modality,
                    showlegend=number == 1,
                    marker_color=MODALITY_COLOURS.get(item.modality),
                    offsetgroup=item.modality,  # a modality keeps its place in every bin
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [(c.ci_high or c.mean or 0) - (c.mean or 0) for c in cells],
                        "arrayminus": [(c.mean or 0) - (c.ci_low or c.mean or 0) for c in cells],
                        "color": AXIS_LINE,
                    },
                    customdata=[[c.n] for c in cells],
                    hovertemplate="%{y}: mean %{x:.1f} (n = %{customdata[0]})<extra>"
                    + MODALITY_LABELS.get(item.modality, item.modality)
                    + "</extra>",
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                )
            )
    return go.Figure(data=traces, layout=layout)


def has_bars(series: Sequence[DoseSeries]) -> bool:
    """Whether ``dose_figure`` would draw a bar: a recorded dose's cell with a mean."""
    return any(
        cell.bin != NOT_RECORDED and cell.mean is not None for item in series for cell in item.cells
    )


def _score_axis(*, anchor: str) -> dict[str, Any]:
    return {
        "anchor": anchor,
        "range": [0, 10.5],
        "tickvals": [0, 2, 4, 6, 8, 10],
        "title": {"text": AXIS_TITLE, "standoff": 4},
        "showgrid": True,
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": AXIS_LINE,
    }


def _panel_title(text: str, top: float) -> dict[str, Any]:
    """A panel's name above its top left corner, in the page's bold."""
    return {
        "text": f"<b>{text}</b>",
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": top,
        "xanchor": "left",
        "yanchor": "bottom",
        "showarrow": False,
    }
