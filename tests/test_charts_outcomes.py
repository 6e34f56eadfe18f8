"""The comparison figures: what each trace holds (no database, no request)."""

from __future__ import annotations

from server.charts.outcomes import (
    BASELINE_X,
    answer_rates_figure,
    measures_figure,
    recovery_figure,
    resolution_figure,
    responders_figure,
)
from server.charts.palette import MODALITY_COLOURS, band
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
    assert list(line.x) == [BASELINE_X, 2.0, 24.0]
    figure = recovery_figure([IMS], measure="soreness")
    assert figure.layout.xaxis.title.text == "Hours since treatment"
    assert figure.layout.xaxis.ticktext[0] == "Baseline"


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
    annotations = [a.text for a in figure.layout.annotations]
    assert annotations == ["Soreness (0-10)", "Pain (0-10)", "Mobility (0-10)"]
    lines = [trace for trace in figure.data if trace.mode == "lines+markers"]
    assert [trace.showlegend for trace in lines] == [True, False, False]
    assert {trace.xaxis for trace in lines} == {"x", "x2", "x3"}


def test_groups_take_distinct_colours_and_names() -> None:
    a = Curve("ims", Group("clinician", 1, "Sam"), IMS.points)
    b = Curve("ims", Group("clinician", 2, "Ada"), IMS.points)
    figure = recovery_figure([a, b], measure="soreness")
    assert figure.data[1].name == "IMS - Sam"
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
    assert list(band.x) == [0.0, 24.0, 24.0, 0.0]
    assert list(band.y) == [1.0, 0.6, 0.2, 1.0]  # the upper edge out, the lower back


def test_responders_bars_carry_wilson_error_bars() -> None:
    series = [
        Responders("ims", None, 10, 6, 0.6, 0.31, 0.83, 1, False),
        Responders("acupuncture", None, None, None, None, None, None, None, True),
    ]
    bar = responders_figure(series).data[0]
    assert list(bar.x) == ["IMS"]
    assert bar.error_y.array[0] == 0.83 - 0.6
    assert bar.error_y.arrayminus[0] == 0.6 - 0.31


def test_answer_rates_are_grouped_bars_per_time_point() -> None:
    rates = AnswerRates("ims", None, [AnswerRate("2h", 2.0, 10, 8, 0.8, False)])
    figure = answer_rates_figure([rates])
    assert figure.layout.barmode == "group"
    assert list(figure.data[0].y) == [0.8]
    assert figure.data[0].marker.color == MODALITY_COLOURS["ims"]
