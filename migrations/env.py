"""Alembic environment: the database comes from LEDGER_DATABASE_URL (or the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, event, pool

from skill_ledger.settings import DatabaseURL, Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)

url: DatabaseURL = config.attributes.get("database_url") or Settings.from_env().database
if url.backend == "sqlite":
    Path(url.path).parent.mkdir(parents=True, exist_ok=True)

engine = create_engine(url.sqlalchemy_url(), poolclass=pool.NullPool)
if url.backend == "sqlite":
    # pysqlite runs DDL outside any transaction, so a failing step (the event store refusing to
    # be dropped) would leave the steps before it applied: users and licenses gone. Emit BEGIN
    # ourselves so SQLite's transactional DDL makes a run all-or-nothing, as on PostgreSQL.
    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
