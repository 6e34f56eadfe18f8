"""How far apart two or more groups are, on aggregates: standardised differences (Austin 2009),
the log-rank test (Peto & Peto 1972, Mantel 1966) with Peto's hazard ratio, Newcombe's hybrid
score interval for a difference in proportions (Newcombe 1998), the chi-square and Fisher exact
tests of independence, and Holm's step-down correction (Holm 1979). docs/analytics.md says
what each means for a clinician."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from server.services.statistics import Z_95, wilson

IMBALANCE = 0.1  # |standardised difference| above this: the groups differ (Austin 2009)
FEW_EXPECTED = 5  # a table with an expected count below this is too small for chi-square


def smd_continuous(mean1: float, sd1: float, mean2: float, sd2: float) -> float | None:
    """Standardised mean difference: (mean1 - mean2) / sqrt((sd1² + sd2²) / 2).
    None when both SDs are 0 and the means differ (no spread to measure it against)."""
    spread = math.sqrt((sd1 * sd1 + sd2 * sd2) / 2)
    if spread == 0:
        return 0.0 if mean1 == mean2 else None
    return (mean1 - mean2) / spread


def smd_binary(p1: float, p2: float) -> float | None:
    """Standardised difference of two proportions: (p1 - p2) / sqrt((p1(1-p1) + p2(1-p2)) / 2).
    None when every member of one group has it and none of the other does."""
    spread = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    if spread == 0:
        return 0.0 if p1 == p2 else None
    return (p1 - p2) / spread


def is_imbalanced(smd: float | None) -> bool:
    """Whether a standardised difference flags imbalance: above 0.1 either way, or undefined
    because the groups do not overlap at all."""
    return smd is None or abs(smd) > IMBALANCE


@dataclass(frozen=True)
class LogRank:
    """The log-rank test of k groups: chi-square on k - 1 degrees of freedom, with each group's
    observed and expected events and the variance of observed minus expected."""

    statistic: float
    df: int
    p_value: float
    observed: list[float]
    expected: list[float]
    variance: list[list[float]]

    def hazard_ratio(self) -> tuple[float, float, float]:
        """Peto's one-step hazard ratio of the first group against the second, with its 95 %
        interval: exp((O - E) / V) and exp((O - E) / V ± 1.96 / sqrt(V)). Above 1: the first
        group's events come sooner."""
        o_minus_e, v = self.observed[0] - self.expected[0], self.variance[0][0]
        log_hr, half = o_minus_e / v, Z_95 / math.sqrt(v)
        return math.exp(log_hr), math.exp(log_hr - half), math.exp(log_hr + half)


def log_rank(durations: Sequence[np.ndarray], events: Sequence[np.ndarray]) -> LogRank:
    """The log-rank test across groups, each given as durations and event flags (1 = event,
    0 = censored). Censoring at an event time counts as after the event, as in Kaplan-Meier;
    the statistic is the one lifelines' ``multivariate_logrank_test`` computes."""
    times = np.unique(np.concatenate(durations))
    groups = len(durations)
    died = np.zeros((times.size, groups))
    left = np.zeros((times.size, groups))
    for index, (duration, event) in enumerate(zip(durations, events, strict=True)):
        at = np.searchsorted(times, duration)
        died[:, index] = np.bincount(at, weights=event, minlength=times.size)
        left[:, index] = np.bincount(at, minlength=times.size)
    at_risk = left[::-1].cumsum(axis=0)[::-1]  # n_jt: still in group j just before time t
    total_at_risk, total_died = at_risk.sum(axis=1), died.sum(axis=1)
    observed = died.sum(axis=0)
    expected = (at_risk * (total_died / total_at_risk)[:, None]).sum(axis=0)
    # the hypergeometric variance at each time: d (n - d) / (n - 1) / n², 0 with one at risk
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = total_died * (total_at_risk - total_died) / (total_at_risk - 1)
        factor = np.where(total_at_risk > 1, factor / total_at_risk**2, 0.0)
    weighted = at_risk * factor[:, None]
    variance = np.diag((weighted * total_at_risk[:, None]).sum(axis=0)) - weighted.T @ at_risk
    difference = (observed - expected)[:-1]
    statistic = float(difference @ np.linalg.pinv(variance[:-1, :-1]) @ difference)
    return LogRank(
        statistic=statistic,
        df=groups - 1,
        p_value=float(stats.chi2.sf(statistic, groups - 1)),
        observed=observed.tolist(),
        expected=expected.tolist(),
        variance=variance.tolist(),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given: the i-th smallest of m p-values is
    multiplied by m - i + 1, then made at least as large as the ones before it (at most 1)."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def newcombe(count1: int, n1: int, count2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's hybrid score 95 % interval (his method 10: from the two Wilson
    intervals, without continuity correction). Both groups must have someone in them."""
    low1, high1 = wilson(count1, n1)
    low2, high2 = wilson(count2, n2)
    if low1 is None or high1 is None or low2 is None or high2 is None:
        raise ValueError("a difference of proportions needs someone in each group")
    p1, p2 = count1 / n1, count2 / n2
    difference = p1 - p2
    low = difference - math.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = difference + math.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return difference, low, high


@dataclass(frozen=True)
class Independence:
    """A test that the share with an outcome is the same in every group."""

    method: str  # "chi-square" | "Fisher exact"
    statistic: float | None  # chi-square's; None for Fisher's exact test
    df: int | None
    p_value: float
    is_approximate: bool  # chi-square with an expected count below 5 (more than two groups)


def independence(counts: Sequence[int], totals: Sequence[int]) -> Independence:
    """Pearson's chi-square test (no continuity correction) of a 2 x k table of ``counts`` with
    the outcome out of ``totals``; for two groups, Fisher's exact test when an expected count is
    below 5 (Cochran's rule). With more groups chi-square is kept and marked approximate."""
    table = np.array([counts, np.subtract(totals, counts)], dtype=float)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    is_small = bool((expected < FEW_EXPECTED).any())
    if is_small and table.shape[1] == 2:
        fisher = stats.fisher_exact(table.astype(int))
        return Independence("Fisher exact", None, None, float(fisher.pvalue), False)
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    statistic, df = float(cells.sum()), table.shape[1] - 1
    p_value = float(stats.chi2.sf(statistic, df))
    return Independence("chi-square", statistic, df, p_value, is_small)
