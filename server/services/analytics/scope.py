"""Who and what the analytics count: filters, scope, series groups, and the cells they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, ParamSpec

from sqlalchemy import Row, Select, String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.errors import Forbidden, InvalidInput
from server.models import Answer, CheckIn, Clinic, Clinician, Treatment
from server.models.treatments import OPEN_STATUSES
from server.protocols import Protocol, default_protocols, regions
from server.services.protocols import clinic_protocols
from server.services.statistics import summarise

BASELINE = "baseline"
GROUPINGS = ("modality", "clinician", "clinic")
# hours-since-treatment bins for curves on actual elapsed time (edges in hours)
BIN_EDGES = (0.0, 3.0, 8.0, 16.0, 30.0, 54.0, 84.0, 132.0, 192.0, 240.0)


@dataclass(frozen=True)
class Filters:
    """Which treatments count: treated between two dates (inclusive, UTC), by a clinician,
    in a region, and first or repeat treatments of the patient."""

    date_from: date | None = None
    date_to: date | None = None
    clinician_id: int | None = None
    region: str | None = None
    course: str | None = None  # "first" | "repeat"

    def clauses(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses on ``Treatment`` these filters ask for."""
        clauses: list[ColumnElement[bool]] = []
        if self.date_from is not None:
            clauses.append(Treatment.treated_at >= _midnight(self.date_from))
        if self.date_to is not None:
            clauses.append(Treatment.treated_at < _midnight(self.date_to + timedelta(days=1)))
        if self.clinician_id is not None:
            clauses.append(Treatment.clinician_id == self.clinician_id)
        if self.region is not None:
            # regions is a JSON list of vocabulary codes (checked by the caller): match "code"
            clauses.append(cast(Treatment.regions, String).contains(f'"{self.region}"'))
        if self.course is not None:
            earlier = aliased(Treatment)
            has_earlier = exists().where(
                earlier.patient_id == Treatment.patient_id,
                earlier.treated_at < Treatment.treated_at,
            )
            clauses.append(has_earlier if self.course == "repeat" else ~has_earlier)
        return clauses


@dataclass(frozen=True)
class Scope:
    """Whose treatments: the clinics in view, the filters, and how series are split."""

    clinic_ids: tuple[int, ...]
    filters: Filters = field(default_factory=Filters)
    by: str = "modality"  # also split by "clinician" or "clinic"
    min_patients: int = 5
    # the time points in force (a clinic's own); None: the defaults (several clinics in view).
    # Left out of equality and hashing: they decide no SQL (see ``built_once``)
    protocols: dict[str, Protocol] | None = field(default=None, compare=False)

    def group_column(self) -> ColumnElement[Any]:
        """The column that splits series beside the modality (a constant when by modality)."""
        if self.by == "clinician":
            return Treatment.clinician_id.expression
        if self.by == "clinic":
            return Treatment.clinic_id.expression
        return literal(None)

    def where(self) -> list[ColumnElement[bool]]:
        """Every WHERE clause on ``Treatment``: the clinics, then the filters."""
        return [Treatment.clinic_id.in_(self.clinic_ids), *self.filters.clauses()]

    def answers(self, *columns: Any, with_treatments: bool = False) -> Select[Any]:
        """The answers in scope. Each answer row carries its treatment, clinic, modality, time
        point and elapsed hours, so the unfiltered comparison reads the answers alone (one
        clinic-wide index); they are joined to their treatments, and reached through them, for
        what only a treatment holds (the filters, the clinician, the patient), or when
        ``with_treatments`` asks."""
        query = select(*columns).select_from(Answer)
        if with_treatments or self.by == "clinician" or self.filters != Filters():
            return query.join(Treatment, Answer.treatment_id == Treatment.id).where(*self.where())
        return query.where(Answer.clinic_id.in_(self.clinic_ids))

    def split_by(self, group: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
        """``group`` for a GROUP BY: nothing when split by modality alone (its column is then a
        constant, and grouping by it would cost SQLite a sort of every row)."""
        return () if self.by == "modality" else (group,)

    def answer_group_column(self) -> ColumnElement[Any]:
        """``group_column`` for ``answers``: the clinic on the answer row itself."""
        return Answer.clinic_id.expression if self.by == "clinic" else self.group_column()


@dataclass(frozen=True)
class Group:
    """What splits a series beside its modality: a clinician or a clinic."""

    by: str
    id: int | None
    label: str


@dataclass(frozen=True)
class Point:
    """One cell of a recovery curve: a time point (or an elapsed-time bin) of one series."""

    slot: str
    hours: float | None
    n: int | None
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    elapsed_hours: float | None  # mean actual time since treatment of the answers
    suppressed: bool


@dataclass(frozen=True)
class Curve:
    """One modality's (and group's) recovery curve for one measure."""

    modality: str
    group: Group | None
    points: list[Point]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def settled() -> ColumnElement[bool]:
    """Treatments with no check-in that may still be answered: what they lack now, they keep
    lacking (so a session without the answers an analytic needs is left out, and counted)."""
    return Treatment.id.not_in(
        select(CheckIn.treatment_id).where(CheckIn.status.in_(OPEN_STATUSES))
    )


P = ParamSpec("P")


def built_once(build: Callable[P, Select[Any]]) -> Callable[P, Select[Any]]:
    """Keep the statements ``build`` makes, one per distinct arguments (a scope, measures, a
    dialect). Building a statement, and working out the cache key of a new one, costs
    SQLAlchemy about as much as the database spends on a small clinic's answers; a statement
    kept is run again with its compiled form and its cache key already worked out.

    What is kept is SQL, never data: statements are immutable, so one serves every thread,
    request and database, and the cache is bounded. A builder must not read
    ``scope.protocols``: they take no part in a scope's equality, so a kept statement may have
    been built for another clinic's time points."""
    # lru_cache's wrapper is typed as taking any arguments: the wrapped signature is the same
    return lru_cache(maxsize=256)(build)  # type: ignore[return-value]


def aggregates(session: Session, statement: Select[Any]) -> Sequence[Row[Any]]:
    """The rows of an analytics statement, through the session's connection: they are
    aggregates, with no ORM entity to load, and the ORM's execution path would cost a small
    clinic's comparison as much as a statement. What the session holds is flushed first, as
    the ORM's own execution would."""
    session.flush()
    return session.connection().execute(statement).all()


def group_labels(session: Session, scope: Scope) -> dict[int | None, str]:
    """Display names of the clinicians or clinics that split the series."""
    if scope.by == "clinician":
        rows = session.execute(
            select(Clinician.id, Clinician.name, Clinician.email).where(
                Clinician.clinic_id.in_(scope.clinic_ids)
            )
        )
        labels: dict[int | None, str] = {row.id: row.name or row.email for row in rows}
        labels[None] = "Clinician not recorded"
        return labels
    if scope.by == "clinic":
        rows = session.execute(
            select(Clinic.id, Clinic.name).where(Clinic.id.in_(scope.clinic_ids))
        )
        return {row.id: row.name for row in rows}
    return {}


def protocol_slots(
    protocols: dict[str, Protocol] | None = None,
) -> dict[str, list[tuple[str, float, bool]]]:
    """Each modality's time points in order, as (slot, nominal hours, enabled)."""
    protocols = protocols or default_protocols()
    return {
        modality: [(point.slot, point.offset_h, point.enabled) for point in protocol.timepoints]
        for modality, protocol in protocols.items()
    }


def slots_with_data(
    slots: list[tuple[str, float, bool]], answered: set[str]
) -> list[tuple[str, float | None]]:
    """The baseline, the protocol's time points (an optional one only when answered), then any
    other slot answered (from an earlier override of the clinic's protocol)."""
    known = {slot for slot, _, _ in slots}
    extra = sorted(answered - known - {BASELINE})
    points = [(slot, hours) for slot, hours, enabled in slots if enabled or slot in answered]
    return [(BASELINE, None), *points, *((slot, None) for slot in extra)]


def series_order(key: tuple[str, Any]) -> tuple[int, str]:
    modalities = list(default_protocols())
    modality, grp = key
    rank = modalities.index(modality) if modality in modalities else len(modalities)
    return rank, "" if grp is None else f"{grp:>12}"


def series_group(scope: Scope, grp: Any, labels: dict[int | None, str]) -> Group | None:
    if scope.by == "modality":
        return None
    return Group(scope.by, grp, labels.get(grp, f"#{grp}"))


def point(row: Any, slot: str, hours: float | None, *, hidden: bool) -> Point:
    """A cell's statistics from its aggregates; none when it has no answers or is hidden."""
    if row is None or hidden:
        return Point(slot, hours, None, None, None, None, None, None, row is not None)
    summary = summarise(int(row.n), float(row.total), float(row.total_sq))
    elapsed = None if slot == BASELINE or row.elapsed is None else round(float(row.elapsed), 2)
    return Point(
        slot,
        hours,
        summary.n,
        summary.mean,
        summary.sd,
        summary.ci_low,
        summary.ci_high,
        elapsed,
        False,
    )


def most_treatments_per_patient(session: Session, scope: Scope) -> dict[tuple[str, Any], int]:
    """Per series, the most treatments any one patient has in it."""
    rows = aggregates(session, _most_treatments_query(scope))
    return {(row.modality, row.grp): int(row.most) for row in rows}


@built_once
def _most_treatments_query(scope: Scope) -> Select[Any]:
    group = scope.group_column().label("grp")
    per_patient = (
        select(Treatment.modality, group, func.count().label("treatments"))
        .where(*scope.where())
        .group_by(Treatment.modality, *scope.split_by(group), Treatment.patient_id)
        .subquery()
    )
    split = scope.split_by(per_patient.c.grp)
    return select(
        per_patient.c.modality,
        (split[0] if split else literal(None)).label("grp"),
        func.max(per_patient.c.treatments).label("most"),
    ).group_by(per_patient.c.modality, *split)


def scope_for(
    session: Session,
    *,
    clinician: Clinician,
    filters: Filters,
    by: str = "modality",
    min_patients: int = 5,
) -> Scope:
    """The analytics a clinician may see: their clinic's; split by clinician for a clinic admin;
    across the clinics of their network for a network admin."""
    if by not in GROUPINGS:
        raise InvalidInput(f"must be one of: {', '.join(GROUPINGS)}", field="by")
    if by == "clinician" and not clinician.is_admin:
        raise Forbidden("comparing clinicians is for clinic admins", field="by")
    clinic_ids: tuple[int, ...] = (clinician.clinic_id,)
    if by == "clinic":
        network_id = clinician.clinic.network_id
        if not clinician.is_network_admin or network_id is None:
            raise Forbidden("comparing clinics is for the admin of a network", field="by")
        clinic_ids = tuple(session.scalars(select(Clinic.id).filter_by(network_id=network_id)))
    if filters.region is not None and filters.region not in regions():
        raise InvalidInput(f"unknown region; use one of: {', '.join(regions())}", field="region")
    if filters.course not in (None, "first", "repeat"):
        raise InvalidInput("must be first or repeat", field="course")
    if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
        raise InvalidInput("must not be before date_from", field="date_to")
    if filters.clinician_id is not None and not session.scalar(
        select(Clinician.id).filter_by(id=filters.clinician_id, clinic_id=clinician.clinic_id)
    ):
        raise InvalidInput("no such clinician at this clinic", field="clinician_id")
    if filters.clinician_id not in (None, clinician.id) and not clinician.is_admin:
        # one colleague's outcomes alone are a comparison of clinicians, as by="clinician" is
        raise Forbidden("a colleague's outcomes are for clinic admins", field="clinician_id")
    protocols = None
    if len(clinic_ids) == 1:  # the clinic's own time points decide the points and the last one
        in_force = clinic_protocols(session, clinic_id=clinic_ids[0])
        protocols = {protocol.modality: protocol for protocol, _ in in_force}
    return Scope(clinic_ids, filters, by, min_patients, protocols)
