"""The statistics the analytics need, on aggregates (never on rows): t and Wilson intervals,
and Kaplan-Meier with the exponential Greenwood interval lifelines uses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

Z_95 = float(stats.norm.ppf(0.975))


@cache
def t_975(degrees_of_freedom: int) -> float:
    """The 0.975 quantile of Student's t (cached: one value per cell size)."""
    return float(stats.t.ppf(0.975, degrees_of_freedom))


@dataclass(frozen=True)
class Summary:
    """Mean, sample SD (n - 1) and the t-based 95 % CI of n values; None where undefined."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None


def summarise(n: int, total: float, total_sq: float) -> Summary:
    """Summary statistics from count, sum and sum of squares (what SQL's GROUP BY returns)."""
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = total / n
    if n == 1:
        return Summary(1, mean, None, None, None)
    # max(0, …): the subtraction can dip below zero by rounding when every value is equal
    variance = max(0.0, (total_sq - total * total / n) / (n - 1))
    sd = math.sqrt(variance)
    half = t_975(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def wilson(successes: int, n: int) -> tuple[float, float] | tuple[None, None]:
    """The Wilson score 95 % interval of a proportion."""
    if n == 0:
        return None, None
    p = successes / n
    denominator = 1 + Z_95**2 / n
    centre = (p + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve with its pointwise 95 % band, and the median with its CI."""

    hours: list[float]
    survival: list[float]
    lower: list[float]
    upper: list[float]
    median: float | None
    median_low: float | None
    median_high: float | None


def kaplan_meier(times: ArrayLike, events: ArrayLike, censored: ArrayLike) -> KaplanMeier:
    """Kaplan-Meier from distinct times (ascending) with their event and censoring counts.

    Matches lifelines' ``KaplanMeierFitter``: the band is the exponential Greenwood ("log-log")
    interval, and the median's CI is where the band's lower and upper curves cross 0.5.
    """
    hours = np.concatenate(([0.0], np.asarray(times, dtype=float)))
    died = np.concatenate(([0], np.asarray(events, dtype=float)))
    left = np.concatenate(([0], np.asarray(censored, dtype=float)))
    at_risk = (died + left)[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - died / at_risk)
        # a term is inf or nan where everyone left at risk died (or no one was): it adds 0
        terms = died / (at_risk * (at_risk - died))
        greenwood = np.cumsum(np.where(np.isfinite(terms), terms, 0.0))
        log_s = np.log(survival)
        spread = Z_95 * np.sqrt(greenwood) / log_s
        # nan where survival is still 1 (its log is 0): the band is then 1, as lifelines has it
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
        lower, upper = (np.where(np.isnan(band), 1.0, band) for band in (lower, upper))
    return KaplanMeier(
        hours=hours.tolist(),
        survival=survival.tolist(),
        lower=lower.tolist(),
        upper=upper.tolist(),
        median=_first_at_or_below_half(hours, survival),
        median_low=_first_at_or_below_half(hours, lower),
        median_high=_first_at_or_below_half(hours, upper),
    )


def _first_at_or_below_half(hours: np.ndarray, curve: np.ndarray) -> float | None:
    below = np.flatnonzero(curve <= 0.5)
    return float(hours[below[0]]) if below.size else None
