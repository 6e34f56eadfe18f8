"""The adjusted comparison's two models, on plain arrays (no database, no pandas):

- a linear mixed model of a 0-10 measure at the time points the modalities share, on
  modality x time point, adjusted for the measure's baseline (per time point) and the given
  covariates, with a random intercept per patient (REML: the model statsmodels' ``MixedLM``
  fits, solved in closed form per patient by ``reml.py``, thousands of times faster);
- a logistic GEE of pain responders (one row per treatment), clustered by patient with an
  exchangeable working correlation, adjusted the same way.

Each modality is compared with a reference modality: a difference in points (mixed model) or
an odds ratio (GEE), with its Wald 95 % interval. A covariate that is constant, or that adds
nothing the others and the modalities do not already say (collinear), is left out and named.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from server.services.adjusted.reml import fit_random_intercept
from server.services.statistics import Z_95

Floats = NDArray[np.float64]
# a log odds ratio beyond this (an odds ratio above ~22,000) is no effect a treatment has: the
# responders are separated perfectly by some term (a region whose sessions all responded), so
# the likelihood has no maximum and the optimiser stopped at an arbitrary point
MAX_LOG_ODDS = 10.0
SEPARATED = "responders are separated perfectly by a term of the model: no finite odds"


@dataclass(frozen=True)
class MeasureRows:
    """One measure's answers at the shared time points: one element per answer."""

    value: Sequence[float]
    baseline: Sequence[float]
    modality: Sequence[str]
    slot: Sequence[str]
    patient: Sequence[int]
    covariates: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponderRows:
    """Treatments judged as pain responders or not: one element per treatment."""

    responder: Sequence[bool]
    baseline: Sequence[float]
    modality: Sequence[str]
    patient: Sequence[int]
    covariates: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """A modality against the reference at one time point (``slot`` None: responders)."""

    modality: str
    slot: str | None
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Fit:
    """What one model says: the estimates, what it read, and whether it converged."""

    estimates: list[Estimate]
    n: int
    patients: int
    converged: bool
    adjusted_for: list[str]  # covariates in the model, beside modality, time point, baseline
    left_out: list[str]  # covariates given but left out as collinear (constant ones: silently)
    note: str | None = None  # why it did not converge or could not be fitted


def fit_measure(rows: MeasureRows, *, reference: str, slots: Sequence[str]) -> Fit:
    """Mixed model of a measure: the adjusted difference of each modality from ``reference``
    at each of ``slots`` (points on the measure's scale), random intercept per patient."""
    value = np.asarray(rows.value, dtype=float)
    modality = np.asarray(rows.modality, dtype=object)
    slot = np.asarray(rows.slot, dtype=object)
    baseline = np.asarray(rows.baseline, dtype=float)
    centred = baseline - baseline.mean() if baseline.size else baseline
    columns: dict[str, Floats] = {"intercept": np.ones(value.size)}
    for at in slots[1:]:
        columns[f"slot {at}"] = (slot == at).astype(float)
    for at in slots:  # the baseline's weight may differ between 1 day and 7 days
        columns[f"baseline at {at}"] = centred * (slot == at)
    others = [name for name in dict.fromkeys(rows.modality) if name != reference]
    effects = [(name, at) for name in others for at in slots]
    for name, at in effects:
        columns[f"{name} at {at}"] = ((modality == name) & (slot == at)).astype(float)
    design, adjusted_for, left_out = _with_covariates(columns, rows.covariates)
    patients = np.asarray(rows.patient, dtype=np.int64)
    n, groups = int(value.size), int(np.unique(patients).size)
    if not effects or n <= design.shape[1]:
        return Fit([], n, groups, False, adjusted_for, left_out, "too few answers to fit")
    try:
        result = fit_random_intercept(value, design, patients)
    except np.linalg.LinAlgError as error:
        return Fit([], n, groups, False, adjusted_for, left_out, f"not fitted: {error}")
    variances = np.diag(result.cov)
    if not np.all(np.isfinite(variances) & (variances > 0)):  # nearly singular: too little data
        return Fit([], n, groups, False, adjusted_for, left_out, "too few answers to fit")
    first = design.shape[1] - len(effects)
    errors = np.sqrt(variances)
    estimates = [
        _wald(name, at, float(result.params[first + i]), float(errors[first + i]))
        for i, (name, at) in enumerate(effects)
    ]
    note = None if result.converged else "the optimiser did not converge"
    return Fit(estimates, n, groups, result.converged, adjusted_for, left_out, note)


def fit_responders(rows: ResponderRows, *, reference: str) -> Fit:
    """Logistic GEE of pain responders: each modality's adjusted odds ratio against
    ``reference`` (robust standard errors, exchangeable correlation within a patient)."""
    outcome = np.asarray(rows.responder, dtype=float)
    modality = np.asarray(rows.modality, dtype=object)
    baseline = np.asarray(rows.baseline, dtype=float)
    columns: dict[str, Floats] = {
        "intercept": np.ones(outcome.size),
        "baseline": baseline - baseline.mean() if baseline.size else baseline,
    }
    others = [name for name in dict.fromkeys(rows.modality) if name != reference]
    for name in others:
        columns[name] = (modality == name).astype(float)
    design, adjusted_for, left_out = _with_covariates(columns, rows.covariates)
    patients = np.asarray(rows.patient)
    n, groups = int(outcome.size), int(np.unique(patients).size)
    if not others or n <= design.shape[1] or outcome.min(initial=0) == outcome.max(initial=0):
        return Fit([], n, groups, False, adjusted_for, left_out, "too few responders to fit")
    # imported here, not at the top: only the worker fits, and statsmodels (with pandas) takes
    # seconds and about 100 MB to import, which every web process would otherwise pay
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    model = sm.GEE(
        outcome,
        design,
        groups=patients,
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(maxiter=100)
            params, variances = np.asarray(result.params), np.diag(result.cov_robust)
        except (np.linalg.LinAlgError, ValueError) as error:
            return Fit([], n, groups, False, adjusted_for, left_out, f"not fitted: {error}")
    if not np.all(np.isfinite(variances) & (variances > 0)):  # e.g. a modality all responders
        return Fit([], n, groups, False, adjusted_for, left_out, "too few responders to fit")
    if np.any(np.abs(params) > MAX_LOG_ODDS):
        return Fit([], n, groups, False, adjusted_for, left_out, SEPARATED)
    first = design.shape[1] - len(others)
    estimates = []
    for i, name in enumerate(others):
        log_odds = _wald(name, None, float(params[first + i]), math.sqrt(variances[first + i]))
        estimates.append(
            Estimate(
                name,
                None,
                _exp(log_odds.estimate),
                _exp(log_odds.ci_low),
                _exp(log_odds.ci_high),
            )
        )
    converged, note = _convergence(
        bool(getattr(result, "converged", True)), caught, ConvergenceWarning
    )
    return Fit(estimates, n, groups, converged, adjusted_for, left_out, note)


def _with_covariates(
    columns: dict[str, Floats], covariates: Mapping[str, Sequence[float]]
) -> tuple[Floats, list[str], list[str]]:
    """The design matrix: ``columns`` kept whole (the modality effects last), with each
    covariate that varies and adds rank; returns it with the names kept and those left out
    as collinear (a constant covariate is dropped without a word: it says nothing)."""
    core = list(columns.values())
    kept: list[Floats] = []
    adjusted_for, left_out = [], []
    rank = _rank(core)
    for name, values in covariates.items():
        column = np.asarray(values, dtype=float)
        if column.size == 0 or np.all(column == column[0]):
            continue  # the same for everyone: nothing to adjust for, nothing to say
        with_it = _rank([*kept, column, *core])
        if with_it > rank + len(kept):
            kept.append(column)
            adjusted_for.append(name)
        else:
            left_out.append(name)
    names = list(columns)
    # the intercept, the covariates, then the core's own columns: the modality effects last
    design = np.column_stack([columns[names[0]], *kept, *(columns[n] for n in names[1:])])
    return design, adjusted_for, left_out


def _rank(columns: Sequence[Floats]) -> int:
    """The rank of the matrix of these columns, each scaled to unit length first."""
    if not columns:
        return 0
    matrix = np.column_stack(columns)
    norms = np.linalg.norm(matrix, axis=0)
    matrix = matrix / np.where(norms > 0, norms, 1.0)
    return int(np.linalg.matrix_rank(matrix.T @ matrix, tol=1e-8))


def _wald(modality: str, slot: str | None, estimate: float, se: float) -> Estimate:
    half = Z_95 * se
    return Estimate(modality, slot, estimate, estimate - half, estimate + half)


def _exp(log_value: float) -> float:
    return math.exp(min(log_value, 700.0))  # an odds ratio beyond e^700 is "infinite" anyway


def _convergence(
    converged: bool, caught: list[warnings.WarningMessage], convergence: type[Warning]
) -> tuple[bool, str | None]:
    """Whether a fit converged, and if not, the optimiser's own words."""
    troubles = [
        str(w.message).splitlines()[0]
        for w in caught
        if issubclass(w.category, convergence | RuntimeWarning)
    ]
    if converged and not troubles:
        return True, None
    return False, "; ".join(dict.fromkeys(troubles)) or "the optimiser did not converge"
