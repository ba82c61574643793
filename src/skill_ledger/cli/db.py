"""`ledger db`: alembic migrations (upgrade, downgrade, current)."""

from __future__ import annotations

from typing import Annotated

import typer

from skill_ledger import migrate
from skill_ledger.cli.common import fail, friendly_errors, load_settings, out

app = typer.Typer(help="Database migrations (alembic).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations (default: up to head)."""
    settings = load_settings()
    with friendly_errors(settings):
        migrate.upgrade(settings.database, revision)
        out.print(migrate.describe(migrate.current(settings.database)))


@app.command("downgrade", context_settings={"ignore_unknown_options": True})
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target, e.g. -1.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Drop history and tables nothing can rebuild (accounts…)."),
    ] = False,
) -> None:
    """Revert migrations down to REVISION (refused if it would drop rows nothing can rebuild)."""
    settings = load_settings()
    with friendly_errors(settings):
        try:
            migrate.downgrade(settings.database, revision, force=force)
        except RuntimeError as e:
            fail(str(e))
        out.print(migrate.describe(migrate.current(settings.database)))


@app.command("current")
def current() -> None:
    """Print the database's revision."""
    settings = load_settings()
    with friendly_errors(settings):
        out.print(migrate.describe(migrate.current(settings.database)))
