"""The comparison figures: what each trace holds (no database, no request)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from server.charts.layout import BEFORE_X, MIN_LABEL_GAP, label_margin, position
from server.charts.outcomes import (
    answer_rates_figure,
    measures_figure,
    recovery_figure,
    resolution_figure,
    responders_figure,
)
from server.charts.palette import MODALITY_COLOURS, band
from server.models.treatments import BASELINE_LABEL
from server.protocols import default_protocols
from server.services.analytics import (
    AnswerRate,
    AnswerRates,
    Curve,
    Group,
    Point,
    Resolution,
    Responders,
)
from server.services.statistics import KaplanMeier


def cell(slot: str, hours: float | None, mean: float | None, n: int | None = 8) -> Point:
    if mean is None:
        return Point(slot, hours, None, None, None, None, None, None, True)
    return Point(slot, hours, n, mean, 1.0, mean - 0.5, mean + 0.5, hours, False)


def unanswered(slot: str, hours: float) -> Point:
    """A time point with no answers (not a suppressed one)."""
    return Point(slot, hours, None, None, None, None, None, None, False)


IMS = Curve(
    "ims", None, [cell("baseline", None, 2.0), cell("2h", 2.0, 5.0), cell("24h", 24.0, None)]
)
ACU = Curve("acupuncture", None, [cell("baseline", None, 1.0), cell("24h", 24.0, 1.5)])


def test_recovery_draws_a_band_and_a_line_per_modality_in_its_colour() -> None:
    figure = recovery_figure([IMS, ACU], measure="soreness")
    band_trace, line = figure.data[0], figure.data[1]
    assert band_trace.fill == "toself"
    assert band_trace.fillcolor == band(MODALITY_COLOURS["ims"])
    assert line.line.color == MODALITY_COLOURS["ims"]
    assert figure.data[3].line.color == MODALITY_COLOURS["acupuncture"]
    assert line.name == "IMS"


def test_recovery_puts_the_baseline_left_of_zero_and_hours_on_x() -> None:
    line = recovery_figure([IMS], measure="soreness").data[1]
    assert list(line.x) == [BEFORE_X, position(2.0), position(24.0)]
    figure = recovery_figure([IMS], measure="soreness")
    assert figure.layout.xaxis.title.text == "Time since treatment (log scale)"
    assert figure.layout.xaxis.ticktext[0] == "Before"


def test_a_suppressed_point_is_a_gap_not_zero() -> None:
    line = recovery_figure([IMS], measure="soreness").data[1]
    assert line.y[2] is None
    assert line.connectgaps is False


def test_hover_shows_n() -> None:
    line = recovery_figure([IMS], measure="soreness").data[1]
    assert "n = %{customdata[1]}" in line.hovertemplate
    assert line.customdata[1][1] == 8


def test_small_multiples_have_one_panel_per_measure_and_one_legend() -> None:
    figure = measures_figure({"soreness": [IMS], "pain": [IMS], "mobility": [IMS]})
    lines = [trace for trace in figure.data if trace.mode == "lines+markers"]
    assert [trace.showlegend for trace in lines] == [True, False, False]
    assert [trace.yaxis for trace in lines] == ["y", "y2", "y3"]


def test_groups_take_distinct_colours_and_names() -> None:
    a = Curve("ims", Group("clinician", 1, "Sam"), IMS.points)
    b = Curve("ims", Group("clinician", 2, "Ada"), IMS.points)
    figure = recovery_figure([a, b], measure="soreness")
    assert figure.data[1].name == "Sam"
    assert figure.layout.yaxis.title.text.startswith("IMS")
    assert figure.data[1].line.color != figure.data[3].line.color


def km(modality: str, suppressed: bool = False) -> Resolution:
    fit = KaplanMeier([0.0, 24.0], [1.0, 0.4], [1.0, 0.2], [1.0, 0.6], 24.0, 24.0, None)
    if suppressed:
        return Resolution(modality, None, None, None, None, None, None, None, None, True)
    return Resolution(modality, None, 10, 6, 0, 24.0, 24.0, None, fit, False)


def test_kaplan_meier_is_drawn_as_steps_and_skips_suppressed_series() -> None:
    figure = resolution_figure([km("ims"), km("acupuncture", suppressed=True)])
    assert len(figure.data) == 2
    curve = figure.data[1]
    assert curve.line.shape == "hv"
    assert list(curve.y) == [1.0, 0.4]
    assert "median 24.0 h" in curve.name
    band = figure.data[0]
    assert list(band.x) == [position(h) for h in (0.0, 24.0, 24.0, 0.0)]
    assert list(band.y) == [1.0, 0.6, 0.2, 1.0]  # the upper edge out, the lower back


def test_responders_bars_carry_wilson_error_bars() -> None:
    series = [
        Responders("ims", None, 10, 6, 0.6, 0.31, 0.83, 1, False),
        Responders("acupuncture", None, None, None, None, None, None, None, True),
    ]
    bar = responders_figure(series).data[0]
    assert list(bar.y) == ["IMS"]
    assert bar.orientation == "h"  # names read in full on a phone
    assert bar.error_x.array[0] == 0.83 - 0.6
    assert bar.error_x.arrayminus[0] == 0.6 - 0.31


def test_answer_rates_are_grouped_bars_per_time_point() -> None:
    rates = AnswerRates("ims", None, [AnswerRate("2h", 2.0, 10, 8, 0.8, False)])
    figure = answer_rates_figure([rates])
    assert figure.layout.barmode == "group"
    assert list(figure.data[0].x) == [0.8]
    assert figure.data[0].marker.color == MODALITY_COLOURS["ims"]


def rates_of(modality: str) -> AnswerRates:
    """A series answering 80 % at each time point of the modality's default protocol."""
    points = default_protocols()[modality].timepoints
    return AnswerRates(
        modality, None, [AnswerRate(p.slot, p.offset_h, 10, 8, 0.8, False) for p in points]
    )


def test_answer_rates_list_time_points_in_protocol_order_with_their_labels() -> None:
    series = [rates_of("ims"), rates_of("dry_needling"), rates_of("acupuncture")]
    axis = answer_rates_figure(series).layout.yaxis
    slots = ["0h", "2h", "evening_d0", "6h", "12h", "24h", "48h", "72h", "7d"]
    assert list(axis.categoryarray) == slots
    labels = {p.slot: p.label for m in default_protocols().values() for p in m.timepoints}
    assert [text.replace("<br>", " ") for text in axis.ticktext] == [labels[s] for s in slots]
    assert axis.autorange == "reversed"  # the first time point on top


def test_split_answer_rates_name_each_panel_above_it_not_over_its_time_points() -> None:
    sam, ada = Group("clinician", 1, "Sam"), Group("clinician", 2, "Ada")
    series = [
        AnswerRates(modality, group, rates_of(modality).points)
        for modality in ("ims", "acupuncture")
        for group in (sam, ada)
    ]
    figure = answer_rates_figure(series)

    # a y title sat between the time points' labels and the edge, over "1 day" and "3 days"
    assert not figure.layout.yaxis.title.text
    assert not figure.layout.yaxis2.title.text
    names = [(a.text, a.yref) for a in figure.layout.annotations]
    assert names == [("<b>IMS</b>", "y domain"), ("<b>Acupuncture</b>", "y2 domain")]
    assert all(a.xanchor == "right" and a.x == 0 for a in figure.layout.annotations)
    # room for the longest time point's label, worked out without Plotly's automargin
    assert "Evening of the<br>treatment day" in figure.layout.yaxis2.ticktext  # two even lines
    assert figure.layout.margin.l == label_margin(["Evening of the", "treatment day"])
    assert figure.layout.yaxis.automargin is None


def test_split_responders_name_the_modality_over_the_clinician() -> None:
    sam = Group("clinician", 1, "Sam Okafor")
    series = [Responders("ims", sam, 10, 6, 0.6, 0.31, 0.83, 1, False)]
    figure = responders_figure(series)
    assert list(figure.data[0].y) == ["IMS<br>Sam Okafor"]
    assert figure.layout.margin.l == label_margin(["IMS", "Sam Okafor"])


def test_shares_label_their_ends_0_and_100_percent() -> None:
    # Plotly's own ticks end at 0.999... and drop the "100%" label
    series = [Responders("ims", None, 10, 6, 0.6, 0.31, 0.83, 1, False)]
    for figure in (responders_figure(series), answer_rates_figure([rates_of("ims")])):
        assert list(figure.layout.xaxis.tickvals) == [0, 0.5, 1]
        assert figure.layout.xaxis.tickformat == ".0%"
        assert figure.layout.margin.r >= 24  # half of "100%" fits right of the plot


def test_answer_rate_hover_names_the_time_point() -> None:
    bar = answer_rates_figure([rates_of("acupuncture")]).data[0]
    assert bar.customdata[0][0] == default_protocols()["acupuncture"].timepoints[0].label


def traces_with_fill(figure: Any) -> list[Any]:
    return [trace for trace in figure.data if trace.fill == "toself"]


def test_confidence_bands_are_bands_only() -> None:
    for figure in (
        recovery_figure([IMS, ACU], measure="soreness"),
        measures_figure({"soreness": [IMS], "pain": [IMS]}),
        resolution_figure([km("ims")]),
    ):
        bands = traces_with_fill(figure)
        assert bands
        for trace in bands:
            assert trace.mode == "lines"  # no markers at the band's edges
            assert trace.line.width == 0
            assert trace.hoverinfo == "skip"
            assert trace.showlegend is False


def test_early_time_points_keep_labels_apart_and_the_rest_a_grid_line() -> None:
    hours = [0.0, 2.0, 4.0, 6.0, 24.0, 48.0, 72.0, 168.0]
    curve = Curve(
        "ims", None, [cell("baseline", None, 2.0)] + [cell(f"{h}", h, 3.0) for h in hours]
    )
    axis = recovery_figure([curve], measure="soreness").layout.xaxis
    ticks = list(axis.tickvals)
    assert all(b - a >= MIN_LABEL_GAP for a, b in pairwise(ticks))
    assert list(axis.ticktext) == ["Before", "0 h", "2 h", "6 h", "1 d", "2 d", "7 d"]
    assert sorted([*ticks[1:], *axis.minor.tickvals]) == [position(h) for h in hours]


def test_charts_have_no_plotly_title_and_the_legend_above_the_plot() -> None:
    for figure in (
        recovery_figure([IMS], measure="soreness"),
        measures_figure({"soreness": [IMS]}),
        resolution_figure([km("ims")]),
        answer_rates_figure([rates_of("ims")]),
    ):
        assert figure.layout.title.text is None
        assert (figure.layout.legend.y, figure.layout.legend.yanchor) == (1.02, "bottom")
        assert figure.layout.showlegend is True  # also for a single series


def test_a_measure_not_asked_at_a_time_point_is_left_out_not_a_gap() -> None:
    # the IMS protocol asks pain at its baseline and from 24 h, not at 2 h or 6 h
    pain = Curve(
        "ims",
        None,
        [
            cell("baseline", None, 6.0),
            unanswered("2h", 2.0),
            unanswered("6h", 6.0),
            cell("24h", 24.0, 5.0),
        ],
    )
    line = recovery_figure([pain], measure="pain").data[1]
    assert list(line.x) == [BEFORE_X, position(24.0)]
    assert [row[0] for row in line.customdata] == [BASELINE_LABEL, "1 day"]


def test_an_unanswered_time_point_that_is_asked_stays_a_gap() -> None:
    soreness = Curve("ims", None, [cell("2h", 2.0, 4.0), unanswered("6h", 6.0)])
    line = recovery_figure([soreness], measure="soreness").data[1]
    assert list(line.y) == [4.0, None]


def test_mobility_says_higher_is_better_and_soreness_higher_is_worse() -> None:
    assert "10 = best" in recovery_figure([IMS], measure="mobility").layout.yaxis.title.text
    figure = measures_figure({"soreness": [IMS], "pain": [IMS], "mobility": [IMS]})
    titles = [figure.layout[f"yaxis{n}"].title.text for n in ("", "2", "3")]
    assert titles == ["Soreness (10 = worst)", "Pain (10 = worst)", "Mobility (10 = best)"]


def test_a_split_by_clinician_draws_a_panel_per_modality_a_colour_per_clinician() -> None:
    sam, ada = Group("clinician", 1, "Sam"), Group("clinician", 2, "Ada")
    curves = [
        Curve(modality, group, IMS.points)
        for modality in ("ims", "dry_needling", "acupuncture")
        for group in (sam, ada)
    ]
    figure = recovery_figure(curves, measure="soreness")
    lines = [trace for trace in figure.data if trace.mode == "lines+markers"]
    assert [trace.yaxis for trace in lines] == ["y", "y", "y2", "y2", "y3", "y3"]
    assert [trace.name for trace in lines] == ["Sam", "Ada"] * 3
    assert len({trace.line.color for trace in lines}) == 2
    assert {trace.line.color for trace in lines[::2]} == {lines[0].line.color}
    assert [trace.showlegend for trace in lines] == [True, True] + [False] * 4
    assert [figure.layout[f"yaxis{n}"].title.text.split("<br>")[0] for n in ("", "2", "3")] == [
        "IMS",
        "Dry needling",
        "Acupuncture",
    ]
