"""Deploying a new projection version: the table rebuilt for it, swapped in when caught up."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from skill_ledger.readside import bluegreen
from skill_ledger.readside import rebuild as bulk
from skill_ledger.readside.tracking import Tracking

log = structlog.get_logger("skill_ledger.projector")
Stats = bulk.RebuildStats | bluegreen.SwapStats


def _figures(stats: bulk.RebuildStats | bluegreen.SwapStats) -> dict[str, float]:
    """A rebuild's figures for a log line."""
    figures = {"events": stats.events, "seconds": round(stats.seconds, 2)}
    if isinstance(stats, bluegreen.SwapStats):
        figures["swap_ms"] = round(stats.swap_ms, 1)
    return figures


class Upgrade:
    """Compares the version that built the table with the code's, and rebuilds when older.

    Blue-green where the backend swaps tables (in a background thread: the leader keeps
    projecting the live table meanwhile); in place, at once, elsewhere (SQLite: one process).
    """

    def __init__(
        self, tracking: Tracking, swaps_tables: bool, rebuild: Callable[[], Stats]
    ) -> None:
        self.tracking = tracking
        self.swaps_tables = swaps_tables
        self.rebuild = rebuild
        self._running: threading.Thread | None = None

    def check(self, version: int) -> None:
        """Start the rebuild for `version` if the table is older (a leader calls this)."""
        built = self.tracking.version()
        if built > version:
            log.warning("projection_newer_than_code", built=built, code=version)
        if built >= version or self._running is not None:
            return
        log.info("projection_upgrade_started", built=built, code=version)
        if not self.swaps_tables:
            self._run(version)
            return
        self._running = threading.Thread(
            target=self._run, args=(version,), name="projection-upgrade", daemon=True
        )
        self._running.start()

    def _run(self, version: int) -> None:
        try:
            stats = self.rebuild()
        except Exception as e:
            log.error("projection_upgrade_failed", error=f"{type(e).__name__}: {e}"[:300])
        else:
            log.info("projection_upgraded", version=version, **_figures(stats))
        finally:
            self._running = None
