"""The modality comparisons as tidy CSV rows: the case mix (one row per characteristic and
modality, then one per characteristic and pair) and the tests (one row per test, each with its
effect size and interval beside its p-value)."""

from __future__ import annotations

from typing import Any

from server.charts.palette import MODALITY_LABELS
from server.services.analytics import CaseMix, Significance


def case_mix_rows(mix: CaseMix) -> list[dict[str, Any]]:
    """Counts, each modality's figure per characteristic, then each pair's difference."""
    rows: list[dict[str, Any]] = [
        {"characteristic": what, "label": what.capitalize(), "kind": "count"}
        | {"modality": count.modality, "count": getattr(count, what)}
        | {"suppressed": count.suppressed}
        for what in ("patients", "treatments")
        for count in mix.modalities
    ]
    for row in mix.characteristics:
        named = {"characteristic": row.code, "label": row.label, "kind": row.kind}
        rows += [
            named
            | {"modality": cell.modality, "n": cell.n, "count": cell.count, "mean": cell.mean}
            | {"sd": cell.sd, "suppressed": cell.suppressed}
            for cell in row.cells
        ]
        rows += [
            named
            | {"modality": pair.first, "compared_with": pair.second, "smd": pair.smd}
            | {"is_imbalanced": pair.is_imbalanced}
            for pair in row.differences
        ]
    return rows


def significance_rows(found: Significance) -> list[dict[str, Any]]:
    """One row per test: what is compared, the effect and its 95 % interval, then the test."""
    rows: list[dict[str, Any]] = []
    if (resolution := found.resolution) is not None:
        outcome = {"outcome": "time to soreness resolution"}
        rows.append(
            outcome
            | {"comparison": _all(resolution.modalities), "method": "log-rank"}
            | {"statistic": resolution.statistic, "df": resolution.df}
            | {"p_value": resolution.p_value}
        )
        rows += [
            outcome
            | {"comparison": _pair(pair.first, pair.second), "effect": "hazard ratio (Peto)"}
            | {"estimate": pair.hazard_ratio, "ci_low": pair.ci_low, "ci_high": pair.ci_high}
            | {"method": "log-rank", "statistic": pair.statistic, "df": 1}
            | {"p_value": pair.p_value, "p_holm": pair.p_holm}
            for pair in resolution.pairs
        ]
    if (responders := found.responders) is not None:
        outcome = {"outcome": "pain responders"}
        rows.append(
            outcome
            | {"comparison": _all(responders.modalities), "method": responders.method}
            | {"statistic": responders.statistic, "df": responders.df}
            | {"p_value": responders.p_value, "is_approximate": responders.is_approximate}
        )
        rows += [
            outcome
            | {"comparison": _pair(pair.first, pair.second)}
            | {"effect": "difference in proportions (Newcombe)", "estimate": pair.difference}
            | {"ci_low": pair.ci_low, "ci_high": pair.ci_high, "method": pair.method}
            | {"statistic": pair.statistic, "df": 1 if pair.statistic is not None else None}
            | {"p_value": pair.p_value, "p_holm": pair.p_holm}
            for pair in responders.pairs
        ]
    return rows


def _all(modalities: list[str]) -> str:
    return ", ".join(MODALITY_LABELS.get(modality, modality) for modality in modalities)


def _pair(first: str, second: str) -> str:
    return f"{MODALITY_LABELS.get(first, first)} vs {MODALITY_LABELS.get(second, second)}"
