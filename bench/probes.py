"""What the benchmark watches from outside: CPU time of a process tree, PostgreSQL backends."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

import psycopg

from skill_ledger.settings import DatabaseURL

PROC = Path("/proc")
SAMPLE_SECONDS = 0.05


def _stat(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields after it follow its last ')'.
    return text.rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """The process and all its descendants (uvicorn's supervisor and its workers)."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree.extend(children)
        frontier = children
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes used so far (from /proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


class BackendSampler:
    """The most PostgreSQL backends connected to one database while the block ran."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-sampler", daemon=True)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url.conninfo(), autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.url.dbname,),
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                self._stop.wait(SAMPLE_SECONDS)
