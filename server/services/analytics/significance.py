"""Whether the modalities differ beyond chance: time to soreness resolution (log-rank, across
all modalities and pair by pair with Holm's correction, each pair with Peto's hazard ratio) and
pain responders (chi-square or Fisher exact, each pair's difference with Newcombe's interval).

Always per modality, all clinicians or clinics together, from the same per-treatment outcome
rows as the Kaplan-Meier curves and the responder rates. A modality whose figures are hidden
(fewer than ``min_patients`` patients) takes no part, and is named as left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from server.services.analytics.outcomes import outcome_rows
from server.services.analytics.scope import Scope
from server.services.differences import holm, independence, log_rank, newcombe
from server.services.sql import collected


@dataclass(frozen=True)
class ResolutionPair:
    """Two modalities' time to resolution: Peto's hazard ratio (above 1: the first resolves
    sooner) with its 95 % interval, and the log-rank test, its p-value unadjusted and Holm's."""

    first: str
    second: str
    hazard_ratio: float | None  # None: no resolution seen in either
    ci_low: float | None
    ci_high: float | None
    statistic: float
    p_value: float
    p_holm: float


@dataclass(frozen=True)
class ResolutionTest:
    """The log-rank test across the modalities compared, then each pair."""

    modalities: list[str]
    statistic: float
    df: int
    p_value: float
    pairs: list[ResolutionPair]


@dataclass(frozen=True)
class RespondersPair:
    """Two modalities' share of responders: the first's minus the second's with Newcombe's
    95 % interval, and the test of that pair (chi-square, or Fisher exact for small counts)."""

    first: str
    second: str
    difference: float
    ci_low: float
    ci_high: float
    method: str
    statistic: float | None
    p_value: float
    p_holm: float


@dataclass(frozen=True)
class RespondersTest:
    """The test that every modality compared has the same share of responders, then each pair."""

    modalities: list[str]
    method: str
    statistic: float | None
    df: int | None
    p_value: float
    is_approximate: bool  # an expected count below 5 with more than two modalities
    pairs: list[RespondersPair]


@dataclass(frozen=True)
class Significance:
    """Both comparisons; None where fewer than two modalities can be compared."""

    resolution: ResolutionTest | None
    responders: RespondersTest | None
    # modalities with figures hidden (too few patients) in each comparison: not tested
    resolution_left_out: list[str]
    responders_left_out: list[str]


def significance(
    session: Session, *, scope: Scope, rows: Sequence[Any] | None = None
) -> Significance:
    """The log-rank and responder comparisons of the modalities in scope. ``rows``: the
    scope's outcome rows by modality when the caller has read them already (Compare split by
    modality reads them for its charts: at 1M answers the read is about 50 ms)."""
    if rows is None or scope.by != "modality":
        rows = outcome_rows(session, scope=replace(scope, by="modality"))
    timed, judged = [], []
    resolution_left_out, responders_left_out = [], []
    for row in rows:
        hours = np.array(collected(row.hours), dtype=float)  # NULL (no answer) -> nan
        events = np.array(collected(row.events), dtype=float)[~np.isnan(hours)]
        hours = hours[~np.isnan(hours)]
        if hours.size:
            if row.answered_patients >= scope.min_patients:
                timed.append((row.modality, hours, events))
            else:
                resolution_left_out.append(row.modality)
        if row.judged:
            if row.judged_patients >= scope.min_patients:
                judged.append((row.modality, int(row.responders or 0), int(row.judged)))
            else:
                responders_left_out.append(row.modality)
    return Significance(
        _resolution_test(timed) if len(timed) > 1 else None,
        _responders_test(judged) if len(judged) > 1 else None,
        resolution_left_out,
        responders_left_out,
    )


def _resolution_test(timed: list[tuple[str, np.ndarray, np.ndarray]]) -> ResolutionTest:
    overall = log_rank([hours for _, hours, _ in timed], [events for _, _, events in timed])
    pairs = []
    for (first, hours1, events1), (second, hours2, events2) in combinations(timed, 2):
        test = log_rank([hours1, hours2], [events1, events2])
        # no resolution seen in either: no hazard ratio to give
        ratio, low, high = test.hazard_ratio() if test.variance[0][0] > 0 else (None, None, None)
        pairs.append(
            ResolutionPair(first, second, ratio, low, high, test.statistic, test.p_value, 1.0)
        )
    adjusted = holm([pair.p_value for pair in pairs])
    return ResolutionTest(
        modalities=[modality for modality, _, _ in timed],
        statistic=overall.statistic,
        df=overall.df,
        p_value=overall.p_value,
        pairs=[replace(pair, p_holm=p) for pair, p in zip(pairs, adjusted, strict=True)],
    )


def _responders_test(judged: list[tuple[str, int, int]]) -> RespondersTest:
    overall = independence([count for _, count, _ in judged], [n for _, _, n in judged])
    pairs = []
    for (first, count1, n1), (second, count2, n2) in combinations(judged, 2):
        difference, low, high = newcombe(count1, n1, count2, n2)
        test = independence([count1, count2], [n1, n2])
        pairs.append(
            RespondersPair(
                first, second, difference, low, high, test.method, test.statistic, test.p_value, 1.0
            )
        )
    adjusted = holm([pair.p_value for pair in pairs])
    return RespondersTest(
        modalities=[modality for modality, _, _ in judged],
        method=overall.method,
        statistic=overall.statistic,
        df=overall.df,
        p_value=overall.p_value,
        is_approximate=overall.is_approximate,
        pairs=[replace(pair, p_holm=p) for pair, p in zip(pairs, adjusted, strict=True)],
    )
