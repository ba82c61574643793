"""A private primary with a streaming hot standby (initdb, pg_basebackup -R), on ports of our own.

The shared server on 127.0.0.1:5432 is never touched. Ports come from 57000–57099, the range
these scale tests own on a machine shared with other work.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.e2e.private_postgres import SUPERUSER, PrivateCluster, postgres_bindir

PORTS = range(57000, 57100)
REPLICATION = "-c wal_level=replica -c max_wal_senders=8 -c hot_standby=on"
STANDBY = "-c hot_standby_feedback=on -c wal_receiver_status_interval=1s"


_next = [0]


def free_port_in_range() -> int:
    """A port of 57000–57099 nobody listens on right now; successive calls go round the range,
    so a port handed out but not yet bound is not handed out again soon."""
    for step in range(len(PORTS)):
        port = PORTS[(_next[0] + step) % len(PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _next[0] = (_next[0] + step + 1) % len(PORTS)
        return port
    raise RuntimeError("no free port in 57000–57099")


@dataclass
class ReplicatingCluster(PrivateCluster):
    """A PrivateCluster started with extra server options (replication, standby settings)."""

    options: str = ""

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            f"-c fsync=off -c full_page_writes=on {self.options}"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def basebackup_from(self, primary: PrivateCluster) -> None:
        """Clone `primary` into this cluster's directory as a standby (pg_basebackup -R)."""
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", SUPERUSER,
            "-D", str(self.datadir), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip

    def sql(self, statement: str, dbname: str = "postgres") -> object:
        """Run one statement in autocommit; its first column of the first row."""
        with psycopg.connect(self.url(dbname).conninfo(), autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
        return row[0] if row else None

    def wait_for_table(self, dbname: str, table: str, timeout: float = 30.0) -> None:
        """Wait until the standby has replayed the creation of `table` in `dbname`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.sql(f"SELECT to_regclass('{table}') IS NOT NULL", dbname):
                    return
            except psycopg.OperationalError:
                pass  # the database itself is not replayed yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay {dbname}.{table}")
            time.sleep(0.05)


def _directory() -> Path:
    root = Path(tempfile.mkdtemp(prefix="ledger-pg-scale-"))
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)
    return root


@contextmanager
def primary_and_standby() -> Iterator[tuple[ReplicatingCluster, ReplicatingCluster]]:
    """A started primary and a hot standby streaming from it; both stopped and deleted after."""
    bindir = postgres_bindir()
    primary = ReplicatingCluster(bindir, _directory(), free_port_in_range(), REPLICATION)
    clusters = [primary]
    try:
        primary.init()
        primary.start()
        standby = ReplicatingCluster(bindir, _directory(), free_port_in_range(), STANDBY)
        clusters.append(standby)
        standby.basebackup_from(primary)
        standby.start()
        yield primary, standby
    finally:
        for cluster in reversed(clusters):
            cluster.stop("immediate", check=False)
            shutil.rmtree(cluster.root, ignore_errors=True)
