"""A clinic's worklist for today: open red flags, then check-ins due, overdue and missed.

The definitions, which the Today page states too:

- **due**: unanswered, its answer window open now, and less than half of the window gone;
- **overdue**: unanswered, its window still open, but more than half of it gone (under the
  default protocols the one reminder has gone out by then: time to phone the patient);
- **missed**: its window closed unanswered in the last 7 days. That is status ``missed``, or
  still ``scheduled``/``sent`` when the expiry job has not run yet: a closed window is missed
  whatever the worker's lag;
- **answer rate this week**: answered / (answered + missed) among check-ins whose window closed
  since Monday 00:00 on the clinic's clock. Cancelled check-ins never count.

Check-ins of a back-dated treatment whose window had closed when it was recorded
(``entry_only``) were never asked: they are neither missed here nor in the rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from server.models import Alert, CheckIn, Clinic, Patient, Treatment
from server.models.treatments import OPEN_STATUSES, slot_label
from server.services.red_flags import SEVERITY_ORDER

MISSED_LOOKBACK = timedelta(days=7)
# a long list helps nobody on one screen; the page says when there are more
LIST_LIMIT = 200


@dataclass(frozen=True)
class AlertRow:
    """An unacknowledged red-flag alert with the patient it concerns."""

    alert_id: int
    rule: str
    severity: str
    summary: str
    created_at: datetime
    patient_id: int
    patient_code: str
    patient_timezone: str
    treatment_id: int


@dataclass(frozen=True)
class CheckInRow:
    """A check-in on the worklist with the patient and treatment it belongs to."""

    checkin_id: int
    treatment_id: int
    patient_id: int
    patient_code: str
    patient_timezone: str
    modality: str
    slot: str
    slot_label: str
    due_at: datetime
    expires_at: datetime
    status: str

    def is_overdue_at(self, moment: datetime) -> bool:
        """Whether more than half of the answer window has gone by ``moment``."""
        return moment >= self.due_at + (self.expires_at - self.due_at) / 2


@dataclass(frozen=True)
class AnswerRate:
    """Answered and missed check-ins among those whose window closed in a period."""

    since: datetime
    answered: int
    missed: int

    @property
    def rate(self) -> float | None:
        """answered / (answered + missed); None when no window closed."""
        closed = self.answered + self.missed
        return self.answered / closed if closed else None


@dataclass(frozen=True)
class Worklist:
    """Everything the Today page lists, in the order it lists it."""

    alerts: list[AlertRow]
    due: list[CheckInRow]
    overdue: list[CheckInRow]
    missed: list[CheckInRow]
    answer_rate: AnswerRate


def worklist(session: Session, *, clinic_id: int, now: datetime) -> Worklist:
    """The clinic's worklist at ``now``."""
    open_now = open_checkins(session, clinic_id=clinic_id, now=now)
    return Worklist(
        alerts=open_alerts(session, clinic_id=clinic_id),
        due=[row for row in open_now if not row.is_overdue_at(now)],
        overdue=[row for row in open_now if row.is_overdue_at(now)],
        missed=missed_checkins(session, clinic_id=clinic_id, now=now),
        answer_rate=answer_rate(
            session,
            clinic_id=clinic_id,
            since=week_start(now, session.get_one(Clinic, clinic_id).timezone),
            now=now,
        ),
    )


def open_alerts(session: Session, *, clinic_id: int) -> list[AlertRow]:
    """Unacknowledged alerts: urgent, then same-day, then routine; oldest first within each."""
    rows = session.execute(
        select(Alert, Patient.code, Patient.timezone)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Alert.clinic_id == clinic_id, Alert.acknowledged_at.is_(None))
        .order_by(SEVERITY_ORDER, Alert.created_at, Alert.id)
        .limit(LIST_LIMIT)
    )
    return [
        AlertRow(
            alert_id=alert.id,
            rule=alert.rule,
            severity=alert.severity,
            summary=alert.summary,
            created_at=alert.created_at,
            patient_id=alert.patient_id,
            patient_code=code,
            patient_timezone=timezone,
            treatment_id=alert.treatment_id,
        )
        for alert, code, timezone in rows
    ]


def open_checkins(session: Session, *, clinic_id: int, now: datetime) -> list[CheckInRow]:
    """Unanswered check-ins whose window is open now, the soonest to close first."""
    return _checkin_rows(
        session,
        clinic_id,
        CheckIn.status.in_(OPEN_STATUSES),
        CheckIn.due_at <= now,
        CheckIn.expires_at > now,
        order_by=CheckIn.expires_at.asc(),
    )


def missed_checkins(session: Session, *, clinic_id: int, now: datetime) -> list[CheckInRow]:
    """Check-ins whose window closed unanswered in the last 7 days, the latest first."""
    return _checkin_rows(
        session,
        clinic_id,
        CheckIn.status.in_(("missed", *OPEN_STATUSES)),
        CheckIn.entry_only.is_(False),  # never asked: nobody to chase
        CheckIn.expires_at <= now,
        CheckIn.expires_at > now - MISSED_LOOKBACK,
        order_by=CheckIn.expires_at.desc(),
    )


def _checkin_rows(
    session: Session,
    clinic_id: int,
    *criteria: ColumnElement[bool],
    order_by: ColumnElement[datetime],
) -> list[CheckInRow]:
    rows = session.execute(
        select(
            CheckIn.id,
            CheckIn.treatment_id,
            Treatment.patient_id,
            Patient.code,
            Patient.timezone,
            Treatment.modality,
            CheckIn.slot,
            Treatment.protocol,
            CheckIn.due_at,
            CheckIn.expires_at,
            CheckIn.status,
        )
        .join(Treatment, Treatment.id == CheckIn.treatment_id)
        .join(Patient, Patient.id == Treatment.patient_id)
        .where(Treatment.clinic_id == clinic_id, *criteria)
        .order_by(order_by, CheckIn.id)
        .limit(LIST_LIMIT)
    )
    return [
        CheckInRow(
            checkin_id=row.id,
            treatment_id=row.treatment_id,
            patient_id=row.patient_id,
            patient_code=row.code,
            patient_timezone=row.timezone,
            modality=row.modality,
            slot=row.slot,
            slot_label=slot_label(row.protocol, row.slot),
            due_at=row.due_at,
            expires_at=row.expires_at,
            status=row.status,
        )
        for row in rows
    ]


def week_start(now: datetime, zone: str) -> datetime:
    """Monday 00:00 on the clinic's clock of the week that contains ``now``."""
    today = now.astimezone(ZoneInfo(zone)).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(), ZoneInfo(zone))
    return monday.astimezone(UTC)


def answer_rate(session: Session, *, clinic_id: int, since: datetime, now: datetime) -> AnswerRate:
    """Answered and missed among the clinic's check-ins whose window closed in [since, now]."""
    is_answered = CheckIn.status == "answered"
    answered, closed = session.execute(
        select(func.coalesce(func.sum(case((is_answered, 1), else_=0)), 0), func.count())
        .select_from(CheckIn)
        .join(Treatment, Treatment.id == CheckIn.treatment_id)
        .where(
            Treatment.clinic_id == clinic_id,
            CheckIn.status.in_(("answered", "missed", *OPEN_STATUSES)),
            CheckIn.entry_only.is_(False),  # the patients' rate of answering prompts
            CheckIn.expires_at >= since,
            CheckIn.expires_at <= now,
        )
    ).one()
    return AnswerRate(since=since, answered=int(answered), missed=int(closed) - int(answered))
