"""Analytics against hand-computed values, on both databases."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from sqlalchemy.orm import Session

from server.protocols import default_protocols
from server.services.analytics import (
    Curve,
    Filters,
    Point,
    Scope,
    answer_rates,
    binned_recovery,
    recovery,
    resolution,
    responders,
)
from server.services.analytics import curves as curves_module
from server.services.answers import enter_response
from tests.analytics_data import Cohort
from tests.factories import (
    NOW,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)

T_975_4 = 2.7764451051977987  # scipy.stats.t.ppf(0.975, 4), also in any t table


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    return Cohort(session, clinic, make_clinician(session, clinic=clinic))


def scope_of(cohort: Cohort, **fields: object) -> Scope:
    return Scope(clinic_ids=(cohort.clinic.id,), **fields)  # type: ignore[arg-type]


def dn_soreness(cohort: Cohort, values: list[int], slot: str = "0h", **kwargs: object) -> None:
    for value in values:
        treatment = cohort.treatment("dry_needling", **kwargs)  # type: ignore[arg-type]
        cohort.answer(treatment, slot, soreness=value)


def point(curves: dict[str, list[Curve]], measure: str, modality: str, slot: str) -> Point:
    for curve in curves[measure]:
        if curve.modality == modality:
            return next(p for p in curve.points if p.slot == slot)
    raise AssertionError(f"no {modality} curve")


def test_recovery_point_is_mean_sample_sd_and_t_interval(cohort: Cohort) -> None:
    dn_soreness(cohort, [2, 4, 4, 6, 9])
    curves = recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"])
    cell = point(curves, "soreness", "dry_needling", "0h")
    # mean 5; squared deviations 9+1+1+1+16 = 28; sd = sqrt(28/4) = sqrt(7)
    half = T_975_4 * math.sqrt(7) / math.sqrt(5)
    assert (cell.n, cell.suppressed) == (5, False)
    assert cell.mean == pytest.approx(5.0)
    assert cell.sd == pytest.approx(math.sqrt(7))
    assert cell.ci_low == pytest.approx(5 - half)
    assert cell.ci_high == pytest.approx(5 + half)
    assert cell.hours == 0.0


def test_recovery_has_one_point_per_protocol_time_point_after_the_baseline(
    cohort: Cohort,
) -> None:
    dn_soreness(cohort, [1, 2, 3, 4, 5])
    curves = recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"])
    (curve,) = curves["soreness"]
    assert [(p.slot, p.hours) for p in curve.points] == [
        ("baseline", None),
        ("0h", 0.0),
        ("6h", 6.0),
        ("24h", 24.0),
        ("48h", 48.0),
        ("72h", 72.0),
        ("7d", 168.0),
    ]
    empty = curve.points[2]
    assert (empty.n, empty.mean, empty.suppressed) == (None, None, False)


def test_an_optional_time_point_is_shown_once_answered(cohort: Cohort) -> None:
    dn_soreness(cohort, [1, 2, 3, 4, 5], slot="12h")  # 12 h is off by default (CLINICAL.md)
    (curve,) = recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"])["soreness"]
    assert ("12h", 12.0, 5) in [(p.slot, p.hours, p.n) for p in curve.points]


def test_a_statement_kept_for_a_scope_gives_each_request_the_figures_of_its_moment(
    cohort: Cohort,
) -> None:
    dn_soreness(cohort, [1, 2, 3, 4, 5])
    first = recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"])
    dn_soreness(cohort, [6])
    again = recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"])
    built = [curves_module._recovery_query(scope_of(cohort), ("soreness",)) for _ in range(2)]
    assert built[0] is built[1]  # an equal scope: the statement is built once
    assert point(first, "soreness", "dry_needling", "0h").n == 5
    assert point(again, "soreness", "dry_needling", "0h").n == 6  # no figure is kept


def test_scopes_with_other_time_points_share_a_statement_but_not_the_points(
    cohort: Cohort,
) -> None:
    dn_soreness(cohort, [1, 2, 3, 4, 5])
    defaults = default_protocols()
    dry = defaults["dry_needling"]
    without_6h = replace(
        dry, timepoints=tuple(replace(tp, enabled=tp.slot != "6h") for tp in dry.timepoints)
    )
    own = scope_of(cohort, protocols={**defaults, "dry_needling": without_6h})
    assert own == scope_of(cohort)  # the time points decide no SQL, so no part of equality
    for scope, shows_6h in ((scope_of(cohort), True), (own, False)):
        (curve,) = recovery(cohort.session, scope=scope, measures=["soreness"])["soreness"]
        assert ("6h" in [p.slot for p in curve.points]) is shows_6h


def test_a_cell_of_fewer_than_five_patients_is_suppressed_not_zero(cohort: Cohort) -> None:
    dn_soreness(cohort, [3, 3, 3, 3])
    cell = point(
        recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"]),
        "soreness",
        "dry_needling",
        "0h",
    )
    assert cell.suppressed is True
    assert (cell.n, cell.mean, cell.sd, cell.ci_low) == (None, None, None, None)


def test_suppression_counts_patients_not_answers(cohort: Cohort) -> None:
    patient = cohort.patient()
    for _ in range(6):  # one patient treated six times is still one patient
        cohort.answer(cohort.treatment("ims", patient=patient), "2h", soreness=4)
    cell = point(
        recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"]),
        "soreness",
        "ims",
        "2h",
    )
    assert cell.suppressed is True


def test_baseline_point_and_one_answer_of_each_kind_counted_once(cohort: Cohort) -> None:
    for value in (6, 7, 8, 5, 4):
        treatment = cohort.treatment("acupuncture")
        cohort.answer(treatment, "baseline", pain=value, soreness=1)
        cohort.answer(treatment, "24h", pain=value - 2, source="phone")
    curves = recovery(cohort.session, scope=scope_of(cohort), measures=["pain", "soreness"])
    baseline = point(curves, "pain", "acupuncture", "baseline")
    assert (baseline.hours, baseline.n, baseline.mean) == (None, 5, 6.0)
    # a phone-call answer counts like any other
    assert point(curves, "pain", "acupuncture", "24h").mean == 4.0


def test_filters_by_clinician_dates_region_and_first_or_repeat(cohort: Cohort) -> None:
    other = make_clinician(cohort.session, clinic=cohort.clinic, email="other@example.org")
    early = NOW - timedelta(days=40)
    patients = [cohort.patient() for _ in range(5)]
    for patient in patients:  # first treatments: early, by the other clinician, lower back
        first = cohort.treatment(
            "ims", patient=patient, treated_at=early, clinician=other, regions=["lower_back"]
        )
        cohort.answer(first, "2h", soreness=8)
        repeat = cohort.treatment("ims", patient=patient)
        cohort.answer(repeat, "2h", soreness=2)

    def mean(**filters: object) -> float | None:
        scope = scope_of(cohort, filters=Filters(**filters))  # type: ignore[arg-type]
        curves = recovery(cohort.session, scope=scope, measures=["soreness"])
        return point(curves, "soreness", "ims", "2h").mean

    assert mean() == 5.0
    assert mean(clinician_id=other.id) == 8.0
    assert mean(date_to=(early + timedelta(days=1)).date()) == 8.0
    assert mean(date_from=(NOW - timedelta(days=20)).date()) == 2.0
    assert mean(region="lower_back") == 8.0
    assert mean(region="neck") == 2.0
    assert mean(course="first") == 8.0
    assert mean(course="repeat") == 2.0


def test_another_clinics_answers_are_never_counted(cohort: Cohort) -> None:
    dn_soreness(cohort, [1, 1, 1, 1, 1])
    elsewhere = Cohort(cohort.session, make_clinic(cohort.session, name="Elsewhere"))
    dn_soreness(elsewhere, [9, 9, 9, 9, 9])
    cell = point(
        recovery(cohort.session, scope=scope_of(cohort), measures=["soreness"]),
        "soreness",
        "dry_needling",
        "0h",
    )
    assert cell.mean == 1.0


def test_series_split_by_clinician_with_their_names(cohort: Cohort) -> None:
    other = make_clinician(cohort.session, clinic=cohort.clinic, email="b@example.org")
    other.name = "B"
    dn_soreness(cohort, [1, 1, 1, 1, 1])
    dn_soreness(cohort, [5, 5, 5, 5, 5], clinician=other)
    curves = recovery(
        cohort.session, scope=scope_of(cohort, by="clinician"), measures=["soreness"]
    )["soreness"]
    means = {curve.group.label: curve.points[1].mean for curve in curves if curve.group}
    assert means[other.name] == 5.0
    assert len(means) == 2


def test_binned_recovery_uses_actual_elapsed_time(cohort: Cohort) -> None:
    for hours in (1.0, 2.0, 2.5, 2.9, 0.5):  # all answered in the first bin (0-3 h)
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "2h", hours=hours, soreness=6)
    (curve,) = binned_recovery(cohort.session, scope=scope_of(cohort), measure="soreness")
    first = curve.points[0]
    assert (first.slot, first.hours, first.n, first.mean) == ("0-3h", 0.0, 5, 6.0)
    assert first.elapsed_hours == pytest.approx(1.78)


# --- resolution ------------------------------------------------------------------------------


def test_resolution_event_is_first_answer_at_or_below_max_of_one_and_baseline(
    cohort: Cohort,
) -> None:
    # baseline 3: resolved at 24 h when soreness ≤ 3; no baseline: resolved when ≤ 1
    for _ in range(5):
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "baseline", soreness=3)
        cohort.answer(treatment, "2h", soreness=6)
        cohort.answer(treatment, "24h", soreness=3)
        cohort.answer(treatment, "48h", soreness=5)  # a rebound does not reset the clock
    (series,) = resolution(cohort.session, scope=scope_of(cohort))
    assert (series.n, series.events) == (5, 5)
    assert series.median_hours == pytest.approx(24.0)


def test_resolution_censors_at_the_last_soreness_answer(cohort: Cohort) -> None:
    for _ in range(5):
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "2h", soreness=6)
        cohort.answer(treatment, "48h", soreness=2)  # no baseline: 2 > 1, not resolved
    (series,) = resolution(cohort.session, scope=scope_of(cohort))
    assert (series.n, series.events, series.median_hours) == (5, 0, None)
    assert series.curve[-1]["hours"] == pytest.approx(48.0)
    assert series.curve[-1]["survival"] == 1.0


def test_resolution_matches_lifelines(cohort: Cohort) -> None:
    rng = random.Random(7)
    durations, observed = [], []
    for _ in range(40):
        treatment = cohort.treatment("dry_needling")
        baseline = rng.choice([0, 1, 2, 3])
        cohort.answer(treatment, "baseline", soreness=baseline)
        event_at, last_at = None, 0.0
        for slot in ("0h", "6h", "24h", "48h", "72h"):
            value = rng.randint(0, 7)
            # a jittered time, as real answers come in: lifelines sees the same instants
            hours = float(slot.removesuffix("h")) + rng.randint(0, 3600) / 3600
            response = cohort.answer(treatment, slot, hours=hours, soreness=value)
            last_at = (response.answered_at - treatment.treated_at).total_seconds() / 3600
            if value <= max(1, baseline) and event_at is None:
                event_at = last_at
        durations.append(event_at if event_at is not None else last_at)
        observed.append(event_at is not None)
    kmf = KaplanMeierFitter().fit(durations, observed)
    (series,) = resolution(cohort.session, scope=scope_of(cohort))
    ci = median_survival_times(kmf.confidence_interval_).iloc[0]
    assert series.n == 40
    assert series.events == sum(observed)
    assert series.median_hours == pytest.approx(kmf.median_survival_time_)
    assert series.ci_low == pytest.approx(ci.iloc[0])
    assert (series.ci_high if series.ci_high is not None else math.inf) == pytest.approx(ci.iloc[1])
    expected = kmf.survival_function_.iloc[:, 0]
    assert [p["survival"] for p in series.curve] == pytest.approx(list(expected.values))
    assert [p["hours"] for p in series.curve] == pytest.approx(list(expected.index))


def test_resolution_excludes_and_counts_sessions_with_no_soreness_answer(cohort: Cohort) -> None:
    for _ in range(5):
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "2h", soreness=1)
    silent = cohort.treatment("ims")
    cohort.checkin(silent, "2h", "missed")
    (series,) = resolution(cohort.session, scope=scope_of(cohort))
    assert (series.n, series.excluded) == (5, 1)


# --- responders ------------------------------------------------------------------------------


def test_responders_need_two_points_and_thirty_percent(cohort: Cohort) -> None:
    # (baseline, 7 d): 6→4 yes (2, 33 %); 5→3 yes (2, 40 %); 10→8 no (20 %); 3→2 no (1 point);
    # 4→1 yes; 0→0 excluded (baseline 0); 7→(none) excluded (no 7 d answer)
    pairs = [(6, 4), (5, 3), (10, 8), (3, 2), (4, 1), (0, 0), (7, None)]
    for baseline, final in pairs:
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "baseline", pain=baseline)
        if final is not None:
            cohort.answer(treatment, "7d", pain=final)
        cohort.checkin(treatment, "7d", "answered" if final is not None else "missed")
    (series,) = responders(cohort.session, scope=scope_of(cohort))
    assert (series.n, series.responders, series.excluded) == (5, 3, 2)
    assert series.rate == pytest.approx(0.6)
    # Wilson 95 %: p = 0.6, n = 5, z = 1.959964
    z = 1.959963984540054
    centre = (0.6 + z * z / 10) / (1 + z * z / 5)
    half = z * math.sqrt(0.6 * 0.4 / 5 + z * z / 100) / (1 + z * z / 5)
    assert series.ci_low == pytest.approx(centre - half)
    assert series.ci_high == pytest.approx(centre + half)


def test_responders_below_five_patients_are_suppressed(cohort: Cohort) -> None:
    for _ in range(4):
        treatment = cohort.treatment("acupuncture")
        cohort.answer(treatment, "baseline", pain=6)
        cohort.answer(treatment, "7d", pain=1)
    (series,) = responders(cohort.session, scope=scope_of(cohort))
    assert series.suppressed is True
    assert (series.n, series.responders, series.rate) == (None, None, None)


# --- answer rate -----------------------------------------------------------------------------


def test_answer_rate_is_answered_over_closed_per_time_point(cohort: Cohort) -> None:
    statuses = ["answered"] * 4 + ["missed"] * 2 + ["cancelled", "scheduled"]
    for status in statuses:
        cohort.checkin(cohort.treatment("acupuncture"), "24h", status)
    (series,) = answer_rates(cohort.session, scope=scope_of(cohort))
    cell = next(p for p in series.points if p.slot == "24h")
    assert (cell.closed, cell.answered) == (6, 4)
    assert cell.rate == pytest.approx(4 / 6)
    assert [p.slot for p in series.points] == ["evening_d0", "24h", "72h", "7d"]


def test_a_back_dated_treatment_counts_answered_or_missed_like_any_other(cohort: Cohort) -> None:
    session, clinician = cohort.session, cohort.clinician
    assert clinician is not None
    for number in range(5):  # recorded from paper diaries a week after the treatments
        patient = make_patient(session, clinician, code=f"PAPER-{number}")
        treatment = make_treatment(
            session, clinician, patient, treated_at=NOW - timedelta(days=8), now=NOW
        )
        if number < 3:
            enter_response(
                session,
                clinician=clinician,
                checkin_id=checkin_for(treatment, "6h").id,
                client_id=uuid.uuid4(),
                answers={"soreness": 3},
                answered_at=NOW - timedelta(days=8) + timedelta(hours=6, minutes=30),
                source="paper",
                note=None,
                now=NOW,
            )
    (series,) = answer_rates(session, scope=scope_of(cohort))
    cells = {p.slot: (p.closed, p.answered) for p in series.points}
    assert cells["6h"] == (5, 3)
    assert cells["24h"] == (5, 0)


# --- the published-curve check (CLINICAL.md §4) ---------------------------------------------


def test_published_dry_needling_curve_comes_back_out(cohort: Cohort) -> None:
    """Martín-Pintado-Zugasti 2015, DN-only arm: 3.48 at 0 h and 0.38 at 48 h (VAS mm / 10).

    The "±" looks like an SEM, so the spread used is SEM x sqrt(30); the intermediate means follow
    the published shape (steepest fall between 6 and 12 h). Tolerances are CLINICAL.md's."""
    rng = random.Random(2015)
    course = {"0h": (3.48, 1.97), "6h": (3.1, 1.9), "12h": (1.9, 1.6), "24h": (1.1, 1.2)}
    course |= {"48h": (0.38, 0.38), "72h": (0.2, 0.3)}
    for _ in range(30):
        treatment = cohort.treatment("dry_needling", regions=["neck", "upper_back"])
        for slot, (mean, sd) in course.items():
            value = min(10, max(0, round(rng.gauss(mean, sd))))
            cohort.answer(treatment, slot, soreness=value)
    (curve,) = recovery(
        cohort.session,
        scope=scope_of(cohort, filters=Filters(region="upper_back")),
        measures=["soreness"],
    )["soreness"]
    means = {p.slot: p.mean for p in curve.points if p.mean is not None}
    assert means["0h"] == pytest.approx(3.5, abs=1.5)
    assert means["48h"] == pytest.approx(0.4, abs=1.0)
    after_6h = [means[slot] for slot in ("6h", "12h", "24h", "48h", "72h")]
    assert after_6h == sorted(after_6h, reverse=True)


def test_date_filter_bounds_are_inclusive_days(cohort: Cohort) -> None:
    day = date(2026, 11, 1)
    from datetime import UTC, datetime

    for hour in (0, 23):
        for _ in range(5):
            treatment = cohort.treatment(
                "ims", treated_at=datetime(2026, 11, 1, hour, 30, tzinfo=UTC)
            )
            cohort.answer(treatment, "2h", soreness=hour // 23 * 4)
    scope = scope_of(cohort, filters=Filters(date_from=day, date_to=day))
    curves = recovery(cohort.session, scope=scope, measures=["soreness"])
    cell = point(curves, "soreness", "ims", "2h")
    assert cell.n == 10


def test_a_series_with_every_session_excluded_is_shown_with_its_count(cohort: Cohort) -> None:
    for _ in range(6):  # baseline pain 0: no responder can be judged; no soreness answered
        treatment = cohort.treatment("ims")
        cohort.answer(treatment, "baseline", pain=0)
        cohort.answer(treatment, "7d", pain=0)
        cohort.checkin(treatment, "7d", "answered")
    (responders_series,) = responders(cohort.session, scope=scope_of(cohort))
    assert (responders_series.n, responders_series.excluded) == (0, 6)
    assert responders_series.rate is None
    (resolution_series,) = resolution(cohort.session, scope=scope_of(cohort))
    assert (resolution_series.n, resolution_series.excluded) == (0, 6)


def test_the_treatments_own_last_time_point_decides_responders(cohort: Cohort) -> None:
    protocol = default_protocols()["dry_needling"]
    without_7d = replace(
        protocol, timepoints=tuple(p for p in protocol.timepoints if p.slot != "7d")
    )
    for _ in range(5):  # recorded under the clinic's protocol that ends at 72 h
        treatment = cohort.treatment("dry_needling", protocol=without_7d)
        cohort.answer(treatment, "baseline", pain=6)
        cohort.answer(treatment, "72h", pain=2)
    for _ in range(5):  # recorded under the default protocol, judged at 7 d: not answered
        treatment = cohort.treatment("dry_needling")
        cohort.answer(treatment, "baseline", pain=6)
        cohort.answer(treatment, "72h", pain=2)
    (series,) = responders(cohort.session, scope=scope_of(cohort))
    assert (series.n, series.responders) == (5, 5)
