"""A patient's course: each treatment's baseline and last answer (the service), and the chart
of them (figure JSON)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from server.charts.course import OFFSET, course_figure
from server.charts.layout import label_margin
from server.charts.palette import MEASURE_COLOURS
from server.services.course import CourseStep, LastAnswer, patient_course
from tests.analytics_data import Cohort
from tests.factories import NOW, make_clinic, make_clinician

LABELS = ["Mon 2 Nov<br>Dry needling", "Mon 9 Nov<br>IMS", "Mon 16 Nov<br>Acupuncture"]


def three_steps() -> list[CourseStep]:
    """Pain before falls 7, 5, 4; the last answers fall too; the middle one has no mobility."""
    return [
        CourseStep(
            1,
            "dry_needling",
            NOW - timedelta(days=14),
            {"soreness": 2, "pain": 7, "mobility": 3},
            {
                "soreness": LastAnswer(1, 168.2),
                "pain": LastAnswer(5, 168.2),
                "mobility": LastAnswer(4, 168.2),
            },
        ),
        CourseStep(2, "ims", NOW - timedelta(days=7), {"pain": 5}, {"pain": LastAnswer(3, 72.5)}),
        CourseStep(
            3,
            "acupuncture",
            NOW,
            {"soreness": 1, "pain": 4, "mobility": 6},
            {"soreness": LastAnswer(0, 24.0), "mobility": LastAnswer(8, 24.0)},
        ),
    ]


def trace(figure: Any, name: str) -> Any:
    [found] = [t for t in figure.data if t.name == name]
    return found


def test_each_measure_is_a_line_through_its_last_answers_below_each_treatments_row() -> None:
    figure = course_figure(three_steps(), LABELS)

    pain = trace(figure, "Pain")
    assert list(pain.y) == [0 - OFFSET, 1 - OFFSET, 2 - OFFSET]
    assert list(pain.x) == [5, 3, None]  # no pain answer after the third: a gap, not 0
    assert pain.line.color == MEASURE_COLOURS["pain"]
    assert pain.mode == "lines+markers"


def test_before_each_treatment_is_a_dashed_line_of_open_marks_above_its_row() -> None:
    figure = course_figure(three_steps(), LABELS)

    before = trace(figure, "Mobility before treatment")
    assert list(before.y) == [0 + OFFSET, 1 + OFFSET, 2 + OFFSET]
    assert list(before.x) == [3, None, 6]
    assert before.line.dash == "dash"
    assert before.marker.symbol == "diamond-open"
    assert before.showlegend is False


def test_the_legend_names_the_measures_and_what_the_marks_mean() -> None:
    figure = course_figure(three_steps(), LABELS)

    shown = [t.name for t in figure.data if t.showlegend is not False and t.name]
    assert shown == ["Soreness", "Pain", "Mobility", "Before treatment", "Last answer after it"]
    assert figure.layout.showlegend is True
    assert figure.layout.legend.y > 1  # above the plot, clear of the axis titles
    assert not figure.layout.title.text  # the page's heading names the chart


def test_mobility_has_its_own_panel_saying_higher_is_better() -> None:
    figure = course_figure(three_steps(), LABELS)

    assert "10 = worst" in figure.layout.xaxis.title.text
    assert "10 = best" in figure.layout.xaxis2.title.text
    assert trace(figure, "Mobility").xaxis == "x2"
    assert {trace(figure, "Soreness").xaxis, trace(figure, "Pain").xaxis} == {"x"}
    assert list(figure.layout.xaxis2.range) == [-0.5, 10.5]
    assert figure.layout.xaxis.domain[1] < figure.layout.xaxis2.domain[0]  # side by side


def test_each_treatment_is_a_row_labelled_by_date_and_modality_newest_at_the_top() -> None:
    figure = course_figure(three_steps(), LABELS)

    assert list(figure.layout.yaxis.tickvals) == [0, 1, 2]  # y grows upwards: oldest lowest
    assert list(figure.layout.yaxis.ticktext) == LABELS
    # room for the labels worked out here, not by Plotly laying the chart out twice
    assert figure.layout.yaxis.automargin is None
    assert figure.layout.margin.l == label_margin(LABELS) > len("Acupuncture") * 14 * 0.5
    assert figure.layout.yaxis2.matches == "y"
    assert figure.layout.yaxis2.showticklabels is False


def test_hover_names_the_treatment_and_when_the_last_answer_came() -> None:
    figure = course_figure(three_steps(), LABELS)

    pain = trace(figure, "Pain")
    assert list(pain.customdata[0]) == ["Mon 2 Nov, Dry needling", "7 d"]
    assert "%{customdata[1]} after" in pain.hovertemplate
    assert "%{customdata[0]}" in trace(figure, "Pain before treatment").hovertemplate


def test_one_treatment_gets_a_narrow_sensible_axis() -> None:
    figure = course_figure(three_steps()[:1], LABELS[:1])

    assert list(figure.layout.yaxis.range) == [-0.6, 0.6]
    assert list(figure.layout.yaxis.ticktext) == LABELS[:1]
    assert list(trace(figure, "Soreness").x) == [1]


# --- the service -------------------------------------------------------------------------------


def test_the_course_has_each_treatments_baseline_and_latest_answer_after_it(
    session: Session,
) -> None:
    clinician = make_clinician(session, make_clinic(session))
    people = Cohort(session, clinician.clinic, clinician)
    patient = people.patient()
    later = people.treatment("ims", patient=patient, treated_at=NOW - timedelta(days=3))
    earlier = people.treatment("dry_needling", patient=patient, treated_at=NOW - timedelta(days=9))
    people.answer(earlier, "baseline", soreness=2, pain=7, mobility=3)
    people.answer(earlier, "24h", soreness=5, pain=6)
    people.answer(earlier, "7d", hours=170.5, pain=4, mobility=5)
    people.answer(later, "24h", soreness=3)
    people.answer(people.treatment("ims"), "baseline", pain=9)  # another patient's
    session.commit()

    course = patient_course(session, patient=patient)

    assert [step.treatment_id for step in course] == [earlier.id, later.id]
    first, second = course
    assert first.baseline == {"soreness": 2, "pain": 7, "mobility": 3}
    assert first.last == {
        "soreness": LastAnswer(5, 24.0),
        "pain": LastAnswer(4, 170.5),
        "mobility": LastAnswer(5, 170.5),
    }
    assert (second.baseline, second.last) == ({}, {"soreness": LastAnswer(3, 24.0)})
    assert first.is_answered
    assert second.is_answered


def test_row_labels_and_axis_titles_stand_apart_on_a_phone() -> None:
    # at 390 px each two-line row label ("Wed 28 Oct" over "Dry needling") met its
    # neighbour's, and the two-line axis titles touched the tick labels above them
    steps = three_steps()
    layout = course_figure(steps, LABELS).to_plotly_json()["layout"]
    fewer = course_figure(steps[:2], LABELS[:2]).to_plotly_json()["layout"]

    assert layout["height"] - fewer["height"] >= 56  # a row: two lines of 12 px text, and air
    for axis in ("xaxis", "xaxis2"):
        assert layout[axis]["title"]["standoff"] >= 10
        assert layout[axis]["automargin"] is True
    mobility = layout["xaxis2"]["domain"]
    assert mobility[1] - mobility[0] >= 0.35  # room for "0 5 10" on a narrow plot
