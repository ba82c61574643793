"""Alembic environment: the database comes from LEDGER_DATABASE_URL (or the CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool

from skill_ledger.settings import DatabaseURL, Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)

url: DatabaseURL = config.attributes.get("database_url") or Settings.from_env().database
if url.backend == "sqlite":
    Path(url.path).parent.mkdir(parents=True, exist_ok=True)

engine = create_engine(url.sqlalchemy_url(), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
