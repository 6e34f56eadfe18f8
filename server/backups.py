"""The whole database to a file and back, while the app runs: ``flask backup`` / ``restore``.

PostgreSQL goes through its own tools, ``pg_dump -Fc`` (one consistent snapshot, compressed)
and ``pg_restore --clean`` in one transaction, so a restore that fails half-way changes
nothing; their major version must be the server's or newer. SQLite goes through its online
backup API, which copies a consistent snapshot while other connections read and write, and
copies a backup back into the live file the same way. docs/production.md says when to run them.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import URL


class BackupFailed(Exception):
    """The copy could not be made or put back; the message says why (the tool's own words)."""


def back_up(url: URL, path: Path) -> None:
    """Write a copy of the database at ``url`` to ``path``; a file appears only when whole."""
    partial = path.with_name(path.name + ".partial")
    try:
        if url.get_backend_name() == "postgresql":
            _run(["pg_dump", "--format=custom", f"--file={partial}"], url)
        else:
            if not Path(_sqlite_file(url)).exists():
                raise BackupFailed(f"there is no database at {url.database}")
            _copy_sqlite(_sqlite_file(url), str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def restore(url: URL, path: Path) -> None:
    """Replace the contents of the database at ``url`` with the copy in ``path``."""
    if url.get_backend_name() == "postgresql":
        # --clean --if-exists: drop what the copy holds, then recreate it; --no-owner: the
        # restoring role owns everything, whoever made the copy
        options = ["--clean", "--if-exists", "--no-owner", "--single-transaction"]
        _run(["pg_restore", *options, str(path)], url)
        return
    _copy_sqlite(str(path), _sqlite_file(url))


def _copy_sqlite(source_file: str, target_file: str) -> None:
    """Copy one SQLite file's pages over another's with the online backup API: a consistent
    snapshot of the source while others write to it, written into the target under its lock."""
    try:
        with (
            closing(sqlite3.connect(source_file)) as source,
            closing(sqlite3.connect(target_file)) as target,
        ):
            source.backup(target)
    except sqlite3.Error as error:  # not a SQLite file, or the target locked too long
        raise BackupFailed(f"SQLite could not copy {source_file}: {error}") from error


def _sqlite_file(url: URL) -> str:
    """The SQLite file of ``url`` (an in-memory database has nothing to copy)."""
    if not url.database or url.database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up or restored")
    return url.database


def _run(command: list[str], url: URL) -> None:
    """Run a PostgreSQL client tool against ``url``; its errors become BackupFailed."""
    # the password through the environment, not the command line, where `ps` would show it;
    # the rest of the environment is passed on (PATH, and libpq's PGSSLROOTCERT and the like)
    environment = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    libpq_url = url.set(drivername="postgresql", password=None)
    database = libpq_url.render_as_string(hide_password=False)
    try:
        subprocess.run(  # noqa: S603 - a fixed tool, and the URL as one argument
            [*command, f"--dbname={database}"],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
        )
    except FileNotFoundError as error:
        raise BackupFailed(f"{command[0]} is not installed (PostgreSQL's client tools)") from error
    except subprocess.CalledProcessError as error:
        raise BackupFailed(f"{command[0]} failed: {error.stderr.strip()}") from error
