"""Outcome analytics per modality, computed in SQL: GROUP BY in the database, statistics on the
aggregates. Pages, the JSON API and the benchmarks all call these functions.

Definitions follow CLINICAL.md §5: elapsed time is the answer's timestamp minus T0, the baseline
is the pre-needling response, and a cell with fewer patients than ``min_patients`` is suppressed
(figures None, ``suppressed`` True), never shown as 0.
"""

from server.services.analytics.case_mix import CaseMix, case_mix
from server.services.analytics.curves import (
    AnswerRate,
    AnswerRates,
    answer_rates,
    binned_recovery,
    recovery,
)
from server.services.analytics.outcomes import (
    Outcomes,
    Resolution,
    Responders,
    outcome_rows,
    outcomes,
    resolution,
    responders,
)
from server.services.analytics.scope import (
    BASELINE,
    Curve,
    Filters,
    Group,
    Point,
    Scope,
    scope_for,
)
from server.services.analytics.significance import Significance, significance

__all__ = [
    "BASELINE",
    "AnswerRate",
    "AnswerRates",
    "CaseMix",
    "Curve",
    "Filters",
    "Group",
    "Outcomes",
    "Point",
    "Resolution",
    "Responders",
    "Scope",
    "Significance",
    "answer_rates",
    "binned_recovery",
    "case_mix",
    "outcome_rows",
    "outcomes",
    "recovery",
    "resolution",
    "responders",
    "scope_for",
    "significance",
]
