"""Migrations are frozen history: none reads a file at run time, and projections/ matches them."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

from alembic.config import Config
from alembic.script import ScriptDirectory

from skill_ledger import migrate

ROOT = Path(__file__).resolve().parents[2]
PROJECTIONS = ROOT / "projections"
FILE_READS = {"open", "read_text", "read_bytes", "Path", "listdir", "glob", "iterdir"}


def revisions_in_order() -> list[ModuleType]:
    """Every migration module, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(migrate.migrations_dir()))
    script = ScriptDirectory.from_config(config)
    return [revision.module for revision in reversed(list(script.walk_revisions()))]


def test_no_migration_reads_a_file_when_it_runs() -> None:
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert not called & FILE_READS, f"{path.name} reads files: {called & FILE_READS}"


def test_projections_sql_is_what_the_latest_revision_of_each_view_creates() -> None:
    latest: dict[str, tuple[str, str]] = {}
    for module in revisions_in_order():
        for name, postgresql_sql, sqlite_sql in getattr(module, "VIEWS", ()):
            latest[name] = (postgresql_sql, sqlite_sql)
    assert latest, "no revision creates views"
    for name, (postgresql_sql, sqlite_sql) in latest.items():
        shared = PROJECTIONS / f"{name}.sql"
        if shared.is_file():
            assert postgresql_sql == sqlite_sql == shared.read_text(encoding="utf-8"), name
        else:
            assert postgresql_sql == (PROJECTIONS / f"{name}.postgresql.sql").read_text(), name
            assert sqlite_sql == (PROJECTIONS / f"{name}.sqlite.sql").read_text(), name
    files = {path.name.split(".")[0] for path in PROJECTIONS.glob("*.sql")}
    assert files == set(latest), "every projections/*.sql is created by a revision"
