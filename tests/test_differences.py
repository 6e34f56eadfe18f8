"""The statistics of group differences against hand-worked figures, published examples,
scipy and lifelines (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats

from server.services.differences import (
    holm,
    independence,
    is_imbalanced,
    log_rank,
    newcombe,
    smd_binary,
    smd_continuous,
)


def test_continuous_smd_divides_by_the_root_mean_of_the_variances() -> None:
    # (5 - 4) / sqrt((2² + 1²) / 2) = 1 / sqrt(2.5)
    assert smd_continuous(5.0, 2.0, 4.0, 1.0) == pytest.approx(1 / math.sqrt(2.5))
    assert smd_continuous(3.0, 0.0, 3.0, 0.0) == 0.0
    assert smd_continuous(3.0, 0.0, 4.0, 0.0) is None


def test_binary_smd_uses_the_proportions_own_variances() -> None:
    # (0.5 - 0.2) / sqrt((0.25 + 0.16) / 2)
    assert smd_binary(0.5, 0.2) == pytest.approx(0.3 / math.sqrt(0.205))
    assert smd_binary(1.0, 0.0) is None


def test_imbalance_is_an_absolute_smd_above_a_tenth_or_no_overlap() -> None:
    assert [is_imbalanced(value) for value in (0.1, -0.11, 0.05, None)] == [
        False,
        True,
        False,
        True,
    ]


def test_holm_multiplies_by_the_rank_and_keeps_the_order() -> None:
    # sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04): each back in its place
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe 1998, Stat Med 17:873-90, Table II, method 10 (examples a and b)
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
    ],
)
def test_newcombe_hybrid_score_interval_matches_the_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float, float]
) -> None:
    assert newcombe(*counts) == pytest.approx(expected, abs=5e-5)


def test_chi_square_matches_scipy_without_continuity_correction() -> None:
    counts, totals = [12, 30, 18], [40, 50, 45]
    result = independence(counts, totals)
    table = [counts, [n - c for c, n in zip(counts, totals, strict=True)]]
    statistic, p_value, df, _ = stats.chi2_contingency(table, correction=False)
    assert (result.method, result.df, result.is_approximate) == ("chi-square", df, False)
    assert result.statistic == pytest.approx(statistic, abs=1e-9)
    assert result.p_value == pytest.approx(p_value, abs=1e-9)


def test_two_groups_with_a_small_expected_count_take_fisher_exact() -> None:
    result = independence([1, 6], [8, 9])  # expected responders 3.3 and 3.7: below 5
    assert result.method == "Fisher exact"
    assert result.p_value == pytest.approx(stats.fisher_exact([[1, 6], [7, 3]]).pvalue)


def test_more_groups_with_a_small_expected_count_are_marked_approximate() -> None:
    result = independence([1, 6, 2], [8, 9, 7])
    assert (result.method, result.is_approximate) == ("chi-square", True)


def random_groups(seed: int, sizes: tuple[int, ...]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    # check-in times, as real answers come: ties between groups and censoring at event times
    durations = [rng.choice([2.0, 6.0, 24.0, 48.0, 72.0, 168.0], size) for size in sizes]
    events = [(rng.random(size) < 0.7).astype(float) for size in sizes]
    return durations, events


def test_log_rank_across_groups_matches_lifelines() -> None:
    durations, events = random_groups(3, (30, 25, 20))
    ours = log_rank(durations, events)
    groups = np.repeat([0, 1, 2], [30, 25, 20])
    theirs = multivariate_logrank_test(np.concatenate(durations), groups, np.concatenate(events))
    assert ours.df == 2
    assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-6)
    assert ours.p_value == pytest.approx(theirs.p_value, abs=1e-6)


def test_log_rank_of_two_groups_matches_lifelines_and_gives_petos_hazard_ratio() -> None:
    durations, events = random_groups(5, (40, 35))
    ours = log_rank(durations, events)
    theirs = logrank_test(durations[0], durations[1], events[0], events[1])
    assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-6)
    assert ours.p_value == pytest.approx(theirs.p_value, abs=1e-6)
    ratio, low, high = ours.hazard_ratio()
    o_minus_e, variance = ours.observed[0] - ours.expected[0], ours.variance[0][0]
    assert ratio == pytest.approx(math.exp(o_minus_e / variance))
    assert (o_minus_e / math.sqrt(variance)) ** 2 == pytest.approx(ours.statistic)
    assert low < ratio < high
    assert math.log(high) - math.log(ratio) == pytest.approx(1.959964 / math.sqrt(variance))
