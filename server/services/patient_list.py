"""The Patients list as a triage list: who needs the clinician, at a glance.

Per patient: open alerts (the most severe first), the last answer with its soreness and pain,
the modality and clinician of the last treatment, the next check-in still to come or open now,
and whether they are discharged. Sorted and paged in SQL, then completed for the page's patients
only: five statements whatever the number of patients.

- **open alert**: not acknowledged yet;
- **last answer**: the latest response of any of the patient's treatments, the baseline given
  in clinic included;
- **next check-in**: the unanswered, not cancelled check-in whose window has not closed yet with
  the earliest opening (it may be open now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, func, select, true
from sqlalchemy.orm import Session, aliased

from server.models import Alert, Answer, CheckIn, Clinician, Patient, Response, Treatment
from server.models.treatments import OPEN_STATUSES, slot_label
from server.services.patient_search import PatientSearch, SearchCounts, count_matches
from server.services.red_flags import SEVERITY_ORDER

# the columns a list sorts by, and whether each reads most-first (descending) by default
SORT_COLUMNS = {"alerts": True, "answer": True, "due": False, "code": False, "name": False}
SORT_PARAMS = frozenset(SORT_COLUMNS) | {f"-{column}" for column in SORT_COLUMNS}
DEFAULT_SORT = "-alerts"
NO_ALERT_RANK = 3


@dataclass(frozen=True)
class Sort:
    """A column and its direction; ``param`` is how a link asks for it ("-answer": newest
    first)."""

    column: str
    descending: bool

    @classmethod
    def parse(cls, param: str | None) -> Sort:
        """The sort a ``sort`` parameter names; the default one for anything else."""
        name = param if param in SORT_PARAMS else DEFAULT_SORT
        return cls(column=name.removeprefix("-"), descending=name.startswith("-"))

    @property
    def param(self) -> str:
        """The ``sort`` parameter that asks for this sort."""
        return f"-{self.column}" if self.descending else self.column

    @property
    def is_default(self) -> bool:
        """Whether this is the sort a list has when none is asked for."""
        return self.param == DEFAULT_SORT

    def by(self, column: str) -> Sort:
        """The sort a click on ``column``'s header asks for: the other way round if the list is
        sorted by it already, else its usual direction."""
        if column == self.column:
            return Sort(column, not self.descending)
        return Sort(column, SORT_COLUMNS[column])


@dataclass(frozen=True)
class LastAnswer:
    """A patient's latest response: when, and its soreness and pain (None: not asked)."""

    answered_at: datetime
    soreness: int | None
    pain: int | None

    @property
    def scores(self) -> list[tuple[str, int]]:
        """The (item code, value) pairs it answered, soreness first."""
        pairs = (("soreness", self.soreness), ("pain", self.pain))
        return [(code, value) for code, value in pairs if value is not None]


@dataclass(frozen=True)
class LastTreatment:
    """A patient's latest treatment."""

    treated_at: datetime
    modality: str
    clinician: str | None  # their name (their e-mail when nameless); None: no longer on record


@dataclass(frozen=True)
class NextCheckIn:
    """The next check-in still to come or open now, with its time point's words."""

    due_at: datetime
    expires_at: datetime
    slot: str
    slot_label: str

    def is_open_at(self, moment: datetime) -> bool:
        """Whether its answer window has opened by ``moment``."""
        return self.due_at <= moment


@dataclass(frozen=True)
class PatientListRow:
    """One patient on the list."""

    patient_id: int
    code: str
    display_name: str | None
    timezone: str
    discharged_at: datetime | None
    open_alerts: int
    urgent_alerts: int
    last_answer: LastAnswer | None
    last_treatment: LastTreatment | None
    next_checkin: NextCheckIn | None


@dataclass(frozen=True)
class PatientList:
    """A page of the list, and how many patients the search found in all."""

    rows: list[PatientListRow]
    counts: SearchCounts
    sort: Sort


def patient_list_page(
    session: Session,
    *,
    clinic_id: int,
    now: datetime,
    search: PatientSearch | None = None,
    sort: Sort | None = None,
    offset: int = 0,
    limit: int = 25,
) -> PatientList:
    """A page of the clinic's patients the search finds, in the sort's order (the default:
    the most severe open alerts first, then the most recent answer)."""
    sort = sort or Sort.parse(None)
    counts = count_matches(session, clinic_id=clinic_id, search=search)
    alerts, answers, due = (
        _alert_counts(clinic_id),
        _last_answered(clinic_id),
        _next_due(clinic_id, now),
    )
    page = session.execute(
        select(Patient, func.coalesce(alerts.c.open, 0), func.coalesce(alerts.c.urgent, 0))
        .outerjoin(alerts, alerts.c.patient_id == Patient.id)
        .outerjoin(answers, answers.c.patient_id == Patient.id)
        .outerjoin(due, due.c.patient_id == Patient.id)
        .where(Patient.clinic_id == clinic_id, search.matches if search else true())
        .order_by(*_order(sort, alerts, answers, due))
        .offset(offset)
        .limit(limit)
    ).all()
    ids = [patient.id for patient, _, _ in page]
    last_answers = _last_answers(session, ids) if ids else {}
    last_treatments = _last_treatments(session, ids) if ids else {}
    next_checkins = _next_checkins(session, ids, now) if ids else {}
    rows = [
        PatientListRow(
            patient_id=patient.id,
            code=patient.code,
            display_name=patient.display_name,
            timezone=patient.timezone,
            discharged_at=patient.discharged_at,
            open_alerts=int(open_alerts),
            urgent_alerts=int(urgent_alerts),
            last_answer=last_answers.get(patient.id),
            last_treatment=last_treatments.get(patient.id),
            next_checkin=next_checkins.get(patient.id),
        )
        for patient, open_alerts, urgent_alerts in page
    ]
    return PatientList(rows=rows, counts=counts, sort=sort)


def _order(
    sort: Sort, alerts: Subquery, answers: Subquery, due: Subquery
) -> list[ColumnElement[Any]]:  # Any: the keys are of several types
    """The ORDER BY of a sort: its column's keys (missing values last whichever the direction),
    then the code."""
    code: list[tuple[ColumnElement[Any], bool]] = [  # (key, descending in the usual direction)
        (func.lower(Patient.code), False),
        (Patient.code.expression, False),
    ]
    keys: dict[str, list[tuple[ColumnElement[Any], bool]]] = {
        "alerts": [
            (func.coalesce(alerts.c.rank, NO_ALERT_RANK), False),
            (func.coalesce(alerts.c.open, 0), True),
            (answers.c.answered_at, True),
        ],
        "answer": [(answers.c.answered_at, True)],
        "due": [(due.c.due_at, False)],
        "code": code,
        "name": [(func.lower(func.nullif(Patient.display_name, "")), False)],
    }
    flip = sort.descending != SORT_COLUMNS[sort.column]
    order = [
        (key.asc() if descending == flip else key.desc()).nulls_last()
        for key, descending in keys[sort.column]
    ]
    return [*order, *(key.asc() for key, _ in code), Patient.id.asc()]


# --- per patient, for sorting: one row per patient of the clinic that has any -----------------


def _alert_counts(clinic_id: int) -> Subquery:
    """Open alerts per patient: how many, how many urgent, the rank of the most severe."""
    return (
        select(
            Alert.patient_id,
            func.count(Alert.id).label("open"),
            func.sum(case((Alert.severity == "urgent", 1), else_=0)).label("urgent"),
            func.min(SEVERITY_ORDER).label("rank"),
        )
        .where(Alert.clinic_id == clinic_id, Alert.acknowledged_at.is_(None))
        .group_by(Alert.patient_id)
        .subquery()
    )


def _last_answered(clinic_id: int) -> Subquery:
    """When each patient last answered."""
    return (
        select(Treatment.patient_id, func.max(Response.answered_at).label("answered_at"))
        .join(Response, Response.treatment_id == Treatment.id)
        .where(Treatment.clinic_id == clinic_id)
        .group_by(Treatment.patient_id)
        .subquery()
    )


def _next_due(clinic_id: int, now: datetime) -> Subquery:
    """When each patient's next check-in opens (or opened, when open now)."""
    return (
        select(Treatment.patient_id, func.min(CheckIn.due_at).label("due_at"))
        .join(CheckIn, CheckIn.treatment_id == Treatment.id)
        .where(Treatment.clinic_id == clinic_id, *_still_to_answer(now))
        .group_by(Treatment.patient_id)
        .subquery()
    )


def _still_to_answer(now: datetime) -> list[ColumnElement[bool]]:
    return [CheckIn.status.in_(OPEN_STATUSES), CheckIn.expires_at > now]


# --- the details of the page's patients: one statement each -------------------------------------


def _latest(query: Select[*tuple[Any, ...]], *order: ColumnElement[Any]) -> Subquery:
    """The query's rows numbered per patient in ``order`` (``rank`` 1: the first)."""
    number = func.row_number().over(partition_by=Treatment.patient_id, order_by=order)
    return query.add_columns(number.label("rank")).subquery()


def _last_answers(session: Session, patient_ids: list[int]) -> dict[int, LastAnswer]:
    ranked = _latest(
        select(Treatment.patient_id, Response.id, Response.answered_at)
        .join(Response, Response.treatment_id == Treatment.id)
        .where(Treatment.patient_id.in_(patient_ids)),
        Response.answered_at.desc(),
        Response.id.desc(),
    )
    soreness, pain = aliased(Answer), aliased(Answer)
    rows = session.execute(
        select(ranked.c.patient_id, ranked.c.answered_at, soreness.value_num, pain.value_num)
        .outerjoin(
            soreness, and_(soreness.response_id == ranked.c.id, soreness.item_code == "soreness")
        )
        .outerjoin(pain, and_(pain.response_id == ranked.c.id, pain.item_code == "pain"))
        .where(ranked.c.rank == 1)
    )
    return {
        patient_id: LastAnswer(answered_at, soreness_value, pain_value)
        for patient_id, answered_at, soreness_value, pain_value in rows
    }


def _last_treatments(session: Session, patient_ids: list[int]) -> dict[int, LastTreatment]:
    ranked = _latest(
        select(
            Treatment.patient_id, Treatment.treated_at, Treatment.modality, Treatment.clinician_id
        ).where(Treatment.patient_id.in_(patient_ids)),
        Treatment.treated_at.desc(),
        Treatment.id.desc(),
    )
    rows = session.execute(
        select(
            ranked.c.patient_id,
            ranked.c.treated_at,
            ranked.c.modality,
            func.coalesce(func.nullif(Clinician.name, ""), Clinician.email),
        )
        .outerjoin(Clinician, Clinician.id == ranked.c.clinician_id)
        .where(ranked.c.rank == 1)
    )
    return {
        patient_id: LastTreatment(treated_at, modality, clinician)
        for patient_id, treated_at, modality, clinician in rows
    }


def _next_checkins(
    session: Session, patient_ids: list[int], now: datetime
) -> dict[int, NextCheckIn]:
    ranked = _latest(
        select(
            Treatment.patient_id,
            Treatment.protocol,
            CheckIn.slot,
            CheckIn.due_at,
            CheckIn.expires_at,
        )
        .join(CheckIn, CheckIn.treatment_id == Treatment.id)
        .where(Treatment.patient_id.in_(patient_ids), *_still_to_answer(now)),
        CheckIn.due_at.asc(),
        CheckIn.id.asc(),
    )
    rows = session.execute(
        select(
            ranked.c.patient_id,
            ranked.c.protocol,
            ranked.c.slot,
            ranked.c.due_at,
            ranked.c.expires_at,
        ).where(ranked.c.rank == 1)
    )
    return {
        patient_id: NextCheckIn(due_at, expires_at, slot, slot_label(protocol, slot))
        for patient_id, protocol, slot, due_at, expires_at in rows
    }
