"""Stored adjusted comparisons: the worker fits them, pages and the API read them.

A scope's row is made the first time a page or the API asks for it (every clinic's unfiltered
scope is made by the worker), and the worker fits it again whenever the scope's answer version
moved. The answer version is the count and the highest id of the answers of the scope's
clinics: one range of ``ix_answers_clinic_id_id`` to read, and it moves when an answer is stored
and when one is erased (a page compares only the newest id: one probe). A filtered scope
nobody asked for in ``FORGET_AFTER`` is dropped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.models import Answer, Clinic
from server.models.fits import AdjustedFit
from server.services.adjusted.comparison import Comparison, Difference, MeasureModel, compare
from server.services.analytics.scope import Filters, Scope
from server.services.protocols import clinic_protocols
from server.services.sql import dialect_of

FORGET_AFTER = timedelta(days=30)
CLAIM_FOR = timedelta(minutes=10)  # longer than the largest fit (bench/analytics.py)
WANTED_EVERY = timedelta(hours=1)  # how stale ``wanted_at`` may get before a page renews it


@dataclass(frozen=True)
class AnswerVersion:
    """How many answers a scope's clinics hold, and the newest's id."""

    count: int
    last_id: int | None


@dataclass(frozen=True)
class Stored:
    """What a page or the API shows of a scope's adjusted comparison, and how fresh it is."""

    comparison: Comparison | None  # None: not fitted yet
    fitted_at: datetime | None
    answers_up_to: datetime | None
    fit_seconds: float | None
    is_current: bool  # fitted on the answers there are now
    refit_within: timedelta  # the worker's interval: when a missing or stale fit is made


def scope_key(scope: Scope) -> str:
    """The scope's key: its clinics and filters (the grouping and thresholds do not change a
    fit), as canonical JSON."""
    return json.dumps(
        {"clinic_ids": sorted(scope.clinic_ids), "filters": _filters_json(scope.filters)},
        sort_keys=True,
    )


def answer_version(session: Session, clinic_ids: tuple[int, ...]) -> AnswerVersion:
    """The scope's answer version (one index range: cheap on every clinic's page load)."""
    row = session.execute(
        select(func.count(), func.max(Answer.id)).where(Answer.clinic_id.in_(clinic_ids))
    ).one()
    return AnswerVersion(int(row[0]), row[1])


def newest_answer_id(session: Session, clinic_ids: tuple[int, ...]) -> int | None:
    """The highest answer id of the scope's clinics: one index probe per clinic, cheap enough
    for every page load (the count, which notices erasures too, is the worker's to read)."""
    return session.scalar(select(func.max(Answer.id)).where(Answer.clinic_id.in_(clinic_ids)))


def stored(session: Session, *, scope: Scope, now: datetime, refit_within: timedelta) -> Stored:
    """The scope's stored comparison; asks the worker for it (a row) when there is none. Adds
    and flushes, never commits: the request owns the transaction."""
    key = scope_key(scope)
    fit = session.scalar(select(AdjustedFit).filter_by(scope_key=key))
    if fit is None:
        _want(session, scope, key, now)
        return Stored(None, None, None, None, False, refit_within)
    if now - fit.wanted_at > WANTED_EVERY:
        fit.wanted_at = now
        session.flush()
    return Stored(
        comparison=None if fit.result is None else load_comparison(fit.result),
        fitted_at=fit.fitted_at,
        answers_up_to=fit.answers_up_to,
        fit_seconds=fit.fit_seconds,
        # a new answer moves the newest id; an erasure does not, and the worker notices it
        is_current=fit.last_answer_id == newest_answer_id(session, scope.clinic_ids),
        refit_within=refit_within,
    )


def refit_stale(session: Session, *, now: datetime, worker: str = "") -> int:
    """The worker's job: make every clinic's unfiltered scope wanted, drop scopes nobody asked
    for lately, then fit each scope whose answers changed since its last fit. Commits after
    each fit (a fit takes seconds; what is done stays done). Returns how many were fitted."""
    for clinic_id in session.scalars(select(Clinic.id)):
        scope = Scope((clinic_id,))
        _want(session, scope, scope_key(scope), now)
    session.execute(delete(AdjustedFit).where(AdjustedFit.wanted_at < now - FORGET_AFTER))
    session.commit()
    fitted = 0
    ids = session.scalars(
        select(AdjustedFit.id).order_by(AdjustedFit.fitted_at.is_not(None), AdjustedFit.id)
    ).all()
    for fit_id in ids:
        fitted += _refit_one(session, fit_id, now)
    return fitted


def _refit_one(session: Session, fit_id: int, now: datetime) -> bool:
    fit = session.get(AdjustedFit, fit_id)
    if fit is None:
        return False
    clinic_ids = tuple(fit.clinic_ids)
    version = answer_version(session, clinic_ids)
    if fit.fitted_at is not None and (fit.answer_count, fit.last_answer_id) == (
        version.count,
        version.last_id,
    ):
        session.rollback()
        return False
    claimed = session.execute(  # one worker fits a scope; another skips it while claimed
        update(AdjustedFit)
        .where(
            AdjustedFit.id == fit_id,
            or_(AdjustedFit.claimed_until.is_(None), AdjustedFit.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM_FOR)
    )
    session.commit()
    if not claimed.rowcount:  # type: ignore[attr-defined]  # CursorResult has rowcount
        return False
    started = time.perf_counter()
    comparison = compare(session, scope=scope_of(session, clinic_ids, fit.filters))
    fit = session.get(AdjustedFit, fit_id)
    if fit is None:  # dropped meanwhile
        session.rollback()
        return False
    fit.result = dump_comparison(comparison)
    fit.answer_count, fit.last_answer_id = version.count, version.last_id
    fit.answers_up_to = comparison.answers_up_to
    fit.fitted_at = now
    fit.fit_seconds = round(time.perf_counter() - started, 3)
    fit.claimed_until = None
    session.commit()
    return True


def scope_of(session: Session, clinic_ids: tuple[int, ...], filters: dict[str, Any]) -> Scope:
    """The scope a stored row names, with a lone clinic's own protocols (as the page's)."""
    protocols = None
    if len(clinic_ids) == 1:
        in_force = clinic_protocols(session, clinic_id=clinic_ids[0])
        protocols = {protocol.modality: protocol for protocol, _ in in_force}
    return Scope(clinic_ids, _filters_of(filters), protocols=protocols)


def _want(session: Session, scope: Scope, key: str, now: datetime) -> None:
    """Insert the scope's row unless it is there (a concurrent request may insert it too)."""
    values = {
        "scope_key": key,
        "clinic_ids": sorted(scope.clinic_ids),
        "filters": _filters_json(scope.filters),
        "wanted_at": now,
    }
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    session.execute(insert(AdjustedFit).values(values).on_conflict_do_nothing())


def _filters_json(filters: Filters) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, date) else value
        for key, value in asdict(filters).items()
        if value is not None
    }


def _filters_of(raw: dict[str, Any]) -> Filters:
    def day(key: str) -> date | None:
        return date.fromisoformat(raw[key]) if raw.get(key) else None

    return Filters(
        date_from=day("date_from"),
        date_to=day("date_to"),
        clinician_id=raw.get("clinician_id"),
        region=raw.get("region"),
        course=raw.get("course"),
    )


def dump_comparison(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON for its row."""
    raw = asdict(comparison)
    up_to = comparison.answers_up_to
    raw["answers_up_to"] = up_to.isoformat() if up_to else None
    return raw


def load_comparison(raw: dict[str, Any]) -> Comparison:
    """The comparison from its row's JSON."""

    def model(fields: dict[str, Any]) -> MeasureModel:
        differences = [Difference(**d) for d in fields["differences"]]
        return MeasureModel(**(fields | {"differences": differences}))

    up_to = raw.get("answers_up_to")
    return Comparison(
        reference=raw["reference"],
        measures=[model(m) for m in raw["measures"]],
        responders=model(raw["responders"]) if raw.get("responders") else None,
        answers_up_to=datetime.fromisoformat(up_to) if up_to else None,
    )
