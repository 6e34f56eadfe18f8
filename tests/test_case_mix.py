"""Case mix per modality against hand-computed values, on both databases."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Treatment
from server.services.analytics import CaseMix, Filters, Scope, case_mix
from server.services.analytics.case_mix import Characteristic
from tests.analytics_data import Cohort
from tests.factories import NOW, make_clinic, make_clinician

IMS_PAIN, DN_PAIN = [6, 7, 8, 5, 4], [3, 4, 5, 4, 4]


@pytest.fixture
def cohort(session: Session) -> Cohort:
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    for pain in IMS_PAIN:
        treatment = cohort.treatment("ims", regions=["lower_back"])
        cohort.answer(treatment, "baseline", pain=pain, soreness=2)
    for pain in DN_PAIN:
        treatment = cohort.treatment("dry_needling", regions=["neck", "shoulder"])
        cohort.answer(treatment, "baseline", pain=pain, soreness=pain - 2)
    return cohort


def scope_of(cohort: Cohort, **fields: object) -> Scope:
    return Scope(clinic_ids=(cohort.clinic.id,), **fields)  # type: ignore[arg-type]


def row(mix: CaseMix, code: str) -> Characteristic:
    return next(row for row in mix.characteristics if row.code == code)


def test_counts_patients_and_treatments_per_modality(cohort: Cohort) -> None:
    ims = cohort.session.scalars(select(Treatment).filter_by(modality="ims")).first()
    assert ims is not None
    cohort.treatment("ims", patient=ims.patient, regions=["lower_back"])  # one patient's second
    mix = case_mix(cohort.session, scope=scope_of(cohort))
    counts = [(m.modality, m.patients, m.treatments, m.suppressed) for m in mix.modalities]
    assert counts == [("ims", 5, 6, False), ("dry_needling", 5, 5, False)]


def test_baseline_mean_sd_and_pooled_sd_standardised_difference(cohort: Cohort) -> None:
    pain = row(case_mix(cohort.session, scope=scope_of(cohort)), "baseline_pain")
    ims, dn = pain.cells
    assert (pain.kind, ims.n, ims.mean, dn.mean) == ("continuous", 5, 6.0, 4.0)
    assert ims.sd == pytest.approx(statistics.stdev(IMS_PAIN))
    assert dn.sd == pytest.approx(statistics.stdev(DN_PAIN))
    (difference,) = pain.differences
    pooled = math.sqrt((statistics.variance(IMS_PAIN) + statistics.variance(DN_PAIN)) / 2)
    assert (difference.first, difference.second) == ("ims", "dry_needling")
    assert difference.smd == pytest.approx(2.0 / pooled)
    assert difference.is_imbalanced is True


def test_alike_modalities_are_not_flagged(cohort: Cohort) -> None:
    soreness = row(case_mix(cohort.session, scope=scope_of(cohort)), "baseline_soreness")
    # IMS all 2 (SD 0); DN 1, 2, 3, 2, 2: mean 2, so the difference is 0
    (difference,) = soreness.differences
    assert difference.smd == pytest.approx(0.0)
    assert difference.is_imbalanced is False


def test_repeat_and_days_since_the_patients_first_treatment_of_any_modality(
    cohort: Cohort,
) -> None:
    first = cohort.treatment("ims", treated_at=NOW - timedelta(days=17))
    for _ in range(2):  # the patient comes back twice, 7 days after the first, to another
        cohort.treatment("dry_needling", patient=first.patient, regions=["neck"])
    mix = case_mix(cohort.session, scope=scope_of(cohort))
    ims_repeat, dn_repeat = row(mix, "repeat").cells
    assert (ims_repeat.count, ims_repeat.n) == (0, 6)
    assert (dn_repeat.count, dn_repeat.n) == (2, 7)
    assert dn_repeat.mean == pytest.approx(2 / 7)
    smd = row(mix, "repeat").differences[0].smd
    assert smd == pytest.approx((0 - 2 / 7) / math.sqrt((2 / 7 * 5 / 7) / 2))
    _, dn_days = row(mix, "days_since_first").cells
    days = [0.0] * 5 + [7.0, 7.0]
    assert dn_days.mean == pytest.approx(statistics.mean(days))
    assert dn_days.sd == pytest.approx(statistics.stdev(days))


def test_regions_are_shares_of_treatments_and_only_those_treated_are_listed(
    cohort: Cohort,
) -> None:
    mix = case_mix(cohort.session, scope=scope_of(cohort))
    regions = {r.code: r for r in mix.characteristics if r.code.startswith("region:")}
    assert set(regions) == {"region:lower_back", "region:neck", "region:shoulder"}
    ims, dn = regions["region:neck"].cells
    assert (ims.count, ims.mean, dn.count, dn.mean) == (0, 0.0, 5, 1.0)
    (difference,) = regions["region:neck"].differences
    assert (difference.smd, difference.is_imbalanced) == (None, True)  # no overlap at all


def test_a_modality_of_fewer_than_five_patients_is_hidden_whole(cohort: Cohort) -> None:
    for _ in range(4):
        treatment = cohort.treatment("acupuncture", regions=["knee"])
        cohort.answer(treatment, "baseline", pain=2)
    mix = case_mix(cohort.session, scope=scope_of(cohort))
    acupuncture = mix.modalities[-1]
    assert (acupuncture.modality, acupuncture.suppressed) == ("acupuncture", True)
    assert (acupuncture.patients, acupuncture.treatments) == (None, None)
    assert "region:knee" not in {r.code for r in mix.characteristics}
    cell = row(mix, "baseline_pain").cells[-1]
    assert (cell.suppressed, cell.mean, cell.n) == (True, None, None)
    pairs = row(mix, "baseline_pain").differences
    assert [(d.first, d.second) for d in pairs] == [
        ("ims", "dry_needling"),
        ("ims", "acupuncture"),
        ("dry_needling", "acupuncture"),
    ]
    assert [(d.smd, d.is_imbalanced) for d in pairs[1:]] == [(None, False), (None, False)]


def test_a_baseline_answered_by_fewer_than_five_patients_is_hidden(cohort: Cohort) -> None:
    for _ in range(3):  # mobility asked of three IMS patients only
        treatment = cohort.treatment("ims", regions=["lower_back"])
        cohort.answer(treatment, "baseline", mobility=4)
    mobility = row(case_mix(cohort.session, scope=scope_of(cohort)), "baseline_mobility")
    ims, dn = mobility.cells
    assert (ims.suppressed, ims.mean) == (True, None)
    assert (dn.suppressed, dn.n, dn.mean) == (False, 0, None)  # none answered: shown as none


def test_filters_and_other_clinics_narrow_the_case_mix(cohort: Cohort) -> None:
    elsewhere = Cohort(cohort.session, make_clinic(cohort.session, name="Elsewhere"))
    for _ in range(5):
        elsewhere.treatment("ims", regions=["lower_back"])
    mix = case_mix(cohort.session, scope=scope_of(cohort, filters=Filters(region="neck")))
    assert [(m.modality, m.treatments) for m in mix.modalities] == [("dry_needling", 5)]
    assert row(mix, "baseline_pain").differences == []
