"""The `ledger` command: migrations, accounts, the projector, the server, audits and reports."""

from __future__ import annotations

import typer

from skill_ledger.cli import accounts, audit, db, projection, receipts, report, serve
from skill_ledger.cli.common import load_settings
from skill_ledger.logs import configure_logging

app = typer.Typer(
    help="Event-sourced ledger of football skill assessments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("report")(report.report)
app.command("project")(projection.project)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(accounts.users_app, name="users")
app.add_typer(accounts.licenses_app, name="licenses")
app.add_typer(projection.app, name="projection")
audit.app.command("keygen")(receipts.keygen)
audit.app.command("receipt")(receipts.receipt)
audit.app.add_typer(receipts.app, name="tree")
app.add_typer(audit.app, name="audit")


@app.callback()
def main_callback() -> None:
    """Configure logging once for every subcommand."""
    configure_logging(production=load_settings().is_production)


def main() -> None:
    """Console-script entry point."""
    app()
