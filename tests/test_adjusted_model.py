"""The adjusted comparison's models on simulated data with a known modality effect.

The simulation: IMS adds +2 pain points at 1 day and nothing at 7 days. IMS patients also start
with more pain (the baseline differs between groups), and pain after needling follows the
baseline, so the raw difference at 1 day mixes the effect with who got IMS. The mixed model,
adjusted for the baseline, must find the truth: its 95 % interval covers +2 in at least 90 of
100 seeded simulations and excludes 0 in at least 80 of them (printed: run with -s to see).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from server.services.adjusted.model import (
    SEPARATED,
    MeasureRows,
    ResponderRows,
    fit_measure,
    fit_responders,
)
from server.services.adjusted.reml import fit_random_intercept

TRUE_EFFECT = 2.0  # pain points, IMS against dry needling, at 1 day
SLOTS = ("24h", "7d")
# mean baseline pain per modality: IMS goes to worse pain (the confounding)
BASELINE_PAIN = {"ims": 6.5, "dry_needling": 4.5, "acupuncture": 4.0}
PATIENTS_PER_MODALITY = 30


def simulated_pain(seed: int) -> MeasureRows:
    """Pain at 1 and 7 days after needling: baseline-driven, +2 for IMS at 1 day; a third of
    the patients treated twice (a repeat treatment, clustered in the patient)."""
    rng = np.random.default_rng(seed)
    value: list[float] = []
    baseline: list[float] = []
    modality: list[str] = []
    slot: list[str] = []
    patient: list[int] = []
    repeat: list[float] = []
    for name, mean in BASELINE_PAIN.items():
        for number in range(PATIENTS_PER_MODALITY):
            person = len(set(patient)) + 1
            level = rng.normal(0, 0.8)  # the patient's own level (random intercept)
            for treatment in range(1 + (number % 3 == 0)):
                before = float(np.clip(np.round(rng.normal(mean, 1.2)), 0, 10))
                for at in SLOTS:
                    effect = TRUE_EFFECT if (name == "ims" and at == "24h") else 0.0
                    drop = 1.0 if at == "24h" else 2.0
                    after = 0.8 * before - drop + level + effect + rng.normal(0, 1.0)
                    value.append(float(np.clip(np.round(after), 0, 10)))
                    baseline.append(before)
                    modality.append(name)
                    slot.append(at)
                    patient.append(person)
                    repeat.append(float(treatment > 0))
    return MeasureRows(value, baseline, modality, slot, patient, {"repeat treatment": repeat})


def raw_difference(rows: MeasureRows, at: str) -> float:
    """Mean pain of IMS minus dry needling at one time point, unadjusted."""
    values = np.asarray(rows.value)
    modality, slot = np.asarray(rows.modality), np.asarray(rows.slot)
    ims = values[(modality == "ims") & (slot == at)].mean()
    dry = values[(modality == "dry_needling") & (slot == at)].mean()
    return float(ims - dry)


def test_adjusted_interval_covers_the_true_effect_the_raw_difference_misses() -> None:
    covered = excludes_zero = converged = 0
    raw, adjusted = [], []
    for seed in range(100):
        rows = simulated_pain(seed)
        fit = fit_measure(rows, reference="dry_needling", slots=SLOTS)
        converged += fit.converged
        ims = next(e for e in fit.estimates if e.modality == "ims" and e.slot == "24h")
        covered += ims.ci_low <= TRUE_EFFECT <= ims.ci_high
        excludes_zero += ims.ci_low > 0
        raw.append(raw_difference(rows, "24h"))
        adjusted.append(ims.estimate)
    print(  # noqa: T201 - the issue asks for coverage and power printed
        f"\nIMS vs dry needling at 1 day, true +{TRUE_EFFECT}: raw mean {np.mean(raw):+.2f}, "
        f"adjusted mean {np.mean(adjusted):+.2f}; 95 % CI covered the truth in {covered}/100 "
        f"(coverage), excluded 0 in {excludes_zero}/100 (power); converged {converged}/100"
    )
    assert np.mean(raw) > TRUE_EFFECT + 1.0  # the raw difference is biased by the baseline
    assert abs(np.mean(adjusted) - TRUE_EFFECT) < 0.2
    assert covered >= 90
    assert excludes_zero >= 80


def test_no_effect_at_7_days_is_found_as_none() -> None:
    fit = fit_measure(simulated_pain(7), reference="dry_needling", slots=SLOTS)
    ims = next(e for e in fit.estimates if e.modality == "ims" and e.slot == "7d")
    assert ims.ci_low < 0 < ims.ci_high


def test_fit_reports_its_size_and_what_it_adjusted_for() -> None:
    rows = simulated_pain(1)
    fit = fit_measure(rows, reference="dry_needling", slots=SLOTS)
    assert fit.n == len(rows.value)
    assert fit.patients == 3 * PATIENTS_PER_MODALITY
    assert fit.adjusted_for == ["repeat treatment"]
    assert {(e.modality, e.slot) for e in fit.estimates} == {
        (name, at) for name in ("ims", "acupuncture") for at in SLOTS
    }


def test_a_collinear_covariate_is_left_out_and_named_a_constant_one_dropped() -> None:
    rows = simulated_pain(2)
    ims = [float(name == "ims") for name in rows.modality]  # says nothing beyond the modality
    covariates = {"same everywhere": [1.0] * len(rows.value), "needled like IMS": ims}
    fit = fit_measure(
        MeasureRows(rows.value, rows.baseline, rows.modality, rows.slot, rows.patient, covariates),
        reference="dry_needling",
        slots=SLOTS,
    )
    assert fit.left_out == ["needled like IMS"]
    assert fit.adjusted_for == []
    assert len(fit.estimates) == 4


def test_too_few_answers_are_not_fitted_and_say_so() -> None:
    rows = MeasureRows([3.0, 4.0], [5.0, 5.0], ["ims", "dry_needling"], ["24h", "24h"], [1, 2])
    fit = fit_measure(rows, reference="dry_needling", slots=("24h",))
    assert fit.estimates == []
    assert not fit.converged
    assert fit.note == "too few answers to fit"


def test_responders_odds_ratio_finds_a_modality_that_responds_more() -> None:
    rng = np.random.default_rng(3)
    responder: list[bool] = []
    baseline: list[float] = []
    modality: list[str] = []
    patient: list[int] = []
    for person in range(300):
        name = ("ims", "dry_needling", "acupuncture")[person % 3]
        before = float(rng.integers(3, 9))
        # log-odds: IMS +1.2 (odds ratio about 3.3) over the others, more pain more response
        log_odds = -0.5 + 1.2 * (name == "ims") + 0.2 * (before - 5)
        responder.append(bool(rng.random() < 1 / (1 + np.exp(-log_odds))))
        baseline.append(before)
        modality.append(name)
        patient.append(person // 2)  # two treatments per patient
    fit = fit_responders(
        ResponderRows(responder, baseline, modality, patient), reference="dry_needling"
    )
    ims = next(e for e in fit.estimates if e.modality == "ims")
    assert fit.converged
    assert fit.patients == 150
    assert ims.ci_low > 1
    assert ims.ci_low < np.exp(1.2) < ims.ci_high


def test_responders_separated_by_a_region_give_no_odds_rather_than_absurd_ones() -> None:
    # every session in the neck responded and none elsewhere: the region's odds are infinite,
    # and the optimiser stops at some huge odds ratio the page would print (550,921,886)
    rng = np.random.default_rng(4)
    neck = [float(person % 2 == 0) for person in range(60)]
    fit = fit_responders(
        ResponderRows(
            responder=[bool(region) for region in neck],
            baseline=[float(rng.integers(4, 9)) for _ in neck],
            modality=[
                ("ims", "dry_needling", "acupuncture")[person % 3 - 1] for person in range(60)
            ],
            patient=list(range(60)),
            covariates={"region: Neck": neck},
        ),
        reference="dry_needling",
    )

    assert fit.estimates == []
    assert fit.note == SEPARATED


def test_closed_form_reml_matches_statsmodels_mixedlm() -> None:
    rows = simulated_pain(11)
    y = np.asarray(rows.value)
    x = np.column_stack(
        [np.ones(y.size), np.asarray(rows.baseline), np.asarray(rows.modality) == "ims"]
    ).astype(float)
    groups = np.asarray(rows.patient, dtype=np.int64)

    ours = fit_random_intercept(y, x, groups)
    theirs = sm.MixedLM(y, x, groups=groups).fit(reml=True)

    assert np.allclose(ours.params, theirs.fe_params, atol=1e-4)
    # standard errors: ours are nlme's and lme4's, s2 (X'V^-1 X)^-1; MixedLM's come from the
    # Hessian of the whole restricted likelihood and run about 1 % wider
    assert np.allclose(np.sqrt(np.diag(ours.cov)), theirs.bse_fe, rtol=0.03)
    assert ours.residual_var == pytest.approx(theirs.scale, rel=1e-3)
    assert ours.patient_var == pytest.approx(float(theirs.cov_re[0][0]), rel=1e-2, abs=1e-4)
