"""Realistic analytics data for bench/analytics.py, made fast: rows built in Python, then
bulk-loaded (COPY on PostgreSQL, executemany on SQLite) into a throwaway database whose schema
comes from ``db.create_all()``.

One clinic, eight clinicians, patients treated one to four times a week apart with one modality.
A treatment has its baseline response, given before the first needle (soreness, pain, the PSFS
activity and its score; acupuncture adds four well-being items), and a check-in per enabled time
point of its modality's default protocol: answered (82 %), missed, cancelled, or still open for
the latest treatments. An answered check-in's response holds its time point's items, the values
drawn around the courses of the demo data, so a response carries about six answers and
1,000,000 answers make about 35,000 treatments.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

from server.protocols import TimePoint, default_protocols, dump_timepoints, item_bank
from server.services.demo import (
    ACTIVITIES,
    ANSWER_RATE,
    PAIN_RELIEF_7D,
    REGIONS,
    SORENESS_COURSE,
)
from tests.databases import drop_postgres_database, postgres_database

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAYS = 730  # treatments spread over the last two years
CLINIC_ID = 1
CLINICIANS = 8
SKIP_RATE = 0.04  # an item left unanswered now and then
BRUISES = ("none", "small", "large", "bleeding")
BRUISE_WEIGHTS = (70, 26, 3.6, 0.4)
# every table the analytics read, in foreign-key order, with the columns the rows fill
COLUMNS = {
    "clinics": ("id", "name", "timezone", "created_at"),
    "clinicians": (
        *("id", "clinic_id", "email", "name", "password_hash", "role", "is_active"),
        "created_at",
    ),
    "patients": ("id", "clinic_id", "code", "timezone", "created_at"),
    "treatments": (
        *("id", "clinic_id", "patient_id", "clinician_id", "modality", "treated_at"),
        *("regions", "thoracic_region", "protocol", "created_at"),
    ),
    "checkins": (
        *("id", "treatment_id", "slot", "nominal_hours", "items", "reminder_after_s"),
        *("due_at", "expires_at", "status", "sent_at", "answered_at", "attempts"),
    ),
    "responses": (
        *("id", "client_id", "treatment_id", "checkin_id", "slot", "answered_at", "source"),
        *("flagged_rules", "created_at"),
    ),
    "answers": (
        *("id", "response_id", "item_code", "value_num", "value_text"),
        *("treatment_id", "clinic_id", "modality", "slot", "elapsed_hours"),
    ),
}
Row = tuple[object, ...]


@dataclass
class Dataset:
    """Rows per table in ``COLUMNS`` order, as values both databases read from text: times are
    naive UTC strings, UUIDs 32 hex digits, booleans 0/1, JSON already encoded."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: {table: [] for table in COLUMNS})

    def add(self, table: str, *values: object) -> int:
        """Append a row and return its id (ids are 1, 2, 3… per table)."""
        rows = self.rows[table]
        row_id = len(rows) + 1
        rows.append((row_id, *values))
        return row_id

    def count(self, table: str) -> int:
        """How many rows the table will hold."""
        return len(self.rows[table])


def stamp(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores it on SQLite (and PostgreSQL reads in a UTC session)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(answers: int, *, seed: int = 20261124) -> Dataset:
    """Patients, treatments, check-ins and responses until there are ``answers`` answers."""
    rng = random.Random(seed)
    dataset = Dataset()
    opened = stamp(NOW - timedelta(days=DAYS + 30))
    dataset.add("clinics", "Bench clinic", "America/Vancouver", opened)
    for number in range(1, CLINICIANS + 1):
        email = f"clinician{number}@bench.example"
        # "!" is no password hash: these clinicians cannot log in
        dataset.add(
            "clinicians", CLINIC_ID, email, f"Clinician {number}", "!", "clinician", 1, opened
        )
    while dataset.count("answers") < answers:
        _patient(rng, dataset)
    return dataset


def _patient(rng: random.Random, dataset: Dataset) -> None:
    """A patient and their course: one to four weekly treatments with one modality."""
    code = f"P{dataset.count('patients') + 1:06d}"
    first = NOW - timedelta(days=rng.randint(0, DAYS))
    # clinic hours in Vancouver (09:00-17:00), in UTC
    first = first.replace(hour=17, minute=0) + timedelta(minutes=15 * rng.randint(0, 32))
    patient_id = dataset.add("patients", CLINIC_ID, code, "America/Vancouver", stamp(first))
    modality = rng.choice(tuple(default_protocols()))
    for course in range(rng.choice((1, 1, 2, 2, 3, 4))):
        treated_at = first + timedelta(days=7 * course)
        if treated_at > NOW - timedelta(minutes=30):
            break
        _treatment(rng, dataset, patient_id, modality, treated_at)


def _treatment(
    rng: random.Random, dataset: Dataset, patient_id: int, modality: str, treated_at: datetime
) -> None:
    """A treatment, its baseline response and its check-ins (answered ones with a response)."""
    regions = rng.choice(REGIONS[modality])
    thoracic = int(any(region in ("neck", "shoulder", "upper_back") for region in regions))
    treatment_id = dataset.add(
        "treatments",
        *(CLINIC_ID, patient_id, rng.randint(1, CLINICIANS), modality, stamp(treated_at)),
        *(json.dumps(regions), thoracic, _protocol_json(modality), stamp(treated_at)),
    )
    baseline = _baseline(rng, modality)
    given = treated_at - timedelta(minutes=rng.randint(10, 60))
    given_at = stamp(given)
    response_id = dataset.add(
        "responses",
        *(_client_id(rng), treatment_id, None, "baseline", given_at, "baseline", "[]", given_at),
    )
    # what the services store beside each answer: treatment, clinic, modality, time point and
    # hours from T0
    hours = (given - treated_at).total_seconds() / 3600
    grouped = (treatment_id, CLINIC_ID, modality, "baseline", hours)
    for code, value in baseline.items():
        if isinstance(value, str):
            dataset.add("answers", response_id, code, None, value, *grouped)
        else:
            dataset.add("answers", response_id, code, value, None, *grouped)
    for point in default_protocols()[modality].timepoints:
        if point.enabled:
            _checkin(rng, dataset, treatment_id, modality, treated_at, point, baseline)


def _baseline(rng: random.Random, modality: str) -> dict[str, int | str]:
    """The answers given in clinic before the first needle."""
    baseline: dict[str, int | str] = {
        "soreness": rng.choice((0, 0, 1, 1, 2, 3)),
        "pain": rng.randint(2, 8),
        "mobility_activity": rng.choice(ACTIVITIES),
        "mobility": rng.randint(2, 6),
    }
    if modality == "acupuncture":
        baseline.update(
            wb_relaxed=rng.randint(3, 6),
            wb_sleep=rng.randint(3, 7),
            wb_energy=rng.randint(3, 6),
            wb_mood=rng.randint(4, 7),
        )
    return baseline


def _checkin(
    rng: random.Random,
    dataset: Dataset,
    treatment_id: int,
    modality: str,
    treated_at: datetime,
    point: TimePoint,
    baseline: dict[str, int | str],
) -> None:
    """One check-in of the treatment; when answered, its response and the answers."""
    due = treated_at + timedelta(hours=point.offset_h)
    # acupuncture's evening check-in closes at 23:59 local, about four hours after it opens
    expires = due + timedelta(hours=point.window_h or 4)
    status = _status(rng, due, expires)
    answered_at = None
    if status == "answered":
        answered_at = due + (min(expires, NOW) - due) * rng.uniform(0.02, 0.6)
    is_sent = status != "scheduled"
    reminder_s = None if point.reminder_after_h is None else int(point.reminder_after_h * 3600)
    checkin_id = dataset.add(
        "checkins",
        *(treatment_id, point.slot, point.offset_h, _items_json(point.items), reminder_s),
        *(stamp(due), stamp(expires), status, stamp(due) if is_sent else None),
        *(stamp(answered_at) if answered_at else None, int(is_sent)),
    )
    if answered_at is None:
        return
    answered = stamp(answered_at)
    response_id = dataset.add(
        "responses",
        *(_client_id(rng), treatment_id, checkin_id, point.slot, answered, "app", "[]", answered),
    )
    hours = (answered_at - treated_at).total_seconds() / 3600
    for code, number, text in _answers(rng, modality, point, baseline, hours):
        grouped = (treatment_id, CLINIC_ID, modality, point.slot, hours)
        dataset.add("answers", response_id, code, number, text, *grouped)


def _status(rng: random.Random, due: datetime, expires: datetime) -> str:
    """Scheduled or open for the latest treatments; else answered, missed or (rarely) cancelled."""
    if due > NOW:
        return "scheduled"
    if expires > NOW:
        return "answered" if rng.random() < 0.5 else "sent"
    draw = rng.random()
    if draw < 0.01:
        return "cancelled"
    return "answered" if draw < ANSWER_RATE else "missed"


def _answers(
    rng: random.Random,
    modality: str,
    point: TimePoint,
    baseline: dict[str, int | str],
    hours: float,
) -> list[tuple[str, int | None, str | None]]:
    """The time point's items answered around the expected course (as in the demo data)."""
    peak, tau = SORENESS_COURSE[modality]
    relief = PAIN_RELIEF_7D[modality] * min(1.0, hours / 168) * rng.uniform(0.3, 1.7)
    expected = {
        "soreness": int(baseline["soreness"]) + peak * math.exp(-hours / tau),
        "pain": int(baseline["pain"]) * (1 - relief) + (0.8 if hours < 24 else 0),
        "mobility": int(baseline["mobility"]) + 3.0 * min(1.0, hours / 168),
    }
    answers: list[tuple[str, int | None, str | None]] = []
    for code in point.items:
        kind = item_bank()[code].kind
        if rng.random() < SKIP_RATE:
            continue
        if kind == "scale":
            value = round(expected.get(code, 6.5) + rng.gauss(0, 1.0))
            answers.append((code, max(0, min(10, value)), None))
        elif kind == "boolean":
            answers.append((code, int(rng.random() < (0.005 if code[:3] == "rf_" else 0.2)), None))
        elif kind == "choice":
            answers.append((code, None, rng.choices(BRUISES, BRUISE_WEIGHTS)[0]))
        elif rng.random() < 0.15:  # free text, now and then
            answers.append((code, None, "Feeling better overall, thanks."))
    return answers or [("soreness", max(0, min(10, round(expected["soreness"]))), None)]


def _client_id(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128)).hex


@cache
def _protocol_json(modality: str) -> str:
    """The treatment's protocol snapshot, as the app stores it."""
    return json.dumps(dump_timepoints(default_protocols()[modality].timepoints))


@cache
def _items_json(items: tuple[str, ...]) -> str:
    return json.dumps(list(items))


@contextmanager
def throwaway_database(kind: str, workdir: Path) -> Iterator[str]:
    """An empty database for one run, removed afterwards: a file in ``workdir`` for SQLite,
    ``needling_bench_analytics_<pid>`` on the test PostgreSQL server."""
    if kind == "sqlite":
        path = workdir / f"analytics-{os.getpid()}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"needling_bench_analytics_{os.getpid()}"
    url = postgres_database(name)
    try:
        yield url
    finally:
        drop_postgres_database(name)


def load(url: str, dataset: Dataset) -> None:
    """Bulk-load the rows into the empty tables at ``url``, then refresh the planner statistics."""
    if url.startswith("sqlite:///"):
        _load_sqlite(Path(url.removeprefix("sqlite:///")), dataset)
    else:
        _load_postgresql(url, dataset)


def _load_sqlite(path: Path, dataset: Dataset) -> None:
    connection = sqlite3.connect(path)
    try:
        # a throwaway file: no fsync while loading, and a page cache big enough for the indexes
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        with connection:  # one transaction for every table
            for table, columns in COLUMNS.items():
                marks = ", ".join("?" for _ in columns)
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - our own names
                    dataset.rows[table],
                )
        connection.execute("ANALYZE")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _load_postgresql(url: str, dataset: Dataset) -> None:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")  # the naive time strings are UTC
        # the rows are consistent by construction: skip the per-row foreign-key triggers
        cursor.execute("SET session_replication_role = replica")
        for table, columns in COLUMNS.items():
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with cursor.copy(statement) as copy:
                for row in dataset.rows[table]:
                    copy.write_row(row)
            # the ids were given: move the sequence past them for the app's own inserts
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                (table, max(1, dataset.count(table))),
            )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
