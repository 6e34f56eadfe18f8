"""The adjusted comparison read from a clinic's answers, stored by the worker, read back fresh."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, fit_adjusted_comparisons
from server.models import Clinic, Treatment
from server.models.fits import AdjustedFit
from server.protocols import default_protocols
from server.services.adjusted.comparison import compare, shared_slots
from server.services.adjusted.store import refit_stale, stored
from server.services.analytics import Filters, Scope
from tests.analytics_data import Cohort
from tests.factories import NOW, make_clinic

INTERVAL = timedelta(minutes=5)
REGIONS = (["neck"], ["lower_back"], ["knee"])


def treated_cohort(session: Session, clinic: Clinic, *, per_modality: int = 22) -> Cohort:
    """Patients of three modalities with soreness, pain and mobility before, at 1 and 7 days;
    IMS patients start worse, and IMS adds 2 soreness points at 1 day."""
    rng = np.random.default_rng(5)
    cohort = Cohort(session, clinic)
    for name, worse in (("ims", 2), ("dry_needling", 0), ("acupuncture", -1)):
        for number in range(per_modality):
            treatment = cohort.treatment(name, regions=REGIONS[number % 3])
            before = {m: int(np.clip(5 + worse + rng.integers(-2, 3), 0, 10)) for m in MEASURES}
            cohort.answer(
                treatment,
                "baseline",
                soreness=before["soreness"],
                pain=before["pain"],
                mobility=before["mobility"],
            )
            extra = 2 if name == "ims" else 0
            soreness = int(np.clip(before["soreness"] - 2 + extra + rng.integers(-1, 2), 0, 10))
            cohort.answer(treatment, "24h", soreness=soreness, pain=before["pain"] - 1)
            cohort.answer(
                treatment,
                "7d",
                soreness=max(0, before["soreness"] - 3),
                pain=max(0, before["pain"] - 2 - number % 3),
                mobility=min(10, before["mobility"] + 1 + number % 2),
            )
    return cohort


MEASURES = ("soreness", "pain", "mobility")


def test_shared_time_points_come_from_the_protocols() -> None:
    protocols = default_protocols()
    assert shared_slots(protocols, "soreness") == ["24h", "7d"]
    assert shared_slots(protocols, "pain") == ["24h", "7d"]
    assert shared_slots(protocols, "mobility") == ["7d"]
    without_ims = {name: p for name, p in protocols.items() if name != "ims"}
    assert shared_slots(without_ims, "mobility") == ["72h", "7d"]


def test_comparison_reports_each_modality_against_the_reference(session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic)

    comparison = compare(session, scope=Scope((clinic.id,)))

    soreness, pain, mobility = comparison.measures
    assert comparison.reference == "ims"  # most patients; ties go to the protocols' order
    assert (soreness.slots, pain.slots, mobility.slots) == (["24h", "7d"], ["24h", "7d"], ["7d"])
    assert (soreness.n, soreness.patients) == (2 * 66, 66)
    assert {(d.modality, d.slot) for d in soreness.differences} == {
        (name, slot) for name in ("dry_needling", "acupuncture") for slot in ("24h", "7d")
    }
    assert "region: Lower back" in soreness.adjusted_for
    assert all(d.patients == 22 and not d.too_few for d in soreness.differences)
    at_1_day = next(
        d for d in soreness.differences if d.modality == "dry_needling" and d.slot == "24h"
    )
    assert at_1_day.estimate is not None
    assert at_1_day.ci_low is not None
    assert at_1_day.ci_high is not None
    assert at_1_day.ci_low < -2 < at_1_day.ci_high  # dry needling is 2 below IMS, adjusted
    assert comparison.answers_up_to == NOW - timedelta(days=10) + timedelta(hours=168)


def test_modalities_with_fewer_than_20_patients_are_flagged_too_few(session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=12)

    comparison = compare(session, scope=Scope((clinic.id,)))

    assert all(d.too_few for m in comparison.measures for d in m.differences)
    assert all(d.estimate is not None for m in comparison.measures for d in m.differences)


def test_a_page_asks_for_a_fit_and_the_worker_makes_it(session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=6)
    scope = Scope((clinic.id,), Filters(region="neck"))

    waiting = stored(session, scope=scope, now=NOW, refit_within=INTERVAL)
    session.commit()
    fitted = refit_stale(session, now=NOW)
    shown = stored(session, scope=scope, now=NOW, refit_within=INTERVAL)

    assert waiting.comparison is None
    assert fitted == 2  # the page's scope and the clinic's unfiltered one
    assert shown.comparison is not None
    assert shown.is_current
    assert shown.fitted_at == NOW
    assert shown.comparison.measures[0].patients == 3 * 2  # only the neck's patients


def test_new_answers_make_the_fit_stale_until_the_worker_fits_again(session: Session) -> None:
    clinic = make_clinic(session)
    cohort = treated_cohort(session, clinic, per_modality=6)
    scope = Scope((clinic.id,))
    refit_stale(session, now=NOW)
    assert refit_stale(session, now=NOW + INTERVAL) == 0  # nothing changed: nothing fitted

    treatment = cohort.treatment("acupuncture")
    cohort.answer(treatment, "baseline", soreness=3, pain=4, mobility=5)
    session.commit()
    stale = stored(session, scope=scope, now=NOW, refit_within=INTERVAL)
    refitted = refit_stale(session, now=NOW + 2 * INTERVAL)
    fresh = stored(session, scope=scope, now=NOW, refit_within=INTERVAL)

    assert not stale.is_current
    assert stale.comparison is not None  # the last fit is still shown, said to be older
    assert refitted == 1
    assert fresh.is_current
    assert fresh.fitted_at == NOW + 2 * INTERVAL


def test_a_filtered_scope_nobody_asked_for_in_30_days_is_dropped(session: Session) -> None:
    clinic = make_clinic(session)
    stored(
        session, scope=Scope((clinic.id,), Filters(course="first")), now=NOW, refit_within=INTERVAL
    )
    session.commit()

    refit_stale(session, now=NOW + timedelta(days=31))

    keys = session.scalars(select(AdjustedFit.filters)).all()
    assert keys == [{}]  # the clinic's unfiltered scope stays


def test_worker_job_fits_every_clinic(worker: Worker, session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=6)
    session.commit()

    assert fit_adjusted_comparisons(worker, NOW) == 1
    assert fit_adjusted_comparisons(worker, NOW) == 0


def test_dose_is_adjusted_for_only_where_recorded_for_most_sessions(session: Session) -> None:
    clinic = make_clinic(session)
    treated_cohort(session, clinic, per_modality=6)
    treatments = session.scalars(select(Treatment).order_by(Treatment.id)).all()
    for number, treatment in enumerate(treatments):
        treatment.needle_sites = 2 + number % 5  # every session
        if number < 4:
            treatment.retention_minutes = 20.0  # a few sessions only
    session.flush()

    soreness = compare(session, scope=Scope((clinic.id,))).measures[0]

    assert "needle sites" in soreness.adjusted_for
    assert "needle retention (minutes) (recorded for 22% of the answers; 90% needed)" in (
        soreness.left_out
    )
