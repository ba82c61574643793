"""library: the bare eventsourcing Application.save rate on PostgreSQL, 1 and 16 threads."""

from __future__ import annotations

import threading
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.harness import Context, Metrics, Step
from skill_ledger.settings import DatabaseURL

THREADS = (1, 16)


class Tally(Aggregate):
    """The smallest useful aggregate: one event, one field."""

    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def add(self, amount: int) -> None:
        """Count."""
        self.count += amount


class TallyApp(Application[object]):
    """An application with the library's defaults (stdlib JSON transcoder, its own tables)."""

    name = "tally"


def library_env(url: DatabaseURL, threads: int) -> dict[str, str]:
    """The library's PostgreSQL settings; the pool holds one connection per thread."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.dbname,
        "POSTGRES_HOST": url.host,
        "POSTGRES_PORT": str(url.port),
        "POSTGRES_USER": url.user,
        "POSTGRES_PASSWORD": url.password,
        "POSTGRES_POOL_SIZE": str(threads),
    }


def saves_per_second(url: DatabaseURL, threads: int, seconds: float) -> float:
    """Each thread appends to its own aggregate (one event per save) until the time is up."""
    app = TallyApp(env=library_env(url, threads))
    try:
        counts = [0] * threads
        start = threading.Barrier(threads + 1)
        deadline: list[float] = []

        def work(index: int) -> None:
            tally = Tally()
            app.save(tally)
            start.wait()
            saved = 0
            while time.perf_counter() < deadline[0]:
                tally.add(1)
                app.save(tally)
                saved += 1
            counts[index] = saved

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        began = time.perf_counter()
        deadline.append(began + seconds)
        start.wait()
        for worker in workers:
            worker.join()
        return sum(counts) / (time.perf_counter() - began)
    finally:
        app.close()


def run(context: Context) -> Metrics:
    """A fresh database per thread count; the library creates its own tables."""
    metrics: Metrics = {}
    for threads in THREADS:
        with context.databases.fresh("library", migrate=False) as url:
            rate = saves_per_second(url, threads, context.sizes.library_seconds)
        metrics[f"library_save_per_s_{threads}"] = round(rate, 1)
        context.say(f"{threads:>2} threads: {rate:,.0f} saves/s")
    context.notes["library"] = (
        "eventsourcing Application + Aggregate with the library's defaults (JSON transcoder, "
        "table lock on insert), POSTGRES_POOL_SIZE = threads; one event per save, "
        f"{context.sizes.library_seconds:g} s per run"
    )
    return metrics


STEP = Step(
    name="library",
    title="library: bare eventsourcing Application.save",
    keys=tuple(f"library_save_per_s_{threads}" for threads in THREADS),
    run=run,
)
