"""Alembic environment: the database comes from LEDGER_DATABASE_URL (or the CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from skill_ledger.migrate import migration_engine
from skill_ledger.settings import DatabaseURL, Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)

url: DatabaseURL = config.attributes.get("database_url") or Settings.from_env().database


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# A caller's connection (a downgrade's rehearsal) keeps its own transaction and ends it itself.
given: Connection | None = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = migration_engine(url)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
