"""Red flags: which rules an answer meets, the alerts they raise, and acknowledging them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.models import Alert, AlertNotice, Clinician, Response, Treatment
from server.models.responses import ACK_ACTIONS
from server.protocols import Clause, Item, RedFlagRule, Value, red_flag_rules
from server.services.alerting.notices import cancel_notices
from server.services.audit import record_event


@dataclass(frozen=True)
class Flag:
    """A rule met by one submission, with the advice the patient must see at once."""

    rule: str
    severity: str
    summary: str
    advice: str


def _holds(clause: Clause, answers: dict[str, Value], baseline: dict[str, Value]) -> bool:
    value = answers.get(clause.item)
    if value is None:
        return False
    if clause.baseline_plus is not None:
        reference = baseline.get(clause.item)
        if not isinstance(reference, int) or isinstance(reference, bool):
            return False  # no baseline: no change rule (CLINICAL.md §5: never impute)
        threshold: Value = reference + clause.baseline_plus
    else:
        assert clause.value is not None  # noqa: S101 - the loader requires value or baseline_plus
        threshold = clause.value
    if clause.op == "==":
        # True == 1 in Python; a yes/no answer must not match a score of 1
        return type(value) is type(threshold) and value == threshold
    if isinstance(value, bool) or not isinstance(value, int) or not isinstance(threshold, int):
        return False
    return value >= threshold if clause.op == ">=" else value <= threshold


def _in_time(rule: RedFlagRule, elapsed_h: float) -> bool:
    """Whether the rule applies at this many hours after T0 (its span is [min, max))."""
    if rule.min_elapsed_h is not None and elapsed_h < rule.min_elapsed_h:
        return False
    return rule.max_elapsed_h is None or elapsed_h < rule.max_elapsed_h


def _in_window(rule: RedFlagRule, opens_h: float, closes_h: float) -> bool:
    """Whether the rule applies at some moment from opens_h (inclusive) to closes_h."""
    if rule.min_elapsed_h is not None and closes_h <= rule.min_elapsed_h:
        return False
    return rule.max_elapsed_h is None or opens_h < rule.max_elapsed_h


def evaluate(
    answers: dict[str, Value],
    *,
    baseline: dict[str, Value],
    elapsed_h: float,
    rules: tuple[RedFlagRule, ...] | None = None,
) -> list[str]:
    """The ids of the rules these answers meet, given the baseline and hours since T0."""
    return [
        rule.id
        for rule in (rules if rules is not None else red_flag_rules())
        if _in_time(rule, elapsed_h) and any(_holds(c, answers, baseline) for c in rule.clauses)
    ]


def _advice(rule: RedFlagRule, emergency_number: str) -> str:
    return rule.advice.replace("{emergency}", emergency_number)


def flags_for(rule_ids: list[str], *, emergency_number: str) -> list[Flag]:
    """The flags, with escalated severity and patient advice, for rules met together."""
    met = set(rule_ids)
    flags = []
    for rule in red_flag_rules():
        if rule.id not in met:
            continue
        escalated = rule.escalate_to is not None and met.intersection(rule.escalate_with)
        severity = rule.escalate_to if escalated and rule.escalate_to else rule.severity
        flags.append(Flag(rule.id, severity, rule.summary, _advice(rule, emergency_number)))
    return flags


@dataclass(frozen=True)
class Trigger:
    """The answers to one question that meet a red-flag rule at a check-in, with the advice
    they bring: what a phone shows at once when the answer cannot reach the server yet."""

    rule: str
    values: tuple[Value, ...]
    severity: str
    advice: str
    escalate_with: tuple[str, ...]
    escalate_to: str | None


def triggers(
    item: Item,
    *,
    baseline: dict[str, Value],
    window_h: tuple[float, float],
    emergency_number: str,
) -> list[Trigger]:
    """Which answers to this item meet which rule at a check-in open from ``window_h[0]`` to
    ``window_h[1]`` hours after T0; a rule counts when it can fire at any moment of that window
    (advice shown too readily is the safer mistake on a phone that is offline)."""
    found = []
    for rule in red_flag_rules():
        if not _in_window(rule, *window_h):
            continue
        clauses = [clause for clause in rule.clauses if clause.item == item.code]
        values = tuple(
            value
            for value in item.answer_values()
            if any(_holds(clause, {item.code: value}, baseline) for clause in clauses)
        )
        if values:
            advice = _advice(rule, emergency_number)
            found.append(
                Trigger(
                    rule.id, values, rule.severity, advice, rule.escalate_with, rule.escalate_to
                )
            )
    return found


def raise_alerts(
    session: Session, *, treatment: Treatment, response: Response, flags: list[Flag], now: datetime
) -> list[Alert]:
    """One alert per rule per treatment: a rule that already fired for it adds no second alert."""
    fired = set(session.scalars(select(Alert.rule).filter_by(treatment_id=treatment.id)))
    alerts = [
        Alert(
            clinic_id=treatment.clinic_id,
            patient_id=treatment.patient_id,
            treatment_id=treatment.id,
            response_id=response.id,
            rule=flag.rule,
            severity=flag.severity,
            summary=flag.summary,
            created_at=now,
            details={"slot": response.slot},
        )
        for flag in flags
        if flag.rule not in fired
    ]
    session.add_all(alerts)
    session.flush()
    return alerts


# what a clinician reads for each ACK_ACTIONS value
ACK_LABELS = {
    "called_patient": "Called the patient",
    "advised_emergency_care": "Advised emergency care",
    "booked_review": "Booked a review",
    "no_action_needed": "No action needed",
}

SEVERITY_ORDER = case({"urgent": 0, "same_day": 1, "routine": 2}, value=Alert.severity)


def list_alerts(
    session: Session, *, clinic_id: int, status: str = "open", patient_id: int | None = None
) -> list[Alert]:
    """The clinic's alerts, most severe and oldest first; status open, acknowledged or all."""
    query = select(Alert).filter_by(clinic_id=clinic_id)
    if status == "open":
        query = query.where(Alert.acknowledged_at.is_(None))
    elif status == "acknowledged":
        query = query.where(Alert.acknowledged_at.is_not(None))
    if patient_id is not None:
        query = query.filter_by(patient_id=patient_id)
    return list(session.scalars(query.order_by(SEVERITY_ORDER, Alert.created_at, Alert.id)))


def acknowledge_alert(
    session: Session,
    *,
    clinician: Clinician,
    alert_id: int,
    action: str,
    note: str | None = None,
    now: datetime,
) -> Alert:
    """Record that this clinician handled the alert and what they did (idempotent: the first
    acknowledgement is kept); its pending notices are cancelled, and the act is audited."""
    alert = session.scalar(select(Alert).filter_by(id=alert_id, clinic_id=clinician.clinic_id))
    if alert is None:
        raise NotFound("no such alert")
    if action not in ACK_ACTIONS:
        raise InvalidInput(f"must be one of: {', '.join(ACK_ACTIONS)}", field="action")
    # the first acknowledgement wins, also against one made at the same moment: the UPDATE
    # writes only while nobody has (a double click keeps the first, too)
    first = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.acknowledged_at.is_(None))
        .values(
            acknowledged_at=now,
            acknowledged_by_id=clinician.id,
            ack_action=action,
            ack_note=(note or "").strip() or None,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(alert)
    if first.rowcount == 0:  # type: ignore[attr-defined]  # CursorResult has rowcount
        return alert
    cancel_notices(session, alert=alert, now=now)
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="alert.acknowledged",
        target=f"alert:{alert.id}",
        at=now,
        details={"action": action, "severity": alert.severity},
        patient_id=alert.patient_id,
    )
    session.flush()
    return alert


def alert_notices(session: Session, *, clinic_id: int, alert_id: int) -> list[AlertNotice]:
    """An alert of the clinic's notices, step by step, in the order they were made."""
    alert = session.scalar(select(Alert.id).filter_by(id=alert_id, clinic_id=clinic_id))
    if alert is None:
        raise NotFound("no such alert")
    return list(
        session.scalars(
            select(AlertNotice)
            .filter_by(alert_id=alert_id)
            .order_by(AlertNotice.step, AlertNotice.id)
        )
    )


@dataclass(frozen=True)
class AlertHistory:
    """What became of an alert: who acknowledged it, and who was told, step by step."""

    acknowledged_by: str | None
    notices: list[AlertNotice]


def alert_histories(session: Session, *, alerts: Iterable[Alert]) -> dict[int, AlertHistory]:
    """Each alert's history, by its id (two queries, whatever the number of alerts)."""
    alerts = list(alerts)
    notices: dict[int, list[AlertNotice]] = {alert.id: [] for alert in alerts}
    for notice in session.scalars(
        select(AlertNotice)
        .where(AlertNotice.alert_id.in_(list(notices)))
        .order_by(AlertNotice.step, AlertNotice.id)
    ):
        notices[notice.alert_id].append(notice)
    acknowledgers = {alert.acknowledged_by_id for alert in alerts if alert.acknowledged_by_id}
    names: dict[int | None, str] = dict(
        session.execute(
            select(
                Clinician.id, func.coalesce(func.nullif(Clinician.name, ""), Clinician.email)
            ).where(Clinician.id.in_(acknowledgers))
        ).all()
    )
    return {
        alert.id: AlertHistory(names.get(alert.acknowledged_by_id), notices[alert.id])
        for alert in alerts
    }
