"""`ledger report`: the analysts' views as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
import sqlalchemy.exc
import typer
from rich.table import Table

from skill_ledger import migrate
from skill_ledger.cli.common import EXIT_UNREACHABLE, EXIT_USAGE, err, fail, first_line, out
from skill_ledger.database import DatabaseUnavailable, open_database
from skill_ledger.domain import format_time
from skill_ledger.readside import reports
from skill_ledger.readside.reports import ReportError, ReportResult, UnknownReport
from skill_ledger.settings import ConfigurationError, Settings

REPLICA_CONNECT_SECONDS = 2.0


class Format(StrEnum):
    """How `ledger report` prints its rows."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def text(value: Any) -> str:
    """One value as CSV and table cells show it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def as_table(result: ReportResult) -> Table:
    """A rich table of the rows (numbers right-aligned); a one-row report as column/value pairs."""
    if reports.find(result.name).one_row:
        pairs = Table(title=result.name, title_justify="left")
        pairs.add_column("column")
        pairs.add_column("value", justify="right")
        for record in result.records():
            for column, value in record.items():
                pairs.add_row(column, text(value))
        return pairs
    table = Table(title=result.name, title_justify="left")
    numeric = [
        bool(result.rows)
        and all(
            isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in result.rows
        )
        for i in range(len(result.columns))
    ]
    for column, is_number in zip(result.columns, numeric, strict=True):
        table.add_column(column, justify="right" if is_number else "left", overflow="fold")
    for row in result.rows:
        table.add_row(*(text(value) for value in row))
    return table


def as_csv(result: ReportResult) -> str:
    """Header line and rows, RFC 4180."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([text(value) for value in row] for row in result.rows)
    return buffer.getvalue()


def as_json(result: ReportResult) -> str:
    """A JSON array of objects keyed by column name."""
    return msgspec.json.encode(result.records()).decode() + "\n"


def listing() -> str:
    """Every report with its one-line description."""
    width = max(len(report.name) for report in reports.REPORTS)
    return "".join(f"{r.name:<{width}}  {r.description}\n" for r in reports.REPORTS)


def fetch(settings: Settings, name: str) -> ReportResult:
    """Run one report on a read replica (LEDGER_READ_DATABASE_URL), else on the primary."""
    if migrate.current(settings.database) is None:
        fail(f"the database {settings.database.render()} is not migrated: run `ledger db upgrade`")
    for url in settings.read_databases:  # a hot standby first: reports are reads
        replica = open_database(url, pool_size=1, connect_timeout=REPLICA_CONNECT_SECONDS)
        lost: tuple[type[Exception], ...] = (DatabaseUnavailable, *replica.connection_errors)
        try:
            return reports.run(replica, name)
        except lost as e:
            err.print(f"replica {url.render()} unavailable ({first_line(e)}): reading the primary")
        finally:
            replica.close()
    db = open_database(settings.database, pool_size=1)
    try:
        return reports.run(db, name)
    finally:
        db.close()


def report(
    name: Annotated[
        str | None, typer.Argument(help="Report to print (see --list).", show_default=False)
    ] = None,
    list_reports: Annotated[
        bool, typer.Option("--list", help="List the reports with a line on each, then exit.")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table (rich), csv or json.")
    ] = Format.TABLE,
) -> None:
    """Print a report view: daily rates, distributions, activity, backlog, disputes."""
    if list_reports:
        typer.echo(listing(), nl=False)
        return
    if name is None:
        fail("name a report, or use --list to see them", EXIT_USAGE)
    try:
        reports.find(name)
        settings = Settings.from_env()
    except (UnknownReport, ConfigurationError) as e:
        fail(str(e), EXIT_USAGE)
    try:
        result = fetch(settings, name)
    except ReportError as e:
        fail(str(e))
    except (DatabaseUnavailable, sqlalchemy.exc.OperationalError) as e:
        fail(
            f"cannot reach the database {settings.database.render()}: {first_line(e)}",
            EXIT_UNREACHABLE,
        )
    except sqlalchemy.exc.ProgrammingError as e:
        fail(f"the database refused the query: {first_line(e)}")
    if output is Format.TABLE:
        out.print(as_table(result))
    elif output is Format.CSV:
        typer.echo(as_csv(result), nl=False)
    else:
        typer.echo(as_json(result), nl=False)
