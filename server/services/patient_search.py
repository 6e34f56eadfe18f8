"""Finding a clinic's patients as a clinician types: any part of the code, or the words of the
name, in any case.

Names (``Patient.display_name``) are stored as typed, in clear text (trimmed by the forms), so
they are searched in SQL like codes. Every word of the search must be in the name, in any order
("lee ann" finds "Ann Lee"). Capitals never matter on PostgreSQL; SQLite's LIKE folds only the
unaccented letters A-Z, so there "émile" does not find "Émile". Accents always count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.models import Patient


@dataclass(frozen=True)
class PatientSearch:
    """What a search matches: the code containing it, or a name holding each of its words."""

    text: str
    by_code: ColumnElement[bool]
    by_name: ColumnElement[bool]

    @property
    def matches(self) -> ColumnElement[bool]:
        """A patient the search finds."""
        return or_(self.by_code, self.by_name)


@dataclass(frozen=True)
class SearchCounts:
    """How many of the clinic's patients a search finds, and how many by code and by name (a
    patient may match both)."""

    total: int
    by_code: int
    by_name: int


def _like_pattern(text: str) -> str:
    """The text with LIKE's wildcards escaped (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(
    column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None], text: str
) -> ColumnElement[bool]:
    return column.ilike(f"%{_like_pattern(text)}%", escape="\\")


def patient_search(query: str | None) -> PatientSearch | None:
    """The search for ``query``; None when it is blank (every patient)."""
    text = (query or "").strip()
    if not text:
        return None
    words = text.split()
    return PatientSearch(
        text=text,
        by_code=_contains(Patient.code, text),
        by_name=and_(*(_contains(Patient.display_name, word) for word in words)),
    )


def count_matches(
    session: Session, *, clinic_id: int, search: PatientSearch | None
) -> SearchCounts:
    """How many of the clinic's patients the search finds (all of them without one), in one
    statement."""
    by_code = search.by_code if search else false()
    by_name = search.by_name if search else false()
    total, code_count, name_count = session.execute(
        select(
            func.count(Patient.id),
            func.coalesce(func.sum(case((by_code, 1), else_=0)), 0),
            func.coalesce(func.sum(case((by_name, 1), else_=0)), 0),
        ).where(Patient.clinic_id == clinic_id, search.matches if search else true())
    ).one()
    return SearchCounts(int(total), int(code_count), int(name_count))
