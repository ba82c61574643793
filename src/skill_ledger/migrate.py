"""Running the alembic migrations programmatically (ledger db upgrade|downgrade|current).

A downgrade that would drop a table holding rows nothing can rebuild (events, accounts,
licenses, changed report settings) is refused unless forced: it is first run in a transaction
that is rolled back, to learn which tables it drops, and their rows are counted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, pool

from skill_ledger.settings import ConfigurationError, DatabaseURL

DERIVED_TABLES = frozenset(
    {
        "alembic_version",
        "football_skill_assessments",
        "projection_tracking",
        "ledger_snapshots",
        "stored_snapshots",
    }
)
"""Tables whose rows the event log rebuilds (or a migration writes again): free to drop."""
KEPT_ROWS = {
    "report_settings": "SELECT COUNT(*) FROM report_settings WHERE NOT "
    "(window_days = 7 AND backlog_alert_pending = 50 AND backlog_alert_age_hours = 48)",
}
"""How to count the rows worth keeping where not every row is (settings: changed ones)."""


class DowngradeRefused(RuntimeError):
    """The downgrade would drop rows that nothing can rebuild."""


def migration_engine(url: DatabaseURL) -> Engine:
    """An engine for migrations: every run one transaction, on SQLite too."""
    if url.backend == "sqlite":
        Path(url.path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url.sqlalchemy_url(), poolclass=pool.NullPool)
    if url.backend == "sqlite":
        # pysqlite runs DDL outside any transaction, so a failing step (the event store
        # refusing to be dropped) would leave the steps before it applied: users and licenses
        # gone. Emit BEGIN ourselves so SQLite's transactional DDL makes a run all-or-nothing.
        @event.listens_for(engine, "connect")
        def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

    return engine


def migrations_dir() -> Path:
    """The alembic script directory: LEDGER_MIGRATIONS_DIR, the repository's, or ./migrations."""
    candidates = [
        os.environ.get("LEDGER_MIGRATIONS_DIR", ""),
        str(Path(__file__).resolve().parents[2] / "migrations"),
        str(Path.cwd() / "migrations"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").is_file():
            return Path(candidate)
    raise ConfigurationError("Cannot find the migrations directory; set LEDGER_MIGRATIONS_DIR")


def alembic_config(url: DatabaseURL) -> Config:
    """An alembic Config bound to this database."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: DatabaseURL, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: DatabaseURL, revision: str, *, force: bool = False) -> None:
    """Revert migrations down to `revision` (e.g. -1), unless that drops what cannot be rebuilt.

    DowngradeRefused names each table and its rows (a revision may refuse on its own, e.g. to
    delete recorded history); `force` drops them anyway.
    """
    if not force:
        at_stake = rows_at_stake(url, revision)
        if at_stake:
            tables = ", ".join(
                f"{table} ({count} row{'' if count == 1 else 's'})"
                for table, count in at_stake.items()
            )
            raise DowngradeRefused(
                f"Refusing to downgrade to {revision}: it would drop {tables}, which nothing "
                "can rebuild. Back the database up first, then add --force if you mean it."
            )
    config = alembic_config(url)
    config.attributes["force_downgrade"] = force
    command.downgrade(config, revision)


def rows_at_stake(url: DatabaseURL, revision: str) -> dict[str, int]:
    """Rows nothing can rebuild in the tables the downgrade would drop, by table."""
    engine = migration_engine(url)
    try:
        with engine.connect() as connection:
            dropped = _dropped_by(connection, url, revision) - DERIVED_TABLES
            counts = {
                table: int(
                    connection.exec_driver_sql(KEPT_ROWS.get(table, _count(table))).scalar() or 0
                )
                for table in sorted(dropped)
            }
            connection.rollback()
    finally:
        engine.dispose()
    return {table: count for table, count in counts.items() if count}


def _count(table: str) -> str:
    return f"SELECT COUNT(*) FROM {table}"


def _dropped_by(connection: Connection, url: DatabaseURL, revision: str) -> set[str]:
    """The tables the downgrade drops: run it in a transaction that is rolled back.

    Forced, so that a revision's own refusal (e.g. to delete recorded history) does not hide
    the tables further down; the real run refuses on its own.
    """
    config = alembic_config(url)
    config.attributes["connection"] = connection
    config.attributes["force_downgrade"] = True
    transaction = connection.begin()
    try:
        before = set(inspect(connection).get_table_names())
        command.downgrade(config, revision)
        after = set(inspect(connection).get_table_names())
    finally:
        transaction.rollback()
    return before - after


def current(url: DatabaseURL) -> str | None:
    """The database's revision, None before the first migration."""
    if url.backend == "sqlite" and not Path(url.path).exists():
        return None
    engine = create_engine(url.sqlalchemy_url(), poolclass=pool.NullPool)
    chatter = logging.getLogger("alembic.runtime.migration")
    level = chatter.level
    chatter.setLevel(logging.WARNING)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        chatter.setLevel(level)
        engine.dispose()


def head() -> str:
    """The newest revision in the migrations directory."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    script = ScriptDirectory.from_config(config)
    revision = script.get_current_head()
    assert revision is not None
    return revision


def describe(revision: str | None) -> str:
    """'REV (head) slug' for display."""
    if revision is None:
        return "(none: the database is not migrated)"
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    script = ScriptDirectory.from_config(config)
    found = script.get_revision(revision)
    doc = (found.doc or "").split(":", 1)[0] if found else ""
    suffix = " (head)" if revision == head() else ""
    return f"{revision}{suffix}\n{doc}".rstrip()
