"""The modality comparisons against lifelines and scipy on the same data, on both databases."""

from __future__ import annotations

import random

import numpy as np
import pytest
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from scipy import stats
from sqlalchemy.orm import Session

from server.services.analytics import Scope, significance
from server.services.differences import holm
from tests.analytics_data import Cohort
from tests.factories import make_clinic, make_clinician

SLOTS = {
    "ims": ("2h", "6h", "24h", "48h", "7d"),
    "dry_needling": ("0h", "6h", "24h", "48h", "72h", "7d"),
    "acupuncture": ("24h", "72h", "7d"),
}
HOURS = {"0h": 0, "2h": 2, "6h": 6, "24h": 24, "48h": 48, "72h": 72, "7d": 168}


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    return Cohort(session, clinic, make_clinician(session, clinic=clinic))


def scope_of(cohort: Cohort, **fields: object) -> Scope:
    return Scope(clinic_ids=(cohort.clinic.id,), **fields)  # type: ignore[arg-type]


def treated(
    cohort: Cohort, rng: random.Random, modality: str, sessions: int, worst: int
) -> tuple[list[float], list[bool], list[bool]]:
    """Sessions with random soreness at jittered check-in times and random pain at 7 d; what
    CLINICAL.md §5 makes of each: time to resolution or censoring, resolved, responder."""
    durations, resolved, responded = [], [], []
    for _ in range(sessions):
        treatment = cohort.treatment(modality)
        pain_before, pain_after = rng.randint(3, 8), rng.randint(0, 8)
        cohort.answer(treatment, "baseline", soreness=1, pain=pain_before)
        event_at, last_at = None, 0.0
        for slot in SLOTS[modality]:
            value = rng.randint(0, worst)
            hours = HOURS[slot] + rng.randint(0, 3600) / 3600
            pain = pain_after if slot == "7d" else None
            response = cohort.answer(treatment, slot, hours=hours, soreness=value, pain=pain)
            last_at = (response.answered_at - treatment.treated_at).total_seconds() / 3600
            if value <= 1 and event_at is None:
                event_at = last_at
        durations.append(event_at if event_at is not None else last_at)
        resolved.append(event_at is not None)
        drop = pain_before - pain_after
        responded.append(drop >= 2 and drop * 10 >= pain_before * 3)
    return durations, resolved, responded


def test_log_rank_matches_lifelines_across_and_between_modalities(cohort: Cohort) -> None:
    rng = random.Random(11)
    data = {
        modality: treated(cohort, rng, modality, 12, worst)
        for modality, worst in (("ims", 4), ("dry_needling", 6), ("acupuncture", 3))
    }
    groups = np.repeat(list(data), [len(d[0]) for d in data.values()])
    durations = np.concatenate([d[0] for d in data.values()])
    events = np.concatenate([d[1] for d in data.values()])

    found = significance(cohort.session, scope=scope_of(cohort)).resolution
    assert found is not None
    overall = multivariate_logrank_test(durations, groups, events)
    assert (found.modalities, found.df) == (list(data), 2)
    assert found.statistic == pytest.approx(overall.test_statistic, abs=1e-6)
    assert found.p_value == pytest.approx(overall.p_value, abs=1e-6)
    pairwise = pairwise_logrank_test(durations, groups, events).summary
    expected = [pairwise.loc[tuple(sorted((p.first, p.second)))] for p in found.pairs]
    assert [(p.first, p.second) for p in found.pairs] == [
        ("ims", "dry_needling"),
        ("ims", "acupuncture"),
        ("dry_needling", "acupuncture"),
    ]
    assert [p.statistic for p in found.pairs] == pytest.approx(
        [e["test_statistic"] for e in expected], abs=1e-6
    )
    unadjusted = [e["p"] for e in expected]
    assert [p.p_value for p in found.pairs] == pytest.approx(unadjusted, abs=1e-6)
    assert [p.p_holm for p in found.pairs] == pytest.approx(holm(unadjusted), abs=1e-6)
    for pair in found.pairs:
        assert pair.hazard_ratio is not None
        assert pair.ci_low is not None
        assert pair.ci_high is not None
        assert pair.ci_low < pair.hazard_ratio < pair.ci_high


def test_responders_compared_with_newcombe_and_tested_as_scipy_does(cohort: Cohort) -> None:
    rng = random.Random(5)
    data = {
        modality: treated(cohort, rng, modality, 15, 3)[2] for modality in ("ims", "dry_needling")
    }
    found = significance(cohort.session, scope=scope_of(cohort)).responders
    assert found is not None
    counts = [sum(flags) for flags in data.values()]
    table = [counts, [15 - count for count in counts]]
    expected_counts = stats.contingency.expected_freq(table)
    (pair,) = found.pairs
    if (expected_counts < 5).any():
        assert pair.method == "Fisher exact"
        assert pair.p_value == pytest.approx(stats.fisher_exact(table).pvalue, abs=1e-9)
    else:
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
        assert pair.method == "chi-square"
        assert pair.statistic == pytest.approx(chi2, abs=1e-9)
        assert pair.p_value == pytest.approx(p_value, abs=1e-9)
    assert pair.difference == pytest.approx((counts[0] - counts[1]) / 15)
    assert pair.ci_low < pair.difference < pair.ci_high
    assert pair.p_holm == pair.p_value  # one pair: nothing to correct


def test_a_modality_with_too_few_patients_is_left_out_and_named(cohort: Cohort) -> None:
    rng = random.Random(2)
    treated(cohort, rng, "ims", 6, 4)
    treated(cohort, rng, "dry_needling", 6, 4)
    treated(cohort, rng, "acupuncture", 4, 4)
    found = significance(cohort.session, scope=scope_of(cohort))
    assert found.resolution is not None
    assert found.resolution.modalities == ["ims", "dry_needling"]
    assert found.resolution_left_out == ["acupuncture"]
    assert len(found.resolution.pairs) == 1


def test_one_modality_alone_has_nothing_to_compare(cohort: Cohort) -> None:
    treated(cohort, random.Random(1), "ims", 6, 4)
    found = significance(cohort.session, scope=scope_of(cohort))
    assert (found.resolution, found.responders) == (None, None)


def test_split_by_clinician_the_tests_still_compare_modalities(cohort: Cohort) -> None:
    rng = random.Random(4)
    treated(cohort, rng, "ims", 6, 4)
    treated(cohort, rng, "dry_needling", 6, 4)
    by_modality = significance(cohort.session, scope=scope_of(cohort))
    by_clinician = significance(cohort.session, scope=scope_of(cohort, by="clinician"))
    assert by_clinician == by_modality
