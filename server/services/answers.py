"""Answering a check-in: replay-safe, checked against each item's scale, red flags at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    ColumnExpressionArgument,
    Insert,
    Select,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased, contains_eager
from sqlalchemy.sql.dml import ReturningInsert

from server.errors import Conflict, DomainError, InvalidInput, NotFound
from server.models import (
    Alert,
    Answer,
    CheckIn,
    Clinician,
    DeliveryEvent,
    Patient,
    Response,
    Treatment,
)
from server.models.treatments import OPEN_STATUSES
from server.protocols import Value, item_bank
from server.services import outcomes
from server.services.alerting.notices import schedule_notices
from server.services.audit import record_event
from server.services.contacts import emergency_words
from server.services.red_flags import Flag, evaluate, flags_for, raise_alerts
from server.services.sql import table_of

# what a clinician may back-enter: answers collected by phone, on paper or in clinic
ENTRY_SOURCES = ("phone", "paper", "clinic")
# a device clock a little fast is not an error; a time further ahead is a typo
ENTRY_CLOCK_SKEW = timedelta(minutes=2)
# whose check-in may be answered: the patient's own, or any of a clinician's clinic
Owner = Literal["patient", "clinic"]


@dataclass(frozen=True)
class AnswerResult:
    """A stored response, the advice to show now, and whether it was a replay."""

    response: Response  # to read: a new one is stored already, outside the session
    flags: list[Flag]
    is_replay: bool
    next_checkin_at: datetime | None


def check_answers(answers: dict[str, object], *, asked: list[str]) -> dict[str, Value]:
    """Each answer against its item: asked here, on its scale; nulls are skipped items."""
    bank = item_bank()
    errors: dict[str, list[str]] = {}
    checked: dict[str, Value] = {}
    for code, value in answers.items():
        if value is None:
            continue
        if code not in asked:
            errors[f"answers.{code}"] = ["this check-in does not ask this item"]
            continue
        try:
            checked[code] = bank[code].check(value)
        except ValueError as reason:
            errors[f"answers.{code}"] = [str(reason)]
    for code in checked:
        condition = bank[code].enable_when
        if condition and checked.get(condition["item"]) != condition["equals"]:
            expected = json.dumps(condition["equals"])  # JSON's true, not Python's True
            errors[f"answers.{code}"] = [f"only asked when {condition['item']} is {expected}"]
    if errors:
        raise InvalidInput("some answers are not valid; see errors", errors=errors)
    if not checked:
        raise InvalidInput("give at least one answer; any item may be skipped", field="answers")
    return checked


def _answer_rows(
    checked: dict[str, Value], *, treatment: Treatment, slot: str, elapsed_hours: float
) -> list[dict[str, Any]]:
    """The rows of checked answers, each with what the analytics group it by."""
    bank = item_bank()
    rows = []
    for code, value in checked.items():
        value_num, value_text = bank[code].to_columns(value)
        rows.append(
            {
                "item_code": code,
                "value_num": value_num,
                "value_text": value_text,
                "treatment_id": treatment.id,
                "clinic_id": treatment.clinic_id,
                "modality": treatment.modality,
                "slot": slot,
                "elapsed_hours": elapsed_hours,
            }
        )
    return rows


def hours_since(treatment: Treatment, moment: datetime) -> float:
    """Hours from the treatment's T0 to ``moment`` (negative before it)."""
    return (moment - treatment.treated_at).total_seconds() / 3600


def answers_of(response: Response) -> dict[str, Value | None]:
    """A response's answers as {item code: value}."""
    bank = item_bank()
    return {
        answer.item_code: bank[answer.item_code].from_columns(answer.value_num, answer.value_text)
        for answer in response.answers
    }


def baseline_of(session: Session, treatment_id: int) -> dict[str, Value]:
    """The treatment's baseline answers (empty when none was recorded)."""
    response = session.scalar(
        select(Response).filter_by(treatment_id=treatment_id, slot="baseline")
    )
    if response is None:
        return {}
    return {code: value for code, value in answers_of(response).items() if value is not None}


def record_baseline(
    session: Session,
    *,
    treatment: Treatment,
    answers: dict[str, object],
    asked: list[str],
    answered_at: datetime,
    entered_by_id: int | None,
) -> Response:
    """Store the pre-needling answers given in clinic as the treatment's baseline."""
    try:
        checked = check_answers(answers, asked=asked)
    except InvalidInput as error:
        raise InvalidInput(
            "the baseline is not valid; see errors",
            errors={
                key.replace("answers", "baseline", 1): reasons
                for key, reasons in error.errors.items()
            },
        ) from None
    response = Response(
        client_id=uuid.uuid4(),
        treatment_id=treatment.id,
        slot="baseline",
        answered_at=answered_at,
        source="baseline",
        entered_by_id=entered_by_id,
        answers=[
            Answer(**row)
            for row in _answer_rows(
                checked,
                treatment=treatment,
                slot="baseline",
                elapsed_hours=hours_since(treatment, answered_at),
            )
        ],
    )
    session.add(response)
    return response


def answer_checkin(
    session: Session,
    *,
    patient: Patient,
    checkin_id: int,
    client_id: uuid.UUID,
    answers: dict[str, object],
    note: str | None,
    now: datetime,
    answered_at: datetime | None = None,
    offline_grace: timedelta = timedelta(0),
) -> AnswerResult:
    """Store a patient's answer to their own check-in; the same client_id replays.

    It is judged by when the patient answered (``answered_at``, from the phone; else ``now``,
    when it arrived), which must lie in the window. A phone that was offline sends its saved
    answers late, so one may arrive up to ``offline_grace`` after the window closed.

    All reads come before the first write, and each is bounded by the patient's own rows, so
    SQLite's one write lock is held only for the INSERTs and UPDATEs and another web worker
    answers meanwhile. The check-in is read ``FOR UPDATE`` (on PostgreSQL: the check-in and its
    treatment rows; SQLite has no row locks), and two answers to the same check-in still cannot
    both be stored: a response's ``checkin_id`` is unique, so the second to commit fails, and
    the view runs it again (``commit_or_replay``), now a replay or "already answered".
    """
    # every read and check first, the writes last: on SQLite the first INSERT takes the one
    # write lock, held until the view commits. No autoflush meanwhile, so nothing pending (the
    # device token's last use, noted at sign-in) is written early and takes the lock with it
    with session.no_autoflush:
        found = _locked_checkin(
            session, checkin_id, owner=("patient", patient.id), client_id=client_id, now=now
        )
        checkin = found.checkin
        replay = _replay_of(session, found, answers=answers, note=note)
        if replay is not None:
            return _result(replay, found, is_replay=True)
        _check_window(
            checkin, patient, answered_at=answered_at, now=now, offline_grace=offline_grace
        )
        answered_at = now if answered_at is None else answered_at.astimezone(UTC)
        prepared = _prepare(session, checkin, answers=answers, answered_at=answered_at, now=now)
    response = _store_response(
        session,
        checkin,
        prepared,
        client_id=client_id,
        answered_at=answered_at,
        source="app",
        entered_by_id=None,
        note=note,
        now=now,
    )
    return AnswerResult(response, prepared.flags, False, found.next_checkin_at)


def enter_response(
    session: Session,
    *,
    clinician: Clinician,
    checkin_id: int,
    client_id: uuid.UUID,
    answers: dict[str, object],
    answered_at: datetime,
    source: str,
    note: str | None,
    now: datetime,
) -> AnswerResult:
    """Back-enter answers a clinician collected another way (phone, paper, in clinic), even
    after the patient's window closed; the same client_id replays."""
    with session.no_autoflush:  # reads first, as answer_checkin does
        found = _locked_checkin(
            session,
            checkin_id,
            owner=("clinic", clinician.clinic_id),
            client_id=client_id,
            now=now,
        )
        checkin = found.checkin
        replay = _replay_of(session, found, answers=answers, note=note)
        if replay is not None:
            return _result(replay, found, is_replay=True)
        _check_entry(checkin, answered_at=answered_at, source=source, now=now)
        answered_at = answered_at.astimezone(UTC)
        prepared = _prepare(session, checkin, answers=answers, answered_at=answered_at, now=now)
    response = _store_response(
        session,
        checkin,
        prepared,
        client_id=client_id,
        answered_at=answered_at,
        source=source,
        entered_by_id=clinician.id,
        note=note,
        now=now,
    )
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="response.entered",
        target=f"checkin:{checkin.id}",
        at=now,
        details={"response_id": response.id, "source": source},
        patient_id=checkin.treatment.patient_id,
    )
    return AnswerResult(response, prepared.flags, False, found.next_checkin_at)


@dataclass(frozen=True)
class Entry:
    """One check-in's answers as a clinician back-enters them."""

    checkin_id: int
    client_id: uuid.UUID
    answers: dict[str, object]
    answered_at: datetime


def enter_responses(
    session: Session,
    *,
    clinician: Clinician,
    entries: Mapping[str, Entry],
    source: str,
    note: str | None,
    now: datetime,
) -> list[AnswerResult]:
    """Back-enter several check-ins' answers at once (a patient's paper diary of a week), each
    as ``enter_response`` does: the caller commits once, so all are stored or none. A refused
    entry's reasons are named ``<its key>.<field>``, the key being the caller's."""
    if not entries:
        raise InvalidInput("enter the answers of at least one check-in", field="entries")
    results = []
    for key, entry in entries.items():
        try:
            results.append(
                enter_response(
                    session,
                    clinician=clinician,
                    checkin_id=entry.checkin_id,
                    client_id=entry.client_id,
                    answers=entry.answers,
                    answered_at=entry.answered_at,
                    source=source,
                    note=note,
                    now=now,
                )
            )
        except DomainError as error:
            named = {f"{key}.{field}": reasons for field, reasons in error.errors.items()}
            raise type(error)(error.message, errors=named) from error
    return results


@dataclass(frozen=True)
class _Found:
    """The check-in to answer, with its treatment, and what the answer needs of the rows
    around it, all read by one statement."""

    checkin: CheckIn
    replay_id: int | None  # the response already stored under this client_id, if any
    next_checkin_at: datetime | None  # when the patient's next check-in (not this one) opens


def _locked_checkin(
    session: Session,
    checkin_id: int,
    *,
    owner: tuple[Owner, int],
    client_id: uuid.UUID,
    now: datetime,
) -> _Found:
    """The check-in, if its treatment is the owner's (a patient's, or a clinic's)."""
    kind, owner_id = owner
    row = session.execute(
        _locked_checkin_statement(kind),
        {"checkin_id": checkin_id, "owner_id": owner_id, "client_id": client_id, "now": now},
    ).first()
    if row is None:
        raise NotFound("no such check-in")
    checkin, replay, next_due = row
    if replay is None and checkin.status == "answered":
        # PostgreSQL: when FOR UPDATE waited for a twin of this answer to commit, it returns the
        # check-in as the twin left it but the subqueries as they were before it. Ask again: a
        # new statement sees the twin's response, and this request becomes its replay
        replay = session.scalar(select(Response.id).where(Response.client_id == client_id))
    return _Found(checkin, replay, next_due)


@cache
def _locked_checkin_statement(owner: Owner) -> Select[CheckIn, int | None, datetime | None]:
    # one round trip: the check-in, its treatment, a response already stored under this
    # client_id and the patient's next check-in. Locked: a concurrent replay of the same
    # answer waits here and then finds the stored response instead of a check-in already
    # answered. Built once per kind of owner, its values bound at each call: building it
    # (aliases, subqueries) cost more than the database spends running it
    checkin_id: BindParameter[int] = bindparam("checkin_id")
    owned = {"patient": Treatment.patient_id, "clinic": Treatment.clinic_id}[owner]
    replay_id = select(Response.id).where(Response.client_id == bindparam("client_id"))
    upcoming = _next_due(Treatment.patient_id, now=bindparam("now"), besides=checkin_id)
    return (
        select(CheckIn, replay_id.scalar_subquery(), upcoming.scalar_subquery())
        .join(Treatment)
        .options(contains_eager(CheckIn.treatment))
        .where(CheckIn.id == checkin_id, owned == bindparam("owner_id"))
        .with_for_update()
    )


def _replay_of(
    session: Session, found: _Found, *, answers: dict[str, object], note: str | None
) -> Response | None:
    """The response already stored under this client_id, when this request is a retry of it;
    the same client_id with other answers is a client's mistake, never silently dropped."""
    if found.replay_id is None:
        return None
    replay = session.get_one(Response, found.replay_id)
    if replay.checkin_id != found.checkin.id:
        raise Conflict("this client_id was already used for another answer", field="client_id")
    stored = {code: value for code, value in answers_of(replay).items() if value is not None}
    try:
        same = check_answers(answers, asked=found.checkin.items) == stored and note == replay.note
    except InvalidInput:
        same = False
    if not same:
        raise Conflict(
            "this client_id was already used for different answers; send new answers with a "
            "new client_id",
            field="client_id",
        )
    return replay


@dataclass(frozen=True)
class _Prepared:
    """What storing an answer needs, read and worked out before the first write."""

    checked: dict[str, Value]
    elapsed_h: float
    rule_ids: list[str]
    flags: list[Flag]
    is_new_alert: bool  # a flag whose rule has not yet fired for this treatment
    known: outcomes.Known


def _prepare(
    session: Session,
    checkin: CheckIn,
    *,
    answers: dict[str, object],
    answered_at: datetime,
    now: datetime,
) -> _Prepared:
    """Check the answers and read what their storing needs: each read here is bounded by the
    treatment's or the patient's own rows (tests/test_answer_plans.py)."""
    checked = check_answers(answers, asked=checkin.items)
    treatment = checkin.treatment
    # red flags depend on the time since T0 at which the patient answered, not was recorded
    elapsed_h = hours_since(treatment, answered_at)
    known = outcomes.known_readings(session, treatment)
    rule_ids = evaluate(checked, baseline=known.baseline, elapsed_h=elapsed_h)
    flags = flags_for(rule_ids, emergency_number=emergency_words(treatment.patient))
    fired = (
        set(session.scalars(select(Alert.rule).filter_by(treatment_id=treatment.id)))
        if flags
        else set()
    )
    return _Prepared(
        checked,
        elapsed_h,
        rule_ids,
        flags,
        is_new_alert=any(flag.rule not in fired for flag in flags),
        known=known,
    )


def _store_response(
    session: Session,
    checkin: CheckIn,
    prepared: _Prepared,
    *,
    client_id: uuid.UUID,
    answered_at: datetime,
    source: str,
    entered_by_id: int | None,
    note: str | None,
    now: datetime,
) -> Response:
    """Store the response, mark the check-in answered, keep the treatment's outcome and raise
    its red flags: INSERTs and UPDATEs, with no read between them but on the rare paths (an
    alert to route, an answer to the same treatment stored meanwhile)."""
    treatment = checkin.treatment
    stored = {
        "client_id": client_id,
        "treatment_id": treatment.id,
        "checkin_id": checkin.id,
        "slot": checkin.slot,
        "answered_at": answered_at,
        "source": source,
        "entered_by_id": entered_by_id,
        "note": note,
        "flagged_rules": prepared.rule_ids,
        "created_at": now,  # when it arrived, which answered_at may precede by days
    }
    rows = _answer_rows(
        prepared.checked, treatment=treatment, slot=checkin.slot, elapsed_hours=prepared.elapsed_h
    )
    # Core statements built once, not the unit of work: its bookkeeping for these few rows
    # cost more than the database spent storing them
    response_id = session.execute(_insert_response(), stored).scalar_one()
    session.execute(_insert_answers(), [{**row, "response_id": response_id} for row in rows])
    session.execute(
        _insert_delivery_event(),
        {"checkin_id": checkin.id, "at": answered_at, "kind": "answered", "channel": source},
    )
    session.execute(_mark_answered(), {"checkin_id": checkin.id, "at": answered_at})
    session.expire(checkin, ["status", "answered_at"])  # updated around it: read when asked
    # what the reply and an audit event read, stored already and so kept out of the session;
    # the treatment the object, not its id: the reply reads it without a query
    response = Response(
        id=response_id, treatment=treatment, answers=[Answer(**row) for row in rows], **stored
    )
    added = [
        outcomes.Reading(checkin.slot, row["item_code"], row["value_num"], prepared.elapsed_h)
        for row in rows
        if row["item_code"] in outcomes.ITEMS and row["value_num"] is not None
    ]
    outcomes.refresh_with(session, treatment=treatment, known=prepared.known, added=added)
    if prepared.is_new_alert:  # raise_alerts reads the fired rules again, under the lock
        alerts = raise_alerts(
            session, treatment=treatment, response=response, flags=prepared.flags, now=now
        )
        schedule_notices(session, alerts=alerts, treatment=treatment, now=now)
    return response


@cache
def _insert_response() -> ReturningInsert[tuple[int]]:
    responses = table_of(Response)
    return insert(responses).returning(responses.c.id)


@cache
def _insert_answers() -> Insert:
    return insert(table_of(Answer))


@cache
def _insert_delivery_event() -> Insert:
    return insert(table_of(DeliveryEvent))


@cache
def _mark_answered() -> Update:
    checkins = table_of(CheckIn)
    return (
        update(checkins)
        .where(checkins.c.id == bindparam("checkin_id"))
        .values(status="answered", answered_at=bindparam("at"))
    )


def _result(response: Response, found: _Found, *, is_replay: bool) -> AnswerResult:
    # the flags come from the stored rule ids, so a replay shows exactly the first advice
    patient = response.treatment.patient
    flags = flags_for(response.flagged_rules, emergency_number=emergency_words(patient))
    return AnswerResult(response, flags, is_replay, found.next_checkin_at)


def _check_entry(checkin: CheckIn, *, answered_at: datetime, source: str, now: datetime) -> None:
    if source not in ENTRY_SOURCES:
        raise InvalidInput(f"source must be one of: {', '.join(ENTRY_SOURCES)}", field="source")
    if checkin.status == "answered":
        raise Conflict("this check-in was already answered", field="checkin")
    if checkin.status == "cancelled":
        raise Conflict("this check-in was cancelled", field="checkin")
    if answered_at.tzinfo is None:
        raise InvalidInput("give the time with its UTC offset", field="answered_at")
    if answered_at < checkin.treatment.treated_at:
        raise InvalidInput("the answers cannot predate the treatment", field="answered_at")
    if answered_at > now + ENTRY_CLOCK_SKEW:
        raise InvalidInput("the answers cannot be given in the future", field="answered_at")
    if answered_at < checkin.due_at:
        # answers from before the check-in opened belong to an earlier time point: counted
        # here, they would show at the wrong place on every curve (and the 7 d responder rule)
        opens = checkin.due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise InvalidInput(
            f"this check-in opens at {opens}; enter earlier answers on an earlier check-in",
            field="answered_at",
        )


def _check_window(
    checkin: CheckIn,
    patient: Patient,
    *,
    answered_at: datetime | None,
    now: datetime,
    offline_grace: timedelta,
) -> None:
    if checkin.status == "answered":
        raise Conflict("this check-in was already answered", field="checkin")
    if checkin.status == "cancelled":
        raise Conflict("this check-in was cancelled by your clinic", field="checkin")
    local = ZoneInfo(patient.timezone)
    opens = checkin.due_at.astimezone(local).strftime("%a %d %b %H:%M")
    ends = checkin.expires_at.astimezone(local).strftime("%a %d %b %H:%M")
    if answered_at is None:  # judged by when it arrived
        if now < checkin.due_at:
            raise Conflict(f"this check-in is not open yet; it opens at {opens}", field="checkin")
        if checkin.status not in OPEN_STATUSES or now >= checkin.expires_at:
            raise Conflict(f"the time to answer this check-in ended at {ends}", field="checkin")
        return
    if answered_at.tzinfo is None:
        raise InvalidInput("give the time with its UTC offset", field="answered_at")
    if answered_at > now + ENTRY_CLOCK_SKEW:
        raise InvalidInput("the answers cannot be given in the future", field="answered_at")
    # the status may be 'missed' by now: that only says the window closed unanswered, and an
    # answer given in time but kept on an offline phone still turns it 'answered'
    if not checkin.due_at <= answered_at < checkin.expires_at:
        raise InvalidInput(
            f"this check-in is open from {opens} to {ends}; these answers were given outside it",
            field="answered_at",
        )
    if now >= checkin.expires_at + offline_grace:
        until = (checkin.expires_at + offline_grace).astimezone(local).strftime("%a %d %b %H:%M")
        raise Conflict(
            f"answers saved on the phone were taken until {until}; these arrived later",
            field="answered_at",
        )


def next_checkin_at(
    session: Session, *, patient_id: int, now: datetime, besides: int | None = None
) -> datetime | None:
    """When the patient's next check-in opens, for the confirmation screen; ``besides``: one
    being answered, whose answer is not stored yet."""
    due: datetime | None = session.scalar(_next_due(patient_id, now=now, besides=besides))
    return due


def _next_due(
    patient_id: int | ColumnExpressionArgument[int],
    *,
    now: datetime | ColumnExpressionArgument[datetime],
    besides: int | ColumnExpressionArgument[int] | None,
) -> Select[datetime]:
    """``next_checkin_at``'s query; ``patient_id`` may be a column of an enclosing query (its
    own tables are aliases, so they are never taken for that query's), the others parameters."""
    checkin, treatment = aliased(CheckIn), aliased(Treatment)
    query = select(func.min(checkin.due_at)).where(
        checkin.treatment_id.in_(
            # correlated, when given a column, to the enclosing query two levels up
            select(treatment.id)
            .where(treatment.patient_id == patient_id)
            .correlate_except(treatment)
        ),
        checkin.status == "scheduled",
        checkin.due_at > now,
    )
    if besides is not None:
        query = query.where(checkin.id != besides)
    return query


def due_checkins(
    session: Session, *, patient: Patient, now: datetime, status: str = "due"
) -> list[CheckIn]:
    """The patient's check-ins: open now ('due'), still to come ('upcoming') or all of them."""
    query = select(CheckIn).where(CheckIn.treatment_id.in_(_treatments_of(patient.id)))
    if status == "due":
        query = query.where(
            CheckIn.status.in_(OPEN_STATUSES), CheckIn.due_at <= now, CheckIn.expires_at > now
        )
    elif status == "upcoming":
        query = query.where(CheckIn.status == "scheduled", CheckIn.due_at > now)
    # sorted here, not by the database: a planner that saw ORDER BY due_at would walk the
    # (status, due_at) index in its order, over every clinic's check-ins, to skip a sort of a few
    return sorted(session.scalars(query), key=lambda checkin: (checkin.due_at, checkin.id))


def _treatments_of(patient_id: int) -> Select[int]:
    """The patient's treatments, where a patient's check-ins are looked up from: through them
    (``(treatment_id, status, due_at)``), never by walking ``(status, due_at)``, which holds
    every clinic's check-ins and would make a patient's requests slower as the network grows.
    As a join, SQLite's planner without statistics takes that walk (tests/test_answer_plans)."""
    return select(Treatment.id).where(Treatment.patient_id == patient_id)


def patient_checkin(session: Session, *, patient: Patient, checkin_id: int) -> CheckIn:
    """One of the patient's own check-ins; anyone else's is 'not found'."""
    checkin = session.scalar(
        select(CheckIn)
        .join(Treatment)
        .where(CheckIn.id == checkin_id, Treatment.patient_id == patient.id)
    )
    if checkin is None:
        raise NotFound("no such check-in")
    return checkin
