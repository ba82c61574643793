"""The `ledger` command on real databases: migrations, accounts, projection, and its errors."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import Result
from typer.testing import CliRunner

from skill_ledger import migrate as schema
from skill_ledger.cli import app
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, PASSWORD, revision_below, seed_cast

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"
EVENT_STORE_REVISION = "2026_11_25_0900"
REPORTS_REVISION = "2026_11_25_0930"
Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI configures logging for its process; undo that for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def url_text(url: DatabaseURL | str) -> str:
    """The LEDGER_DATABASE_URL value for a test database."""
    return url if isinstance(url, str) else url.sqlalchemy_url()


@pytest.fixture
def ledger() -> Invoke:
    """Run `ledger ARGS…` in-process against a database URL."""
    runner = CliRunner()

    def invoke(url: DatabaseURL | str, *args: str, stdin: str | None = None) -> Result:
        return runner.invoke(
            app, list(args), input=stdin, env={"LEDGER_DATABASE_URL": url_text(url)}
        )

    return invoke


def said(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def assert_clean_failure(result: Result, *phrases: str) -> None:
    """Non-zero exit with a one-line-ish message naming the phrases, and no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    for phrase in phrases:
        assert phrase in said(result.stderr), result.stderr


def add_user(ledger: Invoke, url: DatabaseURL, email: str, role: str = "student") -> Result:
    """`ledger users add` with the password on stdin."""
    return ledger(
        url,
        *("users", "add", "--email", email, "--name", "Kim Lee", "--role", role),
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )


# -- db ------------------------------------------------------------------------------------------


def test_db_upgrade_then_current_prints_the_head(
    ledger: Invoke, empty_database_url: DatabaseURL
) -> None:
    assert ledger(empty_database_url, "db", "current").stdout.startswith("(none")

    upgraded = ledger(empty_database_url, "db", "upgrade")
    current = ledger(empty_database_url, "db", "current")

    assert upgraded.exit_code == 0, upgraded.output
    assert current.exit_code == 0, current.output
    assert current.stdout.splitlines()[0] == f"{schema.head()} (head)"
    assert schema.current(empty_database_url) == schema.head()


def test_db_downgrade_one_then_upgrade_head(
    ledger: Invoke, empty_database_url: DatabaseURL
) -> None:
    ledger(empty_database_url, "db", "upgrade")

    down = ledger(empty_database_url, "db", "downgrade", "-1")
    below = revision_below(schema.head())
    assert down.exit_code == 0, down.output
    assert down.stdout.splitlines()[0] == below
    assert ledger(empty_database_url, "db", "current").stdout.startswith(below)

    up = ledger(empty_database_url, "db", "upgrade", "head")
    assert up.exit_code == 0, up.output
    assert up.stdout.splitlines()[0] == f"{schema.head()} (head)"


def test_db_downgrade_refusing_to_drop_events_exits_with_the_reason(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)

    result = ledger(database_url, "db", "downgrade", "base")

    assert_clean_failure(result, "Refusing to drop the event store")
    assert schema.current(database_url) == schema.head()


def test_db_downgrade_that_would_drop_accounts_is_refused_unless_forced(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    services.close()

    refused = ledger(database_url, "db", "downgrade", EVENT_STORE_REVISION)
    reopened = open_services(database_url)
    users_kept = reopened.accounts.find_user(cast.student_email) is not None
    reopened.close()
    forced = ledger(database_url, "db", "downgrade", EVENT_STORE_REVISION, "--force")

    assert_clean_failure(refused, "users (6 rows)", "licenses (1 row)", "--force")
    assert users_kept
    assert forced.exit_code == 0, forced.output
    assert schema.current(database_url) == EVENT_STORE_REVISION


def test_db_downgrade_keeps_changed_report_settings_but_not_the_defaults(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    below_reports = revision_below(REPORTS_REVISION)
    with open_services(database_url).db.transaction() as cursor:
        cursor.execute("UPDATE report_settings SET backlog_alert_pending = 100")

    changed = ledger(database_url, "db", "downgrade", below_reports)
    with open_services(database_url).db.transaction() as cursor:
        cursor.execute("UPDATE report_settings SET backlog_alert_pending = 50")
    defaults = ledger(database_url, "db", "downgrade", below_reports)

    assert_clean_failure(changed, "report_settings (1 row)")
    assert defaults.exit_code == 0, defaults.output
    assert schema.current(database_url) == below_reports


# -- users and licenses ---------------------------------------------------------------------------


def test_users_add_prints_the_new_user_id(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    result = add_user(ledger, database_url, "kim@academy.test", "instructor")

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"\d+", result.stdout.strip())
    user = open_services(database_url).accounts.authenticate("kim@academy.test", PASSWORD)
    assert user is not None
    assert (user.id, user.role.value) == (int(result.stdout), "instructor")


def test_users_add_refuses_an_email_taken_in_another_case(
    ledger: Invoke, database_url: DatabaseURL
) -> None:
    assert add_user(ledger, database_url, "kim@academy.test").exit_code == 0

    again = add_user(ledger, database_url, "KIM@Academy.test")

    assert_clean_failure(again, "KIM@Academy.test", "already exists")
    assert again.stdout == ""


def test_users_add_refuses_an_unknown_role(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    result = add_user(ledger, database_url, "kim@academy.test", "coach")

    assert_clean_failure(result, "role", "coach", "admin, instructor, student, auditor")
    assert open_services(database_url).accounts.find_user("kim@academy.test") is None


def test_licenses_add_prints_the_new_license_id_as_the_last_line(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    user_id = int(add_user(ledger, database_url, "kim@academy.test").stdout)

    result = ledger(database_url, "licenses", "add", "--holder", "Kim@Academy.test")

    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"\d+", last)
    assert open_services(database_url).accounts.license_holder(int(last)) == user_id


def test_licenses_add_refuses_an_unknown_holder(ledger: Invoke, database_url: DatabaseURL) -> None:
    result = ledger(database_url, "licenses", "add", "--holder", "nobody@academy.test")

    assert_clean_failure(result, "nobody@academy.test")
    assert result.stdout == ""


# -- database errors ------------------------------------------------------------------------------

COMMANDS = {
    "db current": ("db", "current"),
    "db upgrade": ("db", "upgrade"),
    "users add": ("users", "add", "--email", "a@b.test", "--name", "A", "--role", "admin"),
    "licenses add": ("licenses", "add", "--holder", "a@b.test"),
    "project --once": ("project", "--once"),
    "projection rebuild": ("projection", "rebuild"),
    "projection status": ("projection", "status"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unreachable_database_is_named_without_a_traceback(ledger: Invoke, command: str) -> None:
    args = COMMANDS[command]
    stdin = f"{PASSWORD}\n" if command == "users add" else None
    password = ("--password-stdin",) if command == "users add" else ()

    result = ledger(UNREACHABLE, *args, *password, stdin=stdin)

    assert_clean_failure(result, "cannot reach the database", "127.0.0.1:1/x")


@pytest.mark.parametrize(
    "command", ["users add", "licenses add", "project --once", "projection rebuild"]
)
def test_a_database_that_is_not_migrated_gets_a_clear_message(
    ledger: Invoke, empty_database_url: DatabaseURL, command: str
) -> None:
    password = ("--password-stdin",) if command == "users add" else ()

    result = ledger(empty_database_url, *COMMANDS[command], *password, stdin=f"{PASSWORD}\n")

    assert_clean_failure(result, "is not migrated", "run `ledger db upgrade`")
    assert schema.current(empty_database_url) is None


@pytest.mark.parametrize("command", ["project --once", "projection rebuild", "licenses add"])
def test_a_database_behind_head_gets_a_clear_message(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services], command: str
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)
    services.close()
    schema.downgrade(database_url, "-1", force=True)  # the cast's account history goes too

    result = ledger(database_url, *COMMANDS[command])

    assert_clean_failure(
        result,
        f"is at revision {revision_below(schema.head())}",
        schema.head(),
        "run `ledger db upgrade`",
    )


# -- projection -----------------------------------------------------------------------------------


def test_project_once_and_rebuild_print_their_counts(
    ledger: Invoke, database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    for points in (3, 5, 5, 8):
        services.ledger.assess(cast.instructor, cast.license_id, "passing", points, 10)
    services.ledger.assess(cast.instructor, cast.license_id, "dribbling", 4, 10)
    head = services.projector.status().head

    projected = ledger(database_url, "project", "--once")
    again = ledger(database_url, "project", "--once")
    rebuilt = ledger(database_url, "projection", "rebuild")
    status = ledger(database_url, "projection", "status")

    assert projected.exit_code == 0, projected.output
    assert projected.stdout.strip() == f"projected {6 + CAST_EVENTS} events; position {head}"
    assert again.stdout.strip() == f"projected 0 events; position {head}"
    assert rebuilt.exit_code == 0, rebuilt.output
    counts = re.fullmatch(
        r"rebuilt (\d+) rows from (\d+) events in [\d.]+ s \(([\d,]+) events/s\); position (\d+)"
        r"(; swapped in after catching up \d+ events, blocking readers and the projector "
        r"[\d.]+ ms)?",
        said(rebuilt.stdout),
    )
    assert counts is not None, rebuilt.stdout
    assert (counts[5] is not None) == database_url.is_postgres, "blue-green on PostgreSQL only"
    assert (int(counts[1]), int(counts[2]), int(counts[4])) == (4, 6 + CAST_EVENTS, head)
    assert int(counts[3].replace(",", "")) > 0
    assert said(status.stdout) == f"position {head} head {head} lag 0 events"
    assert len(services.readmodel.all()) == 4


# -- the installed console script ---------------------------------------------------------------


def ledger_script() -> str:
    """The `ledger` console script of the interpreter running the tests."""
    return str(Path(sys.executable).with_name("ledger"))


def test_console_script_runs_migrations_and_reports_an_unreachable_database(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    upgraded = subprocess.run(
        [ledger_script(), "db", "upgrade"], env=env, capture_output=True, text=True, check=False
    )
    unreachable = subprocess.run(
        [ledger_script(), "db", "current"],
        env={**env, "LEDGER_DATABASE_URL": UNREACHABLE},
        capture_output=True,
        text=True,
        check=False,
    )

    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines()[0] == f"{schema.head()} (head)"
    assert unreachable.returncode == 3
    assert "127.0.0.1:1/x" in said(unreachable.stderr)
    assert "Traceback" not in unreachable.stderr
