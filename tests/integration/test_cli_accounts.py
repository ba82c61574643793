"""`ledger users` and `ledger licenses` on real databases: the lifecycle of an account."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from click.testing import Result
from typer.testing import CliRunner

from skill_ledger.cli import app
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import PASSWORD, Cast, seed_cast
from tests.integration.test_cli import assert_clean_failure, said, url_text

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


@pytest.fixture
def ledger(database_url: DatabaseURL) -> Invoke:
    """Run `ledger ARGS…` in-process against the test database."""
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        env = {"LEDGER_DATABASE_URL": url_text(database_url)}
        return runner.invoke(app, list(args), input=stdin, env=env)

    return invoke


@pytest.fixture
def world(database_url: DatabaseURL, open_services: Callable[..., Services]) -> Cast:
    """The cast of a test ledger, made through the code."""
    return seed_cast(open_services(database_url))


def emails(cast: Cast) -> dict[str, str]:
    suffix = cast.student_email.split("-", 1)[1]
    return {key: f"{key}-{suffix}" for key in ("admin", "instructor", "student", "auditor")}


def test_users_list_prints_every_user_without_password_hashes(ledger: Invoke, world: Cast) -> None:
    listed = ledger("users", "list", "--json")

    assert listed.exit_code == 0, listed.output
    users = json.loads(listed.stdout)
    assert len(users) == 6
    assert set(users[0]) == {"id", "email", "name", "role", "active", "created_at"}
    assert "argon2" not in listed.stdout
    table = ledger("users", "list")
    assert table.exit_code == 0, table.output
    assert {"email", "role", "active", "auditor", "instructor"} <= set(said(table.stdout).split())


def test_deactivate_and_activate_by_email_say_what_they_did(
    ledger: Invoke, world: Cast, open_services: Callable[..., Services], database_url: DatabaseURL
) -> None:
    email = emails(world)["instructor"]
    first = ledger("users", "deactivate", email)
    second = ledger("users", "deactivate", str(world.instructor.user_id))

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert first.stdout.strip() == f"user {world.instructor.user_id} ({email}) deactivated"
    assert second.stdout.strip().endswith("was inactive already: nothing recorded")
    services = open_services(database_url)
    assert services.accounts.authenticate(email, PASSWORD) is None
    assert ledger("users", "activate", email).exit_code == 0
    assert services.accounts.authenticate(email, PASSWORD) is not None


def test_set_role_changes_the_role_and_refuses_the_last_active_admin(
    ledger: Invoke, world: Cast
) -> None:
    promoted = ledger("users", "set-role", emails(world)["auditor"], "admin")
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.strip().endswith("is now admin")

    ledger("users", "deactivate", str(world.other_admin.user_id))
    ledger("users", "deactivate", emails(world)["auditor"])
    refused = ledger("users", "set-role", emails(world)["admin"], "instructor")
    assert_clean_failure(refused, "last active admin")
    unknown = ledger("users", "set-role", emails(world)["admin"], "coach")
    assert_clean_failure(unknown, "role", "coach")


def test_reset_password_reads_it_from_stdin(
    ledger: Invoke, world: Cast, open_services: Callable[..., Services], database_url: DatabaseURL
) -> None:
    email = emails(world)["student"]
    reset = ledger("users", "reset-password", email, "--password-stdin", stdin="fresh-secret-1\n")
    short = ledger("users", "reset-password", email, "--password-stdin", stdin="short\n")

    assert reset.exit_code == 0, reset.output
    assert "fresh-secret-1" not in reset.output
    assert_clean_failure(short, "password", "8 to 1024 characters")
    services = open_services(database_url)
    assert services.accounts.authenticate(email, "fresh-secret-1") is not None


def test_licenses_list_and_transfer_to_another_student(
    ledger: Invoke, world: Cast, open_services: Callable[..., Services], database_url: DatabaseURL
) -> None:
    services = open_services(database_url)
    other = services.accounts.add_user("nia@academy.test", "Nia", "student", PASSWORD)

    moved = ledger("licenses", "transfer", str(world.license_id), "--to", "nia@academy.test")
    listed = ledger("licenses", "list", "--holder", "nia@academy.test", "--json")
    to_instructor = ledger(
        "licenses", "transfer", str(world.license_id), "--to", emails(world)["instructor"]
    )
    unknown = ledger("licenses", "transfer", "999", "--to", "nia@academy.test")

    assert moved.exit_code == 0, moved.output
    assert moved.stdout.strip() == (
        f"license {world.license_id} is now held by user {other.id} (nia@academy.test)"
    )
    assert [item["id"] for item in json.loads(listed.stdout)] == [world.license_id]
    assert_clean_failure(to_instructor, "active students")
    assert_clean_failure(unknown, "License 999 not found")
    assert services.audit.verify().ok


def test_rebuild_accounts_corrects_an_edited_row(
    ledger: Invoke, world: Cast, open_services: Callable[..., Services], database_url: DatabaseURL
) -> None:
    services = open_services(database_url)
    with services.db.transaction() as cursor:
        cursor.execute("UPDATE users SET role = 'admin' WHERE id = %s", (world.student.user_id,))

    rebuilt = ledger("projection", "rebuild-accounts")

    assert rebuilt.exit_code == 0, rebuilt.output
    assert said(rebuilt.stdout).startswith("rebuilt 7 account rows from 7 events")
    assert f"corrected users {world.student.user_id}" in rebuilt.stdout
    assert services.audit.verify().ok
