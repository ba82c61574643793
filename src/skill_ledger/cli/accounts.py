"""`ledger users` and `ledger licenses`: the accounts people log in with, the licenses they hold."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from skill_ledger.cli.common import opened_services

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
licenses_app = typer.Typer(help="Student licenses.", no_args_is_help=True)


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
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with opened_services() as services:
        print(services.accounts.add_user(email, name, role, password).id)


@licenses_app.command("add")
def licenses_add(
    holder: Annotated[str, typer.Option(help="Email of the student holding the license.")],
) -> None:
    """Create a license; prints the new license id as the last line."""
    with opened_services() as services:
        print(services.accounts.add_license(holder))
