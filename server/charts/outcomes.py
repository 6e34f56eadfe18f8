"""Figures comparing modalities: recovery curves with CI bands, small multiples per measure,
Kaplan-Meier curves, responders and answer rates. Analytics rows in, a Figure out."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from server.charts.palette import (
    EXTRA_COLOURS,
    FONT,
    MODALITY_COLOURS,
    MODALITY_DASHES,
    MODALITY_LABELS,
    band,
)
from server.services.analytics import AnswerRates, Curve, Group, Resolution, Responders

MEASURE_TITLES = {
    "soreness": "Soreness (0-10)",
    "pain": "Pain (0-10)",
    "mobility": "Mobility (0-10)",
}
# x position of the baseline, left of T0, labelled "Baseline" on the axis
BASELINE_X = -12.0


def series_name(modality: str, group: Group | None) -> str:
    """The legend name of a series: the modality, and its clinician or clinic if split."""
    label = MODALITY_LABELS.get(modality, modality)
    return f"{label} - {group.label}" if group else label


def _colour(modality: str, group: Group | None, groups: list[Group | None]) -> str:
    if group is None:
        return MODALITY_COLOURS.get(modality, EXTRA_COLOURS[0])
    return EXTRA_COLOURS[groups.index(group) % len(EXTRA_COLOURS)]


def _layout(figure: go.Figure, *, title: str, y_title: str, y_range: list[float] | None) -> None:
    figure.update_layout(
        title={"text": title, "x": 0},
        font={"family": FONT, "size": 14},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        plot_bgcolor="white",
        yaxis={"title": y_title, "range": y_range, "gridcolor": "#e5e5e5", "zeroline": False},
    )


def _hours_axis(curves: Sequence[Curve]) -> dict[str, object]:
    hours = sorted({p.hours for c in curves for p in c.points if p.hours is not None})
    return {
        "title": "Hours since treatment",
        "tickvals": [BASELINE_X, *hours],
        "ticktext": ["Baseline", *(f"{h:g}" for h in hours)],
        "gridcolor": "#e5e5e5",
        "zeroline": False,
    }


def add_curves(
    figure: go.Figure, curves: Sequence[Curve], *, col: int | None = None, legend: bool = True
) -> None:
    """Each curve as a line with its 95 % CI as a band; suppressed points leave a gap."""
    groups = list(dict.fromkeys(curve.group for curve in curves))
    for curve in curves:
        colour = _colour(curve.modality, curve.group, groups)
        name = series_name(curve.modality, curve.group)
        xs = [BASELINE_X if p.hours is None else p.hours for p in curve.points]
        figure.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=[p.ci_high for p in curve.points] + [p.ci_low for p in curve.points][::-1],
                fill="toself",
                fillcolor=band(colour),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{name} 95% CI",
            ),
            **_cell(col),
        )
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=[p.mean for p in curve.points],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=legend,
                line={"color": colour, "dash": MODALITY_DASHES.get(curve.modality, "solid")},
                customdata=[
                    [p.slot, p.n, p.ci_low, p.ci_high, "suppressed" if p.suppressed else ""]
                    for p in curve.points
                ],
                hovertemplate=(
                    f"<b>{name}</b><br>%{{customdata[0]}}: mean %{{y:.2f}}"
                    "<br>95% CI %{customdata[2]:.2f} to %{customdata[3]:.2f}"
                    "<br>n = %{customdata[1]}<extra></extra>"
                ),
                connectgaps=False,
            ),
            **_cell(col),
        )


def _cell(col: int | None) -> dict[str, int]:
    return {} if col is None else {"row": 1, "col": col}


def recovery_figure(curves: Sequence[Curve], *, measure: str) -> go.Figure:
    """All modalities' recovery curves of one measure on one chart, with CI bands."""
    figure = go.Figure()
    add_curves(figure, curves)
    title = MEASURE_TITLES.get(measure, measure)
    _layout(figure, title=f"{title}: mean and 95% CI", y_title=title, y_range=[0, 10])
    figure.update_xaxes(**_hours_axis(curves))
    return figure


def measures_figure(curves_by_measure: dict[str, list[Curve]]) -> go.Figure:
    """Small multiples: one panel per measure, the modalities in each, a shared legend."""
    measures = list(curves_by_measure)
    figure = make_subplots(
        rows=1,
        cols=len(measures),
        shared_yaxes=True,
        subplot_titles=[MEASURE_TITLES.get(m, m) for m in measures],
    )
    for index, measure in enumerate(measures, start=1):
        add_curves(figure, curves_by_measure[measure], col=index, legend=index == 1)
        figure.update_xaxes(**_hours_axis(curves_by_measure[measure]), row=1, col=index)
    _layout(figure, title="Soreness, pain and mobility", y_title="Score (0-10)", y_range=[0, 10])
    return figure


def resolution_figure(series: Sequence[Resolution]) -> go.Figure:
    """Kaplan-Meier curves of time to soreness resolution, with their 95 % bands."""
    figure = go.Figure()
    groups = list(dict.fromkeys(s.group for s in series))
    for item in series:
        if item.suppressed:
            continue
        colour = _colour(item.modality, item.group, groups)
        name = series_name(item.modality, item.group)
        fit = item.fit  # None: every session of the series left out (an empty curve)
        hours, survival = (fit.hours, fit.survival) if fit else ([], [])
        figure.add_trace(
            go.Scatter(
                x=hours + hours[::-1],
                y=fit.upper + fit.lower[::-1] if fit else [],
                fill="toself",
                fillcolor=band(colour),
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        median = "not reached" if item.median_hours is None else f"{item.median_hours:.1f} h"
        figure.add_trace(
            go.Scatter(
                x=hours,
                y=survival,
                mode="lines",
                line={"shape": "hv", "color": colour, "dash": MODALITY_DASHES.get(item.modality)},
                name=f"{name} (median {median}, n = {item.n})",
                legendgroup=name,
                hovertemplate=(
                    f"<b>{name}</b><br>%{{x:.1f}} h: %{{y:.0%}} still sore<extra></extra>"
                ),
            )
        )
    _layout(
        figure,
        title="Time to soreness resolution (Kaplan-Meier)",
        y_title="Still sore",
        y_range=[0, 1.02],
    )
    figure.update_xaxes(title="Hours since treatment", gridcolor="#e5e5e5", rangemode="tozero")
    figure.update_yaxes(tickformat=".0%")
    return figure


def responders_figure(series: Sequence[Responders]) -> go.Figure:
    """Share of pain responders per series, with Wilson 95 % intervals as error bars."""
    shown = [s for s in series if not s.suppressed and s.rate is not None]
    groups = list(dict.fromkeys(s.group for s in series))
    figure = go.Figure(
        go.Bar(
            x=[series_name(s.modality, s.group) for s in shown],
            y=[s.rate for s in shown],
            marker_color=[_colour(s.modality, s.group, groups) for s in shown],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(s.ci_high or 0) - (s.rate or 0) for s in shown],
                "arrayminus": [(s.rate or 0) - (s.ci_low or 0) for s in shown],
            },
            customdata=[[s.responders, s.n] for s in shown],
            hovertemplate="%{x}: %{y:.0%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    _layout(
        figure, title="Pain responders at the last check-in", y_title="Responders", y_range=[0, 1]
    )
    figure.update_yaxes(tickformat=".0%")
    return figure


def answer_rates_figure(series: Sequence[AnswerRates]) -> go.Figure:
    """Answer rate per time point, a bar per series."""
    figure = go.Figure()
    groups = list(dict.fromkeys(s.group for s in series))
    for item in series:
        name = series_name(item.modality, item.group)
        figure.add_trace(
            go.Bar(
                x=[p.slot for p in item.points],
                y=[p.rate for p in item.points],
                name=name,
                marker_color=_colour(item.modality, item.group, groups),
                customdata=[[p.answered, p.closed] for p in item.points],
                hovertemplate=(
                    f"<b>{name}</b><br>%{{x}}: %{{y:.0%}} "
                    "(%{customdata[0]} of %{customdata[1]})<extra></extra>"
                ),
            )
        )
    _layout(figure, title="Answer rate per check-in", y_title="Answered", y_range=[0, 1])
    figure.update_layout(barmode="group")
    figure.update_yaxes(tickformat=".0%")
    figure.update_xaxes(title="Check-in")
    return figure
