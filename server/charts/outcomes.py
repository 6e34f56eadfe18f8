"""Figures comparing modalities: recovery curves with CI bands, a panel per measure,
Kaplan-Meier curves, responders and answer rates. Analytics rows in, a Figure out.

Split by clinician or clinic, a chart draws one panel per modality (small multiples), each
group in its own colour in every panel: never six series told apart by two colours. Time
points are named and ordered by the protocol data (``server/protocols/protocols.toml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from server.charts.layout import (
    BEFORE_X,
    GRID,
    MINOR_GRID,
    TICK_HOURS,
    base_layout,
    hours_text,
    label_margin,
    position,
    score_axis,
    time_axis,
    wrapped,
)
from server.charts.palette import (
    EXTRA_COLOURS,
    MODALITY_COLOURS,
    MODALITY_DASHES,
    MODALITY_LABELS,
    band,
)
from server.models.treatments import BASELINE_LABEL
from server.protocols import Protocol, default_protocols
from server.services.analytics import (
    BASELINE,
    AnswerRates,
    Curve,
    Group,
    Point,
    Resolution,
    Responders,
)

# the name of each 0-10 measure and which end is better: mobility runs the other way
MEASURE_TITLES = {
    "soreness": "Soreness (10 = worst)",
    "pain": "Pain (10 = worst)",
    "mobility": "Mobility (10 = best)",
}
PANEL_HEIGHT = 220  # px per panel of a chart split into panels; a single panel takes the page's
BAR_HEIGHT = 16  # px per bar of a bar chart lying along the page
MIN_HEIGHT = 384  # px: the page's own chart height (pages.css .chart)
# a share from 0 to 100 %: three labelled ticks fit a phone's narrow plot; quarters as grid.
# The ticks are given: Plotly's own end at 0.99999... and dropped the 100 % label.
SHARE_AXIS = {
    "range": [0, 1],
    "tickvals": [0, 0.5, 1],
    "tickformat": ".0%",
    "showgrid": True,
    "gridcolor": GRID,
    "minor": {"tickvals": [0.25, 0.75], "showgrid": True, "gridcolor": MINOR_GRID},
}
# room right of a share axis for half its "100%" label
SHARE_MARGIN_R = 28


def series_name(modality: str, group: Group | None) -> str:
    """The full name of a series: the modality, and its clinician or clinic if split."""
    label = MODALITY_LABELS.get(modality, modality)
    return f"{label} - {group.label}" if group else label


def bar_name(modality: str, group: Group | None) -> str:
    """A series' name beside its bar: split, the modality over its clinician or clinic, two
    short lines that leave a phone's chart room to draw in."""
    label = MODALITY_LABELS.get(modality, modality)
    return f"{label}<br>{group.label}" if group else label


def slot_label(protocols: Mapping[str, Protocol], modality: str, slot: str) -> str:
    """A time point's words from the protocol ('1 day' for 24h); the code if it has none."""
    if slot == BASELINE:
        return BASELINE_LABEL
    protocol = protocols.get(modality)
    timepoints = protocol.timepoints if protocol else ()
    return next((point.label for point in timepoints if point.slot == slot), slot)


def is_asked(protocols: Mapping[str, Protocol], modality: str, slot: str, measure: str) -> bool:
    """Whether the modality's protocol asks ``measure`` at ``slot`` (the baseline included)."""
    protocol = protocols.get(modality)
    if protocol is None:
        return False
    if slot == BASELINE:
        return measure in protocol.baseline_items
    return any(point.slot == slot and measure in point.items for point in protocol.timepoints)


class Panels:
    """A figure of one panel, or, when series are split by group, one panel per modality
    (stacked, on one time axis); ``blocks`` repeats that per measure. Says where a series
    goes, its colour, and its legend entry (each name once)."""

    def __init__(
        self, series: Sequence[Curve | Resolution | AnswerRates], *, blocks: int = 1
    ) -> None:
        self.is_split = any(item.group is not None for item in series)
        self.modalities = list(dict.fromkeys(item.modality for item in series))
        self.groups = list(dict.fromkeys(item.group for item in series))
        self.per_block = max(len(self.modalities), 1) if self.is_split else 1
        self.rows = self.per_block * blocks
        self._in_legend: set[str] = set()
        self.figure = make_subplots(
            rows=self.rows, cols=1, shared_xaxes=True, vertical_spacing=0.25 / self.rows
        )
        height = PANEL_HEIGHT * self.rows + 120 if self.rows > 1 else None
        self.figure.update_layout(base_layout(height=height))

    def row(self, modality: str, block: int = 0) -> int:
        """The panel of a modality's series in a block (panel 1 of it when not split)."""
        within = self.modalities.index(modality) if self.is_split else 0
        return block * self.per_block + within + 1

    def colour(self, modality: str, group: Group | None) -> str:
        """A modality's own colour; split, each group's colour, the same in every panel."""
        if group is None:
            return MODALITY_COLOURS.get(modality, EXTRA_COLOURS[0])
        return EXTRA_COLOURS[self.groups.index(group) % len(EXTRA_COLOURS)]

    def dash(self, modality: str) -> str:
        """A modality's own dash; split, solid (the panel names the modality)."""
        return "solid" if self.is_split else MODALITY_DASHES.get(modality, "solid")

    def legend(self, modality: str, group: Group | None) -> dict[str, Any]:
        """Name, legend group and whether this trace shows it (once per name)."""
        name = group.label if group else MODALITY_LABELS.get(modality, modality)
        shown = name not in self._in_legend
        self._in_legend.add(name)
        return {"name": name, "legendgroup": name, "showlegend": shown}

    def y_title(self, row: int, title: str) -> str:
        """A panel's y title: ``title``, under the panel's modality when split."""
        if not self.is_split:
            return title
        modality = self.modalities[(row - 1) % self.per_block]
        return f"{MODALITY_LABELS.get(modality, modality)}<br>{title}"


def _x(point: Point) -> float | None:
    if point.slot == BASELINE:
        return BEFORE_X
    hours = point.hours if point.hours is not None else point.elapsed_hours
    return None if hours is None else position(hours)


def _drawn(curve: Curve, measure: str, protocols: Mapping[str, Protocol]) -> list[Point]:
    """The points a curve draws: a time point whose protocol does not ask the measure is left
    out (it is not asked, not unanswered: no gap); one with answers always stays."""
    return [
        point
        for point in curve.points
        if _x(point) is not None
        and (
            point.n is not None
            or point.suppressed
            or is_asked(protocols, curve.modality, point.slot, measure)
        )
    ]


def add_curves(
    panels: Panels,
    curves: Sequence[Curve],
    *,
    measure: str,
    protocols: Mapping[str, Protocol],
    block: int = 0,
) -> None:
    """Each curve as a line with its 95 % CI as a band; a suppressed point leaves a gap."""
    for curve in curves:
        colour = panels.colour(curve.modality, curve.group)
        legend = panels.legend(curve.modality, curve.group)
        cell = {"row": panels.row(curve.modality, block), "col": 1}
        points = _drawn(curve, measure, protocols)
        xs = [_x(point) for point in points]
        panels.figure.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=[p.ci_high for p in points] + [p.ci_low for p in points][::-1],
                mode="lines",  # a band only: no markers at its edges
                fill="toself",
                fillcolor=band(colour),
                line={"width": 0, "color": colour},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=legend["legendgroup"],
                name=f"{legend['name']} 95% CI",
            ),
            **cell,
        )
        panels.figure.add_trace(
            go.Scatter(
                x=xs,
                y=[p.mean for p in points],
                mode="lines+markers",
                **legend,
                line={"color": colour, "dash": panels.dash(curve.modality)},
                customdata=[
                    [
                        slot_label(protocols, curve.modality, p.slot),
                        p.n,
                        p.ci_low,
                        p.ci_high,
                        "" if p.hours is None else f" ({hours_text(p.hours)})",
                    ]
                    for p in points
                ],
                hovertemplate=(
                    f"<b>{series_name(curve.modality, curve.group)}</b>"
                    "<br>%{customdata[0]}%{customdata[4]}: mean %{y:.2f}"
                    "<br>95% CI %{customdata[2]:.2f} to %{customdata[3]:.2f}"
                    "<br>n = %{customdata[1]}<extra></extra>"
                ),
                connectgaps=False,
            ),
            **cell,
        )


def _time_axes(panels: Panels, curves: Sequence[Curve]) -> None:
    hours = {p.hours for c in curves for p in c.points if p.hours is not None}
    has_baseline = any(p.slot == BASELINE for c in curves for p in c.points)
    for row in range(1, panels.rows + 1):
        axis = time_axis(hours, baseline=has_baseline, title=row == panels.rows)
        panels.figure.update_xaxes(axis, row=row, col=1)


def recovery_figure(
    curves: Sequence[Curve], *, measure: str, protocols: Mapping[str, Protocol] | None = None
) -> go.Figure:
    """A measure's recovery curves with CI bands: the modalities on one chart, or a panel per
    modality when split by group."""
    protocols = protocols or default_protocols()
    panels = Panels(curves)
    add_curves(panels, curves, measure=measure, protocols=protocols)
    title = MEASURE_TITLES.get(measure, measure)
    for row in range(1, panels.rows + 1):
        panels.figure.update_yaxes(score_axis(panels.y_title(row, title)), row=row, col=1)
    _time_axes(panels, curves)
    return panels.figure


def measures_figure(
    curves_by_measure: Mapping[str, Sequence[Curve]],
    *,
    protocols: Mapping[str, Protocol] | None = None,
) -> go.Figure:
    """A panel per measure, stacked on one time axis, each titled with which end is better;
    split by group, a panel per measure and modality."""
    protocols = protocols or default_protocols()
    every = [curve for curves in curves_by_measure.values() for curve in curves]
    panels = Panels(every, blocks=max(len(curves_by_measure), 1))
    for block, (measure, curves) in enumerate(curves_by_measure.items()):
        add_curves(panels, curves, measure=measure, protocols=protocols, block=block)
        title = MEASURE_TITLES.get(measure, measure)
        for row in range(block * panels.per_block + 1, (block + 1) * panels.per_block + 1):
            panels.figure.update_yaxes(score_axis(panels.y_title(row, title)), row=row, col=1)
    _time_axes(panels, every)
    return panels.figure


def resolution_figure(series: Sequence[Resolution]) -> go.Figure:
    """Kaplan-Meier curves of time to soreness resolution, with their 95 % bands."""
    shown = [item for item in series if not item.suppressed]
    panels = Panels(shown)
    last = 0.0
    for item in shown:
        colour = panels.colour(item.modality, item.group)
        legend = panels.legend(item.modality, item.group)
        fit = item.fit  # None: every session of the series left out (an empty curve)
        hours, survival = (fit.hours, fit.survival) if fit else ([], [])
        last = max([last, *hours])
        xs = [position(hour) for hour in hours]
        cell = {"row": panels.row(item.modality), "col": 1}
        panels.figure.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=fit.upper + fit.lower[::-1] if fit else [],
                mode="lines",  # a band only: no markers at its edges
                fill="toself",
                fillcolor=band(colour),
                line={"width": 0, "shape": "hv", "color": colour},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=legend["legendgroup"],
            ),
            **cell,
        )
        median = "not reached" if item.median_hours is None else f"{item.median_hours:.1f} h"
        panels.figure.add_trace(
            go.Scatter(
                x=xs,
                y=survival,
                customdata=[hours_text(hour) for hour in hours],
                mode="lines",
                line={"shape": "hv", "color": colour, "dash": panels.dash(item.modality)},
                **(legend | {"name": f"{legend['name']} (median {median}, n = {item.n})"}),
                hovertemplate=(
                    f"<b>{series_name(item.modality, item.group)}</b>"
                    "<br>%{customdata}: %{y:.0%} still sore<extra></extra>"
                ),
            ),
            **cell,
        )
    ticks = [hour for hour in TICK_HOURS if hour <= max(last, 24.0)]
    for row in range(1, panels.rows + 1):
        axis = time_axis(ticks, baseline=False, until_h=last, title=row == panels.rows)
        panels.figure.update_xaxes(axis, row=row, col=1)
        y_title = panels.y_title(row, "Still sore")
        panels.figure.update_yaxes(
            score_axis(y_title) | {"range": [0, 1.02], "tickvals": None, "tickformat": ".0%"},
            row=row,
            col=1,
        )
    return panels.figure


def responders_figure(series: Sequence[Responders]) -> go.Figure:
    """Share of pain responders per series, with Wilson 95 % intervals as error bars; bars lie
    along the page so each series' name reads in full on a phone."""
    shown = [s for s in series if not s.suppressed and s.rate is not None]
    groups = list(dict.fromkeys(s.group for s in series))
    colours = [
        MODALITY_COLOURS.get(s.modality, EXTRA_COLOURS[0])
        if s.group is None
        else EXTRA_COLOURS[groups.index(s.group) % len(EXTRA_COLOURS)]
        for s in shown
    ]
    figure = go.Figure(
        go.Bar(
            y=[bar_name(s.modality, s.group) for s in shown],
            x=[s.rate for s in shown],
            orientation="h",
            marker_color=colours,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [(s.ci_high or 0) - (s.rate or 0) for s in shown],
                "arrayminus": [(s.rate or 0) - (s.ci_low or 0) for s in shown],
            },
            customdata=[[s.responders, s.n] for s in shown],
            hovertemplate="%{y}: %{x:.0%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    height = max(BAR_HEIGHT * len(shown) + 140, MIN_HEIGHT)
    # one bar, named on its axis: no legend to read
    layout = base_layout(height=height)
    margin = layout["margin"] | {"l": label_margin(figure.data[0].y), "r": SHARE_MARGIN_R}
    figure.update_layout(layout, margin=margin, showlegend=False)
    figure.update_xaxes(title={"text": "Responders"}, **SHARE_AXIS)
    figure.update_yaxes(autorange="reversed")
    return figure


def answer_rates_figure(
    series: Sequence[AnswerRates], *, protocols: Mapping[str, Protocol] | None = None
) -> go.Figure:
    """Answer rate per time point, a bar per series; time points top to bottom in the
    protocols' order (by their hours) and named by their labels. Bars lie along the page, so
    labels such as "In clinic, just after" read in full on a phone."""
    protocols = protocols or default_protocols()
    panels = Panels(series)
    for item in series:
        panels.figure.add_trace(
            go.Bar(
                y=[p.slot for p in item.points],
                x=[p.rate for p in item.points],
                orientation="h",
                **panels.legend(item.modality, item.group),
                marker_color=panels.colour(item.modality, item.group),
                customdata=[
                    [slot_label(protocols, item.modality, p.slot), p.answered, p.closed]
                    for p in item.points
                ],
                hovertemplate=(
                    f"<b>{series_name(item.modality, item.group)}</b><br>%{{customdata[0]}}: "
                    "%{x:.0%} (%{customdata[1]} of %{customdata[2]})<extra></extra>"
                ),
            ),
            row=panels.row(item.modality),
            col=1,
        )
    bars = 0
    labels: list[str] = []
    for row in range(1, panels.rows + 1):
        in_row = [item for item in series if panels.row(item.modality) == row]
        slots = _slots_in_order(in_row, protocols)
        bars += len(slots) * len(in_row)
        labels += [wrapped(label) for _, label in slots]
        if panels.is_split:  # the panel's modality above its time points, clear of them
            panels.figure.add_annotation(
                text=f"<b>{panels.y_title(row, '').removesuffix('<br>')}</b>",
                xref="paper",
                x=0,
                xanchor="right",
                yref=f"y{row if row > 1 else ''} domain",
                y=1,
                yanchor="bottom",
                showarrow=False,
            )
        panels.figure.update_yaxes(
            type="category",
            categoryorder="array",
            categoryarray=[slot for slot, _ in slots],
            tickmode="array",
            tickvals=[slot for slot, _ in slots],
            ticktext=[wrapped(label) for _, label in slots],
            autorange="reversed",  # the first time point on top
            row=row,
            col=1,
        )
        panels.figure.update_xaxes(
            title={"text": "Answered" if row == panels.rows else ""}, **SHARE_AXIS, row=row, col=1
        )
    height = BAR_HEIGHT * bars + 60 * panels.rows + 100
    margin = panels.figure.layout.margin.to_plotly_json()
    margin |= {"l": label_margin(labels), "r": SHARE_MARGIN_R}
    panels.figure.update_layout(barmode="group", height=max(height, MIN_HEIGHT), margin=margin)
    return panels.figure


def _slots_in_order(
    series: Sequence[AnswerRates], protocols: Mapping[str, Protocol]
) -> list[tuple[str, str]]:
    """Every time point of the series, (slot, label), by nominal hours: the protocols' own
    order, merged; a slot no protocol knows any more comes last."""
    first: dict[str, tuple[float, str]] = {}
    for item in series:
        for rate in item.points:
            hours = float("inf") if rate.hours is None else rate.hours
            label = slot_label(protocols, item.modality, rate.slot)
            first.setdefault(rate.slot, (hours, label))
    ordered = sorted(first.items(), key=lambda entry: entry[1][0])
    return [(slot, label) for slot, (_, label) in ordered]
