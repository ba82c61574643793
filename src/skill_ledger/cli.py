"""The `ledger` command: migrations, accounts, the projector and the server."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn, TypeVar

import psycopg
import sqlalchemy.exc
import typer
import uvicorn
from prometheus_client import start_http_server
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from skill_ledger import schema
from skill_ledger.accounts import AccountError
from skill_ledger.api.app import PROJECTOR_ENV, check_secret
from skill_ledger.cli_audit import audit_app
from skill_ledger.cli_report import report as report_command
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.demo import seed_demo
from skill_ledger.logs import configure_logging
from skill_ledger.metrics import PrometheusObserver
from skill_ledger.services import Services
from skill_ledger.settings import ConfigurationError, Settings

app = typer.Typer(
    help="Event-sourced ledger of football skill assessments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations (alembic).", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
licenses_app = typer.Typer(help="Student licenses.", no_args_is_help=True)
projection_app = typer.Typer(
    help="The football_skill_assessments projection.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(licenses_app, name="licenses")
app.add_typer(projection_app, name="projection")
app.command("report")(report_command)
app.add_typer(audit_app, name="audit")

err = Console(stderr=True)
out = Console()
T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error to stderr and exit non-zero."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or a clean exit."""
    try:
        return Settings.from_env()
    except ConfigurationError as e:
        fail(str(e), 2)


@contextmanager
def friendly_errors(settings: Settings) -> Iterator[None]:
    """Turn infrastructure and input errors into one-line messages and exit codes."""
    try:
        yield
    except (DatabaseUnavailable, psycopg.OperationalError, sqlalchemy.exc.OperationalError) as e:
        detail = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        fail(f"cannot reach the database {settings.database.render()}: {detail}", 3)
    except (AccountError, ConfigurationError) as e:
        fail(str(e), 2)


def open_services(settings: Settings) -> Services:
    """Open the services, failing cleanly when the database is not migrated or reachable."""
    current = schema.current(settings.database)
    if current is None:
        fail(f"the database {settings.database.render()} is not migrated: run `ledger db upgrade`")
    if current != schema.head():
        fail(
            f"the database {settings.database.render()} is at revision {current}, "
            f"not {schema.head()}: run `ledger db upgrade`"
        )
    return Services.open(settings)


def run(settings: Settings, action: Callable[[], T]) -> T:
    """Run an action with friendly errors."""
    with friendly_errors(settings):
        return action()
    raise AssertionError("unreachable")  # pragma: no cover


@app.callback()
def main_callback() -> None:
    """Configure logging once for every subcommand."""
    settings = load_settings()
    configure_logging(production=settings.is_production)


# -- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations (default: up to head)."""
    settings = load_settings()
    run(settings, lambda: schema.upgrade(settings.database, revision))
    out.print(schema.describe(run(settings, lambda: schema.current(settings.database))))


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target, e.g. -1.")]) -> None:
    """Revert migrations down to REVISION."""
    settings = load_settings()
    try:
        run(settings, lambda: schema.downgrade(settings.database, revision))
    except RuntimeError as e:
        fail(str(e))
    out.print(schema.describe(run(settings, lambda: schema.current(settings.database))))


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision."""
    settings = load_settings()
    out.print(schema.describe(run(settings, lambda: schema.current(settings.database))))


# -- users and licenses -------------------------------------------------------------------------


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Option(help="Login email (unique, case-insensitive).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="admin, instructor, student or auditor.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; prints the new user's id."""
    settings = load_settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    def add() -> int:
        services = open_services(settings)
        try:
            return services.accounts.add_user(email, name, role, password).id
        finally:
            services.close()

    print(run(settings, add))


@licenses_app.command("add")
def licenses_add(
    holder: Annotated[str, typer.Option(help="Email of the student holding the license.")],
) -> None:
    """Create a license; prints the new license id as the last line."""
    settings = load_settings()

    def add() -> int:
        services = open_services(settings)
        try:
            return services.accounts.add_license(holder)
        finally:
            services.close()

    print(run(settings, add))


# -- projector ------------------------------------------------------------------------------------


@app.command("project")
def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up, then exit.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics (projection delay) on this port."),
    ] = None,
) -> None:
    """Run the projector as its own process (follows the log until interrupted)."""
    settings = load_settings()

    def go() -> None:
        services = open_services(settings)
        if metrics_port is not None:
            services.projector.on_projected = PrometheusObserver().projected
            start_http_server(metrics_port, addr="127.0.0.1")
        try:
            if once:
                count = services.projector.catch_up()
                out.print(f"projected {count} events; position {services.projector.watch.position}")
                return
            stop = threading.Event()
            logging.getLogger("skill_ledger").info("projector started")
            try:
                services.projector.run(stop)
            except KeyboardInterrupt:
                stop.set()
        finally:
            services.close()

    run(settings, go)


@projection_app.command("rebuild")
def projection_rebuild() -> None:
    """Rebuild football_skill_assessments from the first event, with progress."""
    settings = load_settings()

    def go() -> None:
        services = open_services(settings)
        try:
            with Progress(
                TextColumn("rebuilding"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("events"),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            ) as progress:
                task = progress.add_task("rebuild", total=None)

                def on_progress(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total or None)

                stats = services.projector.rebuild(on_progress)
            out.print(
                f"rebuilt {stats.rows} rows from {stats.events} events in {stats.seconds:.2f} s "
                f"({stats.events_per_second:,.0f} events/s); position {stats.position}"
            )
        finally:
            services.close()

    run(settings, go)


@projection_app.command("status")
def projection_status() -> None:
    """Print the projection's position, the log's head and the lag."""
    settings = load_settings()

    def go() -> None:
        services = open_services(settings)
        try:
            status = services.projector.status()
            out.print(
                f"position {status.position}  head {status.head}  lag {status.lag_events} events"
            )
        finally:
            services.close()

    run(settings, go)


# -- server ---------------------------------------------------------------------------------------


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Run no projector here (use `ledger project`).")
    ] = False,
) -> None:
    """Serve the HTTP API (projector in-process unless --no-projector)."""
    settings = load_settings()
    try:
        check_secret(settings)
    except ConfigurationError as e:
        fail(str(e), 2)

    def prepare() -> None:
        if not settings.is_production:
            services = open_services(settings)
            try:
                accounts, license_id = seed_demo(services.accounts)
            finally:
                services.close()
            table = Table(title="Demo accounts (development only)")
            for column in ("email", "password", "role", "user id"):
                table.add_column(column)
            for account in accounts:
                table.add_row(
                    account.email, account.password, account.role.value, str(account.user_id)
                )
            err.print(table)
            err.print(f"Demo license id: [bold]{license_id}[/] (held by student@lfa.com)")
            if not settings.jwt_secret:
                os.environ["LEDGER_JWT_SECRET"] = secrets.token_urlsafe(48)
        else:
            open_services(settings).close()

    run(settings, prepare)
    os.environ[PROJECTOR_ENV] = "off" if no_projector else "on"
    err.print(f"Serving on http://{host}:{port} ({settings.database.render()})")
    uvicorn.run(
        "skill_ledger.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def main() -> None:
    """Console-script entry point."""
    app()
