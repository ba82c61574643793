"""A throwaway PostgreSQL cluster of our own, for tests that stop and start the server.

The shared server on 127.0.0.1:5432 serves every other test (and other work on the machine), so
it is never restarted. initdb refuses to run as root: as root the cluster's commands run as the
`postgres` user through runuser, in a directory handed to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import free_port

SUPERUSER = "postgres"


def postgres_bindir() -> Path:
    """The directory of initdb and pg_ctl: pg_config's, else the newest under /usr/lib."""
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(found) / "initdb").exists():
            return Path(found)
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries (initdb) found")
    return Path(candidates[-1]).parent


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1:port."""

    bindir: Path
    root: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        """initdb with trust authentication for local connections."""
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", SUPERUSER)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast", *, check: bool = True) -> None:
        """Stop (fast: disconnect clients, abort their transactions, shut down cleanly)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=check)

    def url(self, dbname: str = "postgres") -> DatabaseURL:
        """A database on this cluster."""
        return DatabaseURL(
            backend="postgresql", host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname
        )

    def create_database(self, name: str) -> DatabaseURL:
        """CREATE DATABASE; its URL."""
        with psycopg.connect(self.url().conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A fresh cluster, started; stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)
    cluster = PrivateCluster(postgres_bindir(), root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate", check=False)  # it may be stopped already
        shutil.rmtree(root, ignore_errors=True)
