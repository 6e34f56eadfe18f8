"""SQL the services share across both databases: many ids bound as one parameter, many rows
inserted as one statement, an aggregate that collects a group's values, the dialect's name.

Delivery (batches of a thousand check-ins) and analytics (one row per series) both lean on
these; each helper keeps SQLite and PostgreSQL behind the same call.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Dialect,
    Select,
    Table,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from server.models import Base


def dialect_of(session: Session) -> str:
    """The name of the database the session talks to ("sqlite", "postgresql")."""
    return session.get_bind().dialect.name


def collect(dialect: str, column: Any) -> ColumnElement[Any]:
    """An aggregate gathering a column's values of each group into one value (an array on
    PostgreSQL, a JSON array on SQLite): one row per series instead of one per treatment."""
    if dialect == "postgresql":
        return func.array_agg(column)
    return func.json_group_array(column)


def collected(value: Any) -> list[Any]:
    """The values ``collect`` gathered, as a list."""
    return json.loads(value) if isinstance(value, str) else list(value)


def days_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """The days from one time column to another, as a fraction (SQLite keeps times as text)."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


class _IntegerArray(UserDefinedType[str]):
    """PostgreSQL's ``integer[]``, bound as its text form with the cast on the placeholder
    (``%(ids)s::INTEGER[]``): psycopg sends a ``str`` untyped, so the server takes the parameter
    as the array and parses it once. A cast around a parameter typed text
    (``CAST(%(ids)s::VARCHAR AS INTEGER[])``) is not folded, and is parsed again for every row
    scanned: 20 ms a query at a thousand ids, until psycopg prepares the statement."""

    cache_ok = True
    render_bind_cast = True

    def get_col_spec(self, **kw: Any) -> str:
        return "INTEGER[]"


class IdArray(TypeDecorator[list[int]]):
    """Integers bound as one PostgreSQL array literal (``'{1,2,3}'::integer[]``): psycopg
    adapts a list's items one by one in Python, a millisecond a thousand; this joins them in
    C. Only true integers are taken (``operator.index``), so nothing but digits reaches the
    literal."""

    impl = _IntegerArray
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> str | None:
        return None if value is None else "{" + ",".join(map(str, map(operator.index, value))) + "}"


def among(session: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY`` of one array parameter, so a batch's
    thousand ids make neither a thousand placeholders nor a new statement text each time."""
    values = list(ids)
    clause: ColumnElement[bool]
    if dialect_of(session) == "postgresql":
        clause = column == any_(bindparam(None, values, type_=IdArray()))
    else:
        clause = column.in_(values)
    return clause


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of the same columns; on PostgreSQL as one statement reading the rows
    from one JSON parameter (``json_to_recordset``: serialised in C, parsed by the server),
    instead of a statement per row or an array per column adapted item by item in Python."""
    if not rows:
        return
    if dialect_of(session) != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    document = json.dumps(rows, default=_json_value, separators=(",", ":"), allow_nan=False)
    recordset = (
        func.json_to_recordset(cast(bindparam(None, document, type_=Text), JSON))
        .table_valued(*(column(name, table.c[name].type) for name in columns))
        .render_derived(with_types=True)
    )
    session.execute(insert(table).from_select(columns, select(*recordset.c)))


def unclaimed(session: Session, column: Any, candidates: Select[Any]) -> ColumnElement[bool]:
    """``column IN candidates`` for a claim's UPDATE: on PostgreSQL the candidates are locked
    with ``FOR UPDATE SKIP LOCKED`` (rows another worker is claiming are passed over) and taken
    as one array, computed once and then looked up by primary key (``IN (SELECT …)`` may be
    planned as a join that reads the whole table, history and all); SQLite serialises writers."""
    if dialect_of(session) == "postgresql":
        locked = candidates.with_for_update(skip_locked=True).scalar_subquery()
        chosen: ColumnElement[bool] = column == any_(func.array(locked))
    else:
        chosen = column.in_(candidates.scalar_subquery())
    return chosen


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as UTCDateTime: a time without a zone is a bug
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a ledger value")


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements over many rows."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - a mapped class's table
    return table
