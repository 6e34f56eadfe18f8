"""A PostgreSQL cluster of one test's or bench's own, on a free port, to stop and start at will.

Never the shared server on 5432: a test that restarts PostgreSQL makes its own cluster with
``initdb`` in a temporary directory (as the ``postgres`` user when run as root, which initdb
refuses), and removes it when done.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# the newest installed server's programs (Debian keeps them out of PATH)
_INSTALLED = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[4])
PG_BIN = Path(_INSTALLED[-1]).parent if _INSTALLED else None
UNAVAILABLE = None if PG_BIN else "no PostgreSQL server programs in /usr/lib/postgresql/*/bin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: its directory and port; ``stop`` and ``start`` it as often as asked."""

    directory: Path
    port: int
    as_user: tuple[str, ...]  # the command prefix that runs a program as the cluster's owner

    def url(self, database: str = "postgres") -> str:
        """A URL for one of its databases (user postgres, trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        assert PG_BIN is not None
        subprocess.run(  # noqa: S603 - the server's own programs, fixed arguments
            [*self.as_user, str(PG_BIN / program), *args],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        data, log = str(self.directory / "data"), str(self.directory / "server.log")
        self._run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast", *, check: bool = True) -> None:
        """Stop the server (``fast``: sessions are ended, as an operator's restart does)."""
        data = str(self.directory / "data")
        self._run("pg_ctl", "-D", data, "-m", mode, "-w", "stop", check=check)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A new cluster, started; stopped and removed afterwards."""
    if PG_BIN is None:
        raise RuntimeError(UNAVAILABLE)
    directory = Path(tempfile.mkdtemp(prefix="pg-cluster-"))
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
        shutil.chown(directory, "postgres", "postgres")
        as_user = ("runuser", "-u", "postgres", "--")
    cluster = PostgresCluster(directory, _free_port(), as_user)
    try:
        cluster._run(
            "initdb", "-D", str(directory / "data"), "-U", "postgres", "--auth=trust", "--no-sync"
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop("immediate", check=False)  # a test may have left it stopped
    finally:
        shutil.rmtree(directory, ignore_errors=True)
