"""What every `ledger` command shares: settings, opened services, errors as exit codes, progress."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NoReturn

import sqlalchemy.exc
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from skill_ledger import migrate
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.domain import LedgerError
from skill_ledger.ports import CommandObserver
from skill_ledger.services import Services
from skill_ledger.settings import ConfigurationError, Settings

EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
err = Console(stderr=True, soft_wrap=True)
out = Console()
ProgressCallback = Callable[[int, int], None]


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print an error to stderr and exit non-zero."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or a clean exit."""
    try:
        return Settings.from_env()
    except ConfigurationError as e:
        fail(str(e), EXIT_USAGE)


def first_line(error: BaseException) -> str:
    """The driver's message, without SQLAlchemy's wrapping."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


@contextmanager
def friendly_errors(settings: Settings) -> Iterator[None]:
    """Turn infrastructure and input errors into one-line messages and exit codes."""
    try:
        yield
    except (DatabaseUnavailable, sqlalchemy.exc.OperationalError) as e:
        fail(
            f"cannot reach the database {settings.database.render()}: {first_line(e)}",
            EXIT_UNREACHABLE,
        )
    except (LedgerError, ConfigurationError) as e:
        fail(str(e), EXIT_USAGE)


def check_migrated(settings: Settings) -> None:
    """Exit cleanly unless the database is migrated to this code's head."""
    current = migrate.current(settings.database)
    if current is None:
        fail(f"the database {settings.database.render()} is not migrated: run `ledger db upgrade`")
    if current != migrate.head():
        fail(
            f"the database {settings.database.render()} is at revision {current}, "
            f"not {migrate.head()}: run `ledger db upgrade`"
        )


@contextmanager
def opened_services(
    settings: Settings | None = None, *, observer: CommandObserver | None = None
) -> Iterator[Services]:
    """The services on a migrated database, closed afterwards; errors become exit codes."""
    settings = settings or load_settings()
    with friendly_errors(settings):
        check_migrated(settings)
        services = Services.open(settings, observer=observer)
        try:
            yield services
        finally:
            services.close()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch run.

    A run allocates millions of short-lived, acyclic objects (payload dicts, events, rows) that
    reference counting frees; the collector would only rescan what the run keeps in memory,
    costing about a fifth of verify's time for nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def progress(label: str, *, transient: bool = True) -> Iterator[ProgressCallback]:
    """A progress bar on stderr, fed by (done, total) callbacks (total 0: not known)."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


@contextmanager
def output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or FILE written whole or not at all (a temporary file renamed)."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(path.name + ".partial")
    try:
        stream = partial.open("wb")
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}", EXIT_USAGE)
    try:
        with stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
