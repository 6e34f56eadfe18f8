"""The adjusted comparison as a forest plot: each modality's difference from the reference, in
points, with its 95 % interval, one panel per measure on one shared axis (all are 0-10
scales). A line at 0 is "no different from the reference"; estimates from fewer than 20
patients are drawn grey and hollow, and hidden ones are not drawn. No legend: each row's
label names its modality, and a legend above the first panel crowded its title on a phone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from server.charts.layout import AXIS_LINE, GRID, base_layout
from server.charts.palette import MODALITY_COLOURS, MODALITY_LABELS
from server.services.adjusted.comparison import MeasureModel

GREY = "#9E9E9E"
ROW_HEIGHT = 30  # px per estimate
PANEL_GAP = 56  # px between panels, for the next panel's title
# what a positive difference means, per measure (mobility runs the other way); short, so the
# panel's title fits over a phone's narrow plot (the page's words say it in full)
MEASURE_WORDS = {
    "soreness": "Soreness (+ more sore)",
    "pain": "Pain (+ more pain)",
    "mobility": "Mobility (+ moves better)",
}


def forest_figure(models: Sequence[MeasureModel], slot_label: Callable[[str], str]) -> go.Figure:
    """One panel per measure with estimates; ``slot_label`` names a time point ('1 day')."""
    shown = [model for model in models if any(d.estimate is not None for d in model.differences)]
    if not shown:
        return go.Figure(layout=base_layout(height=120))
    rows = [sum(d.estimate is not None for d in model.differences) for model in shown]
    heights = [count * ROW_HEIGHT for count in rows]
    reference = MODALITY_LABELS.get(shown[0].reference, shown[0].reference)
    figure = make_subplots(
        rows=len(shown),
        cols=1,
        shared_xaxes=True,
        row_heights=heights,
        vertical_spacing=PANEL_GAP / (sum(heights) + PANEL_GAP * len(shown)),
        subplot_titles=[MEASURE_WORDS[m.measure] for m in shown],
    )
    for row, model in enumerate(shown, start=1):
        for difference in model.differences:
            if difference.estimate is None:
                continue
            name = MODALITY_LABELS.get(difference.modality, difference.modality)
            colour = GREY if difference.too_few else MODALITY_COLOURS.get(difference.modality, GREY)
            label = f"{name}, {slot_label(difference.slot or '')}"
            figure.add_trace(
                go.Scatter(
                    x=[difference.estimate],
                    y=[label],
                    mode="markers",
                    name=name,
                    marker={
                        "color": "white" if difference.too_few else colour,
                        "size": 10,
                        "symbol": "square",
                        "line": {"color": colour, "width": 2},
                    },
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [(difference.ci_high or 0) - difference.estimate],
                        "arrayminus": [difference.estimate - (difference.ci_low or 0)],
                        "color": colour,
                        "thickness": 2,
                        "width": 6,
                    },
                    hovertemplate=(
                        f"{label}: %{{x:+.1f}} points (95% CI {difference.ci_low:+.1f} to "
                        f"{difference.ci_high:+.1f}), {difference.patients} patients"
                        + (" - fewer than 20, read with care" if difference.too_few else "")
                        + "<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        figure.add_vline(x=0, line={"color": AXIS_LINE, "width": 1}, row=row, col=1)
        figure.update_yaxes(autorange="reversed", automargin=True, row=row, col=1)
    figure.update_xaxes(showgrid=True, gridcolor=GRID, zeroline=False, linecolor=AXIS_LINE)
    figure.update_xaxes(
        title={"text": f"Points vs {reference}"},  # short: a phone clips a long one
        row=len(shown),
        col=1,
    )
    layout = base_layout(height=sum(heights) + PANEL_GAP * len(shown) + 110)
    layout["margin"] = {"l": 16, "r": 16, "t": 40, "b": 56}
    layout["showlegend"] = False
    figure.update_layout(**layout)
    figure.update_annotations(font={"size": 13}, xanchor="left", x=0)
    return figure
