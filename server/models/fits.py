"""Stored model fits: the adjusted comparison the worker fitted for one scope of the Compare page.

Fits take seconds, so the worker makes them and every gunicorn worker reads the same stored
result (a per-process cache could not be told that a clinic's answers changed). A row is keyed
by its scope (clinics and filters) and records the answer version it was fitted on: the count
and the highest id of the scope's clinics' answers, one index range to read; when either moves,
the worker fits again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class AdjustedFit(Base):
    """The adjusted comparison of one scope, as last fitted (``fitted_at`` NULL: not yet)."""

    __tablename__ = "adjusted_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    # the scope as canonical JSON text: {"clinic_ids": [...], "filters": {...}}
    scope_key: Mapped[str] = mapped_column(String(400), unique=True)
    clinic_ids: Mapped[list[int]] = mapped_column(JSON)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # when a page or the API last asked for this scope: the worker keeps fitting it while asked
    wanted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the answer version fitted on (NULL: not fitted yet)
    answer_count: Mapped[int | None]
    last_answer_id: Mapped[int | None]
    # the newest answer the fit read (the page's "on answers up to ...")
    answers_up_to: Mapped[datetime | None]
    fitted_at: Mapped[datetime | None]
    fit_seconds: Mapped[float | None]
    # a worker fitting it holds it until then, so two workers do not fit the same scope
    claimed_until: Mapped[datetime | None]
    # the fitted comparison (services.adjusted dumps and loads it); NULL: not fitted yet
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
