"""When check-ins happen: planning a treatment's time points in the patient's own time zone.

A time point opens at T0 + its offset (absolute hours, so a DST change does not stretch it) or by
a local-time rule; one that opens inside the patient's quiet hours opens at their end instead,
keeping the length of its window. Windows never overlap, so each answer maps to one time point.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput
from server.models import CheckIn, Clinician, Patient, Treatment
from server.models.treatments import OPEN_STATUSES
from server.protocols import TimePoint, item_bank, parse_timepoints
from server.services.audit import record_event

# a clinician may move a check-in's opening this far after T0 and no further (the protocols'
# last time point is at 7 days; a clinic's own may be at up to 60)
LATEST_MOVE = timedelta(days=90)


@dataclass(frozen=True)
class QuietHours:
    """A daily local-time span in which no prompt opens; may cross midnight (22:00-08:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time falls inside the quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, local: datetime) -> datetime:
        """The first end of quiet hours after a local moment inside them."""
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=local.tzinfo)


@dataclass(frozen=True)
class PlannedCheckIn:
    """One check-in as the plan says it should be: slot, questions and window (UTC)."""

    slot: str
    nominal_hours: float
    due_at: datetime
    expires_at: datetime
    reminder_after_s: int | None
    items: tuple[str, ...] = field(default=())
    remind_at: datetime | None = None


def quiet_hours_of(patient: Patient) -> QuietHours | None:
    """The patient's quiet hours, or None when they asked to be prompted at any time."""
    if patient.quiet_start is None or patient.quiet_end is None:
        return None
    return QuietHours(patient.quiet_start, patient.quiet_end)


def plan_checkins(
    timepoints: tuple[TimePoint, ...],
    *,
    treated_at: datetime,
    timezone: ZoneInfo,
    quiet: QuietHours | None,
    context: dict[str, bool | None],
) -> list[PlannedCheckIn]:
    """Plan every enabled time point of a protocol for one treatment (pure: no database)."""
    # in UTC, adding hours is adding elapsed time; on a local zone it would be wall-clock time
    treated_at = treated_at.astimezone(UTC)
    day0 = treated_at.astimezone(timezone).date()
    points = [point for point in timepoints if point.enabled]
    skipped = {point.slot for point in points if _is_skipped(point, treated_at, timezone, day0)}
    moved: dict[str, list[str]] = {}
    for point in points:
        if point.slot in skipped:
            for code, target in point.on_skip_move_items.items():
                moved.setdefault(target, []).append(code)
    plan = [
        _plan_one(point, moved.get(point.slot, []), treated_at, timezone, day0, quiet)
        for point in points
        if point.slot not in skipped
    ]
    plan = _without_overlaps(sorted(plan, key=lambda planned: planned.due_at))
    asked = [
        replace(planned, items=tuple(code for code in planned.items if _is_asked(code, context)))
        for planned in plan
    ]
    return [
        replace(
            planned,
            remind_at=reminder_time(
                planned.due_at, planned.expires_at, planned.reminder_after_s, timezone, quiet
            ),
        )
        for planned in asked
        if planned.items
    ]


def reminder_time(
    due_at: datetime,
    expires_at: datetime,
    reminder_after_s: int | None,
    timezone: ZoneInfo,
    quiet: QuietHours | None,
) -> datetime | None:
    """When the one reminder goes: after the delay, moved out of quiet hours, before expiry."""
    if reminder_after_s is None:
        return None
    remind_at = out_of_quiet(due_at + timedelta(seconds=reminder_after_s), timezone, quiet)
    return remind_at if remind_at < expires_at else None


def out_of_quiet(moment: datetime, timezone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """The moment itself, or the end of the quiet hours it falls in (UTC)."""
    local = moment.astimezone(timezone)
    if quiet is not None and quiet.contains(local.time()):
        return quiet.end_after(local).astimezone(UTC)
    return moment


def _is_asked(code: str, context: dict[str, bool | None]) -> bool:
    """An item with a condition is asked unless its treatment flag is known to be false."""
    condition = item_bank()[code].condition
    return condition is None or context.get(condition) is not False


def _is_skipped(point: TimePoint, treated_at: datetime, timezone: ZoneInfo, day0: date) -> bool:
    if point.latest_open_local is None:
        return False
    opens = (treated_at + timedelta(hours=point.offset_h)).astimezone(timezone)
    return opens.date() != day0 or opens.time() > point.latest_open_local


def _plan_one(
    point: TimePoint,
    extra_items: list[str],
    treated_at: datetime,
    timezone: ZoneInfo,
    day0: date,
    quiet: QuietHours | None,
) -> PlannedCheckIn:
    opens = treated_at + timedelta(hours=point.offset_h)
    if point.expires_local is not None:
        expires = datetime.combine(day0, point.expires_local, tzinfo=timezone).astimezone(UTC)
    else:
        assert point.window_h is not None  # noqa: S101 - the schema requires one of the two
        expires = opens + timedelta(hours=point.window_h)
    local_open = opens.astimezone(timezone)
    if quiet is not None and quiet.contains(local_open.time()):
        length = expires - opens
        opens = quiet.end_after(local_open).astimezone(UTC)
        expires = opens + length
    items = tuple(dict.fromkeys([*point.items, *extra_items]))
    reminder = None if point.reminder_after_h is None else round(point.reminder_after_h * 3600)
    return PlannedCheckIn(
        point.slot, point.offset_h, opens.astimezone(UTC), expires, reminder, items
    )


def _without_overlaps(plan: list[PlannedCheckIn]) -> list[PlannedCheckIn]:
    """Close each window before the next opens; a window left empty hands its items on."""
    result: list[PlannedCheckIn] = []
    carried: tuple[str, ...] = ()
    for index, planned in enumerate(plan):
        planned = replace(planned, items=tuple(dict.fromkeys([*carried, *planned.items])))
        carried = ()
        following = plan[index + 1] if index + 1 < len(plan) else None
        if following is not None and planned.expires_at > following.due_at:
            if following.due_at <= planned.due_at:
                carried = planned.items  # quiet hours pushed both to the same morning
                continue
            planned = replace(planned, expires_at=following.due_at)
        result.append(planned)
    return result


def context_of(treatment: Treatment) -> dict[str, bool | None]:
    """The treatment flags that item conditions read."""
    return {"thoracic_region": treatment.thoracic_region}


def materialise_checkins(
    session: Session, treatment: Treatment, patient: Patient, now: datetime
) -> list[CheckIn]:
    """Create the treatment's check-in rows from its protocol snapshot (same transaction)."""
    plan = plan_checkins(
        parse_timepoints(treatment.protocol),
        treated_at=treatment.treated_at,
        timezone=ZoneInfo(patient.timezone),
        quiet=quiet_hours_of(patient),
        context=context_of(treatment),
    )
    checkins = [_new_checkin(planned, now) for planned in plan]
    treatment.checkins.extend(checkins)
    session.flush()
    return checkins


def _new_checkin(planned: PlannedCheckIn, now: datetime) -> CheckIn:
    checkin = CheckIn(
        slot=planned.slot,
        nominal_hours=planned.nominal_hours,
        items=list(planned.items),
        reminder_after_s=planned.reminder_after_s,
    )
    checkin.schedule(
        due_at=planned.due_at, expires_at=planned.expires_at, remind_at=planned.remind_at
    )
    if planned.expires_at <= now:  # recorded after its window: for staff to enter, never sent
        checkin.status, checkin.entry_only = "missed", True
        checkin.next_attempt_at = checkin.remind_at = None
    return checkin


def reschedule_patient(session: Session, patient: Patient, *, now: datetime) -> int:
    """Re-plan the patient's check-ins not yet sent after a time zone or quiet-hours change.

    Returns how many check-ins changed. Sent, answered, missed and cancelled ones stay as they are.
    """
    changed = 0
    # a subquery, not JOIN + DISTINCT: PostgreSQL cannot compare the JSON columns for DISTINCT
    pending = select(CheckIn.treatment_id).where(CheckIn.status == "scheduled")
    # read whole before writing: an open cursor would hold SQLite's read snapshot under the writes
    treatments = session.scalars(
        select(Treatment).where(Treatment.patient_id == patient.id, Treatment.id.in_(pending))
    ).all()
    for treatment in treatments:
        plan = {
            planned.slot: planned
            for planned in plan_checkins(
                parse_timepoints(treatment.protocol),
                treated_at=treatment.treated_at,
                timezone=ZoneInfo(patient.timezone),
                quiet=quiet_hours_of(patient),
                context=context_of(treatment),
            )
        }
        existing = {checkin.slot for checkin in treatment.checkins}
        for checkin in treatment.checkins:
            if checkin.status != "scheduled":
                continue
            planned = plan.get(checkin.slot)
            if planned is None:
                checkin.status, checkin.cancelled_at = "cancelled", now
            else:
                checkin.schedule(
                    due_at=planned.due_at,
                    expires_at=planned.expires_at,
                    remind_at=planned.remind_at,
                )
                checkin.items = list(planned.items)
            changed += 1
        for slot, planned in plan.items():
            if slot not in existing and planned.due_at > now:
                treatment.checkins.append(_new_checkin(planned, now))
                changed += 1
    session.flush()
    return changed


def cancel_checkin(
    session: Session, checkin: CheckIn, *, now: datetime, by: Clinician | None = None
) -> CheckIn:
    """Cancel a check-in that has not been answered; it will not be prompted (audited when a
    clinician ``by`` did it)."""
    if checkin.status not in OPEN_STATUSES:
        raise Conflict(f"a check-in that is {checkin.status} cannot be cancelled", field="status")
    checkin.status, checkin.cancelled_at = "cancelled", now
    _audit_change(session, checkin, by, "checkin.cancelled", now)
    session.flush()
    return checkin


def _audit_change(
    session: Session,
    checkin: CheckIn,
    by: Clinician | None,
    action: str,
    now: datetime,
    details: dict[str, str] | None = None,
) -> None:
    if by is not None:
        record_event(
            session,
            clinic_id=by.clinic_id,
            actor=f"clinician:{by.id}",
            action=action,
            target=f"checkin:{checkin.id}",
            at=now,
            details=details,
            patient_id=checkin.treatment.patient_id,
        )


def move_checkin(
    session: Session,
    checkin: CheckIn,
    *,
    due_at: datetime,
    now: datetime,
    by: Clinician | None = None,
) -> CheckIn:
    """Move a check-in not yet answered to a new opening time; its window keeps its length
    (audited, old and new opening, when a clinician ``by`` did it)."""
    if checkin.status not in OPEN_STATUSES:
        raise Conflict(f"a check-in that is {checkin.status} cannot be moved", field="due_at")
    if due_at < checkin.treatment.treated_at:
        raise InvalidInput("a check-in cannot open before the treatment", field="due_at")
    if due_at > checkin.treatment.treated_at + LATEST_MOVE:
        raise InvalidInput(
            f"a check-in must open within {LATEST_MOVE.days} days of the treatment", field="due_at"
        )
    length = checkin.expires_at - checkin.due_at
    expires_at = due_at + length
    if expires_at <= now:
        raise InvalidInput("the moved window would already be over", field="due_at")
    for sibling in checkin.treatment.checkins:
        if sibling is checkin or sibling.status == "cancelled":
            continue
        if due_at < sibling.expires_at and sibling.due_at < expires_at:
            raise InvalidInput(
                f"the window would overlap the '{sibling.slot}' check-in", field="due_at"
            )
    patient = checkin.treatment.patient
    remind_at = reminder_time(
        due_at,
        expires_at,
        checkin.reminder_after_s,
        ZoneInfo(patient.timezone),
        quiet_hours_of(patient),
    )
    old_due = checkin.due_at
    checkin.schedule(due_at=due_at, expires_at=expires_at, remind_at=remind_at)
    details = {"old": old_due.isoformat(), "new": due_at.isoformat()}
    _audit_change(session, checkin, by, "checkin.moved", now, details)
    session.flush()
    return checkin


def expire_checkins(session: Session, *, now: datetime) -> int:
    """Mark every check-in whose window has closed unanswered as missed; returns how many."""
    result = session.execute(
        update(CheckIn)
        .where(CheckIn.status.in_(OPEN_STATUSES), CheckIn.expires_at <= now)
        .values(status="missed")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount
