"""The adjusted comparison of one scope: its rows read in SQL, the models fitted, the result typed.

What is compared: each modality against a reference modality (the one with most patients), at
the time points every modality's protocol asks the measure at (derived from the protocols in
force, not written here), adjusted for the measure's baseline, the regions treated (one group
per region of ``regions.toml``), first or repeat treatment, and the dose where recorded.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import Session, aliased

from server.models import Answer, Treatment, TreatmentOutcome
from server.protocols import Protocol, default_protocols, regions
from server.services.adjusted.model import (
    Fit,
    MeasureRows,
    ResponderRows,
    fit_measure,
    fit_responders,
)
from server.services.analytics.scope import BASELINE, Scope, aggregates

MEASURES = ("soreness", "pain", "mobility")
# fewer patients than this in a modality: its estimates are shown greyed, with the reason
MIN_PATIENTS = 20
REPEAT = "repeat treatment"
REGION = "region: "
# the dose fields (migration 0021), each optional, in the page's words
DOSE = {
    "needle_sites": "needle sites",
    "retention_minutes": "needle retention (minutes)",
    "needle_diameter_mm": "needle diameter (mm)",
}
# a dose field joins the adjustment when recorded for at least this share of the model's rows
# (those without it are then left out); below, the model goes without it and says so
DOSE_RECORDED_SHARE = 0.9
# a region joins the adjustment when at least this many rows were treated there: fewer would
# give an estimate of its own from a handful of sessions (and, for responders, often none)
MIN_REGION_ROWS = 10


@dataclass(frozen=True)
class Difference:
    """One modality against the reference: at a time point, a difference in points (pain,
    soreness, mobility) or, for responders (``slot`` None), an odds ratio."""

    modality: str
    slot: str | None
    estimate: float | None  # None: too few patients to show at all
    ci_low: float | None
    ci_high: float | None
    patients: int
    too_few: bool  # fewer than MIN_PATIENTS: shown greyed


@dataclass(frozen=True)
class MeasureModel:
    """One model's figures: a measure's mixed model, or the responders' GEE."""

    measure: str  # soreness | pain | mobility | responders
    slots: list[str]  # the shared time points it reports (empty for responders)
    reference: str
    reference_patients: int
    n: int  # answers (treatments, for responders) the model read
    patients: int
    converged: bool
    note: str | None
    adjusted_for: list[str]
    left_out: list[str]
    differences: list[Difference]


@dataclass(frozen=True)
class Comparison:
    """The adjusted comparison of one scope: a model per measure, then the responders'."""

    reference: str | None
    measures: list[MeasureModel]
    responders: MeasureModel | None
    answers_up_to: datetime | None


def shared_slots(protocols: Mapping[str, Protocol], measure: str) -> list[str]:
    """The time points at which every modality's protocol asks ``measure``, in time order."""
    asked = [
        {
            point.slot: point.offset_h
            for point in protocol.timepoints
            if point.enabled and measure in point.items
        }
        for protocol in protocols.values()
    ]
    if not asked:
        return []
    common = set.intersection(*(set(slots) for slots in asked))
    return sorted(common, key=lambda slot: asked[0][slot])


def compare(session: Session, *, scope: Scope) -> Comparison:
    """Fit the adjusted comparison of ``scope`` (seconds on a large clinic: the worker's job)."""
    protocols = scope.protocols or default_protocols()
    slots = {measure: shared_slots(protocols, measure) for measure in MEASURES}
    wanted = sorted({slot for measure_slots in slots.values() for slot in measure_slots})
    rows = aggregates(session, _answers_query(scope, tuple(wanted))) if wanted else []
    responders = aggregates(session, _responders_query(scope))
    patients: dict[str, set[int]] = defaultdict(set)
    for row in (*rows, *responders):
        patients[row.modality].add(row.patient_id)
    if not patients:
        return Comparison(None, [], None, None)
    reference = max(patients, key=lambda name: (len(patients[name]), -list(protocols).index(name)))
    models = [
        _measure_model(
            measure,
            slots[measure],
            [row for row in rows if row.item_code == measure],
            reference,
            scope.min_patients,
        )
        for measure in MEASURES
    ]
    return Comparison(
        reference=reference,
        measures=models,
        responders=(
            _responders_model(responders, reference, scope.min_patients) if responders else None
        ),
        answers_up_to=max(
            (r.treated_at + timedelta(hours=r.elapsed_hours) for r in rows), default=None
        ),
    )


def _measure_model(
    measure: str, slots: list[str], rows: Sequence[Any], reference: str, min_patients: int
) -> MeasureModel:
    usable, dose, unused = _with_dose([row for row in rows if row.slot in slots])
    covariates = _covariates(usable, dose)
    fit = fit_measure(
        MeasureRows(
            value=[float(r.value) for r in usable],
            baseline=[float(r.baseline) for r in usable],
            modality=[r.modality for r in usable],
            slot=[r.slot for r in usable],
            patient=[r.patient_id for r in usable],
            covariates=covariates,
        ),
        reference=reference,
        slots=slots,
    )
    return _model(measure, slots, reference, fit, usable, min_patients, unused)


def _responders_model(rows: Sequence[Any], reference: str, min_patients: int) -> MeasureModel:
    """The responders' GEE; if it cannot be estimated with the region groups (a region whose
    sessions all responded, or none did, has no finite odds), again without them, and said."""
    rows, dose, unused = _with_dose(rows)
    covariates = _covariates(rows, dose)

    def fit(chosen: dict[str, list[float]]) -> Fit:
        return fit_responders(
            ResponderRows(
                responder=[bool(r.responder) for r in rows],
                baseline=[float(r.baseline) for r in rows],
                modality=[r.modality for r in rows],
                patient=[r.patient_id for r in rows],
                covariates=chosen,
            ),
            reference=reference,
        )

    fitted = fit(covariates)
    regions_of = [name for name in covariates if name.startswith(REGION)]
    if not fitted.estimates and regions_of:
        fitted = fit({k: v for k, v in covariates.items() if k not in regions_of})
        unused = [*unused, "the regions treated (the model could not be estimated with them)"]
    return _model("responders", [], reference, fitted, rows, min_patients, unused)


def _model(
    measure: str,
    slots: list[str],
    reference: str,
    fit: Fit,
    rows: Sequence[Any],
    min_patients: int,
    dose_unused: list[str],
) -> MeasureModel:
    """The fit's estimates, each with its modality's patients: fewer than MIN_PATIENTS (in
    the modality or the reference) greyed, fewer than the suppression threshold hidden."""
    patients: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        patients[row.modality].add(row.patient_id)
    count = {name: len(people) for name, people in patients.items()}
    differences = []
    for e in fit.estimates:
        fewest = min(count.get(e.modality, 0), count.get(reference, 0))
        shown = fewest >= min_patients  # below the page's suppression threshold: no figures
        differences.append(
            Difference(
                modality=e.modality,
                slot=e.slot,
                estimate=e.estimate if shown else None,
                ci_low=e.ci_low if shown else None,
                ci_high=e.ci_high if shown else None,
                patients=count.get(e.modality, 0),
                too_few=fewest < MIN_PATIENTS,
            )
        )
    return MeasureModel(
        measure=measure,
        slots=slots,
        reference=reference,
        reference_patients=count.get(reference, 0),
        n=fit.n,
        patients=fit.patients,
        converged=fit.converged,
        note=fit.note,
        adjusted_for=fit.adjusted_for,
        left_out=[*fit.left_out, *dose_unused],
        differences=differences,
    )


def _with_dose(rows: Sequence[Any]) -> tuple[list[Any], list[str], list[str]]:
    """The rows to fit, the dose fields recorded often enough to adjust for (the rows lacking
    one are left out), and why each other dose field is not adjusted for."""
    used, unused = [], []
    for column, words in DOSE.items():
        recorded = sum(getattr(row, column) is not None for row in rows)
        if rows and recorded >= DOSE_RECORDED_SHARE * len(rows):
            used.append(column)
        elif recorded:
            share = math.floor(100 * recorded / len(rows))
            needed = round(100 * DOSE_RECORDED_SHARE)
            unused.append(f"{words} (recorded for {share}% of the answers; {needed}% needed)")
    kept = [row for row in rows if all(getattr(row, column) is not None for column in used)]
    return kept, used, unused


def _covariates(rows: Sequence[Any], dose: Iterable[str]) -> dict[str, list[float]]:
    """Region groups (one per region treated in at least MIN_REGION_ROWS rows: treated there
    or not), repeat treatment and the dose fields given, per row."""
    covariates: dict[str, list[float]] = {}
    for code, region in regions().items():
        treated_there = [float(code in (r.regions or ())) for r in rows]
        if sum(treated_there) >= MIN_REGION_ROWS:
            covariates[f"{REGION}{region.label}"] = treated_there
    covariates[REPEAT] = [float(bool(r.is_repeat)) for r in rows]
    for column in dose:
        covariates[DOSE[column]] = [float(getattr(r, column)) for r in rows]
    return covariates


DOSE_COLUMNS = (Treatment.needle_sites, Treatment.retention_minutes, Treatment.needle_diameter_mm)


def _is_repeat() -> Any:
    earlier = aliased(Treatment)
    return exists().where(
        earlier.patient_id == Treatment.patient_id, earlier.treated_at < Treatment.treated_at
    )


def _answers_query(scope: Scope, slots: Iterable[str]) -> Select[Any]:
    """Each answer of the measures at the shared time points, with its treatment's baseline
    answer of the same item (none: left out), patient, regions and first-or-repeat."""
    after, before = aliased(Answer), aliased(Answer)
    return (
        select(
            after.item_code,
            after.slot,
            after.value_num.label("value"),
            before.value_num.label("baseline"),
            after.elapsed_hours,
            Treatment.modality,
            Treatment.patient_id,
            Treatment.treated_at,
            Treatment.regions,
            _is_repeat().label("is_repeat"),
            *DOSE_COLUMNS,
        )
        .select_from(Treatment)
        .join(after, after.treatment_id == Treatment.id)
        .join(
            before,
            and_(
                before.treatment_id == Treatment.id,
                before.item_code == after.item_code,
                before.slot == BASELINE,
            ),
        )
        .where(
            *scope.where(),
            after.item_code.in_(MEASURES),
            after.slot.in_(tuple(slots)),
            after.value_num.is_not(None),
            before.value_num.is_not(None),
        )
    )


def _responders_query(scope: Scope) -> Select[Any]:
    """Each treatment judged a pain responder or not (CLINICAL.md §5), with its baseline pain."""
    return (
        select(
            TreatmentOutcome.responder,
            TreatmentOutcome.pain_before.label("baseline"),
            Treatment.modality,
            Treatment.patient_id,
            Treatment.regions,
            _is_repeat().label("is_repeat"),
            *DOSE_COLUMNS,
        )
        .join(TreatmentOutcome, TreatmentOutcome.treatment_id == Treatment.id)
        .where(*scope.where(), TreatmentOutcome.responder.is_not(None))
    )
