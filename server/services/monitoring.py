"""What an operator watches, across every clinic: prompts waiting for a worker, patients no
channel reached, delivery failures, red-flag notices waiting, and how long alerts wait for a
person. Read-only; ``flask monitor`` prints it (docs/production.md says what each means).

The check-in and ledger counts are bounded by what is open now, not by history: check-ins by
status first (the dispatcher's indexes), the ledger only through the check-ins open now, notices
by status. Alerts are the exception: they are scanned whole (their one index leads with the
clinic), which stays cheap because a red flag is rare, one per rule per treatment at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.models import Alert, AlertNotice, CheckIn, DeliveryEvent
from server.models.patients import CHANNELS
from server.models.responses import SEVERITIES
from server.models.treatments import OPEN_STATUSES
from server.services.sql import days_between, dialect_of

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class ServiceFigures:
    """One reading of the service's queues; ages in seconds, 0 when nothing waits."""

    prompts_due: int  # first prompts and retries due now, not yet sent
    oldest_prompt_wait_s: float  # how long the longest-waiting of them has been due
    checkins_unreached: int  # open check-ins whose prompt gave up, with no e-mail or text sent
    delivery_failures: dict[str, int]  # failed attempts in the window, by channel (push, ...)
    notices_due: int  # red-flag notices to clinicians due now, not yet sent
    oldest_notice_wait_s: float
    # by severity (urgent, same_day, routine: each waits differently); 0 for none
    alerts_unacknowledged: dict[str, int]
    oldest_alert_wait_s: dict[str, float]  # the oldest red flag nobody has acknowledged yet
    alerts_acknowledged: int  # acknowledged in the window
    acknowledgement_mean_s: float  # from the alert to its acknowledgement, in the window
    acknowledgement_max_s: float


def service_figures(
    session: Session, *, now: datetime, window: timedelta = timedelta(hours=24)
) -> ServiceFigures:
    """The figures at ``now``; failures and acknowledgements are counted over ``window``."""
    dialect = dialect_of(session)

    def age_s(column: InstrumentedAttribute[datetime | None]) -> ColumnElement[float]:
        # times are bound as values, so SQLite compares like with like (it keeps text)
        return func.coalesce(func.max(days_between(dialect, now, column)), 0) * SECONDS_PER_DAY

    # as the dispatcher claims a prompt (services/delivery/claims.py), so the two agree
    prompt_due = and_(
        CheckIn.status == "scheduled", CheckIn.next_attempt_at <= now, CheckIn.expires_at > now
    )
    prompts = session.execute(
        select(func.count(), age_s(CheckIn.next_attempt_at)).where(prompt_due)
    ).one()
    open_now = and_(
        CheckIn.status.in_(OPEN_STATUSES), CheckIn.due_at <= now, CheckIn.expires_at > now
    )
    unreached = session.scalar(
        select(func.count()).where(
            open_now,
            CheckIn.status == "scheduled",
            CheckIn.next_attempt_at.is_(None),  # the pipeline gave up on the prompt
            CheckIn.messaged_at.is_(None),
        )
    )
    failures = session.execute(
        select(DeliveryEvent.channel, func.count())
        .join(CheckIn, CheckIn.id == DeliveryEvent.checkin_id)
        .where(open_now, DeliveryEvent.kind == "failed", DeliveryEvent.at > now - window)
        .group_by(DeliveryEvent.channel)
    ).all()
    notices = session.execute(
        select(func.count(), age_s(AlertNotice.due_at)).where(
            AlertNotice.status == "pending", AlertNotice.due_at <= now
        )
    ).one()
    open_alerts = {
        severity: (count, float(age))
        for severity, count, age in session.execute(
            select(Alert.severity, func.count(), age_s(Alert.created_at))
            .where(Alert.acknowledged_at.is_(None))
            .group_by(Alert.severity)
        )
    }
    waited = days_between(dialect, Alert.acknowledged_at, Alert.created_at) * SECONDS_PER_DAY
    acknowledged = session.execute(
        select(
            func.count(), func.coalesce(func.avg(waited), 0), func.coalesce(func.max(waited), 0)
        ).where(Alert.acknowledged_at > now - window)
    ).one()
    return ServiceFigures(
        prompts_due=prompts[0],
        oldest_prompt_wait_s=float(prompts[1]),
        checkins_unreached=unreached or 0,
        # every channel named, 0 included: an alarm on a series that is absent never fires
        delivery_failures=dict.fromkeys(CHANNELS, 0)
        | {channel or "unknown": count for channel, count in failures},
        notices_due=notices[0],
        oldest_notice_wait_s=float(notices[1]),
        alerts_unacknowledged={level: open_alerts.get(level, (0, 0.0))[0] for level in SEVERITIES},
        oldest_alert_wait_s={level: open_alerts.get(level, (0, 0.0))[1] for level in SEVERITIES},
        alerts_acknowledged=acknowledged[0],
        acknowledgement_mean_s=float(acknowledged[1]),
        acknowledgement_max_s=float(acknowledged[2]),
    )
