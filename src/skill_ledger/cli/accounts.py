"""`ledger users` and `ledger licenses`: the accounts people log in with, the licenses they hold.

Every change is recorded in the ledger as made by an operator (actor role `operator`, no user
id): whoever runs this command holds the database itself.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from skill_ledger.accounts import Accounts, LicenseInfo, User, UserNotFound
from skill_ledger.cli.common import opened_services, out
from skill_ledger.domain import format_time

users_app = typer.Typer(
    help="User accounts (every change is recorded in the ledger).", no_args_is_help=True
)
licenses_app = typer.Typer(
    help="Student licenses (every change is recorded in the ledger).", no_args_is_help=True
)

UserArgument = Annotated[
    str, typer.Argument(help="The user's email or numeric id.", metavar="USER")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def read_password(password_stdin: bool) -> str:
    """The password from standard input's first line, or asked twice without echo."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def user_id_of(accounts: Accounts, who: str) -> int:
    """A user's id from their email or their id."""
    if who.strip().isdigit():
        return int(who)
    user = accounts.find_user(who)
    if user is None:
        raise UserNotFound(f"with email {who!r}")
    return user.id


def user_json(user: User) -> dict[str, Any]:
    """A user as JSON (never the password hash)."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "active": user.active,
        "created_at": format_time(user.created_at),
    }


def license_json(held: LicenseInfo) -> dict[str, Any]:
    """A license as JSON."""
    return {
        "id": held.id,
        "holder_id": held.holder_id,
        "holder_email": held.holder_email,
        "created_at": format_time(held.created_at),
    }


def show(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    """Rows as JSON or as a table."""
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    out.print(table)


def said(user: User, changed: bool, done: str, already: str) -> None:
    """One line: what the command did, or that it found nothing to do."""
    what = done if changed else f"{already}: nothing recorded"
    print(f"user {user.id} ({user.email}) {what}")


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
    password = read_password(password_stdin)
    with opened_services() as services:
        print(services.accounts.add_user(email, name, role, password).id)


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """Every user: id, email, name, role, active, created_at (never password hashes)."""
    with opened_services() as services:
        show([user_json(user) for user in services.accounts.users()], "Users", as_json)


@users_app.command("deactivate")
def users_deactivate(user: UserArgument) -> None:
    """Refuse the user's logins, and for good the tokens issued so far."""
    with opened_services() as services:
        accounts = services.accounts
        changed_user, changed = accounts.deactivate(user_id_of(accounts, user))
    said(changed_user, changed, "deactivated", "was inactive already")


@users_app.command("activate")
def users_activate(user: UserArgument) -> None:
    """Let a deactivated user log in again."""
    with opened_services() as services:
        accounts = services.accounts
        changed_user, changed = accounts.activate(user_id_of(accounts, user))
    said(changed_user, changed, "activated", "was active already")


@users_app.command("set-role")
def users_set_role(
    user: UserArgument,
    role: Annotated[str, typer.Argument(help="admin, instructor, student or auditor.")],
) -> None:
    """Give a user another role (not the last active admin's, nor a license holder's)."""
    with opened_services() as services:
        accounts = services.accounts
        changed_user, changed = accounts.set_role(user_id_of(accounts, user), role)
    said(changed_user, changed, f"is now {changed_user.role.value}", "had that role already")


@users_app.command("reset-password")
def users_reset_password(
    user: UserArgument,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password and refuse tokens issued before (the ledger records the reset,
    never the password)."""
    password = read_password(password_stdin)
    with opened_services() as services:
        accounts = services.accounts
        changed_user = accounts.reset_password(user_id_of(accounts, user), password)
    said(changed_user, True, "has a new password", "")


@licenses_app.command("add")
def licenses_add(
    holder: Annotated[str, typer.Option(help="Email of the student holding the license.")],
) -> None:
    """Create a license; prints the new license id as the last line."""
    with opened_services() as services:
        print(services.accounts.add_license(holder))


@licenses_app.command("list")
def licenses_list(
    holder: Annotated[
        str | None, typer.Option(help="Only the licenses this user (email or id) holds.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every license (or one student's): id, holder, created_at."""
    with opened_services() as services:
        accounts = services.accounts
        holder_id = user_id_of(accounts, holder) if holder is not None else None
        rows = [license_json(held) for held in accounts.licenses(holder_id)]
    show(rows, "Licenses", as_json)


@licenses_app.command("transfer")
def licenses_transfer(
    license_id: Annotated[int, typer.Argument(help="The license id.", metavar="LICENSE")],
    to: Annotated[str, typer.Option("--to", help="The new holder (an active student).")],
) -> None:
    """Hand a license to another student; its assessments stay on the license."""
    with opened_services() as services:
        accounts = services.accounts
        held, changed = accounts.transfer_license(license_id, user_id_of(accounts, to))
    if changed:
        print(f"license {held.id} is now held by user {held.holder_id} ({held.holder_email})")
    else:
        print(f"license {held.id} was held by user {held.holder_id} already: nothing recorded")
