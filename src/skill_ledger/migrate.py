"""Running the alembic migrations programmatically (ledger db upgrade|downgrade|current)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from skill_ledger.settings import ConfigurationError, DatabaseURL


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
    """Revert migrations down to `revision` (e.g. -1); `force` lets a revision drop history
    that nothing can rebuild (it refuses otherwise)."""
    config = alembic_config(url)
    config.attributes["force_downgrade"] = force
    command.downgrade(config, revision)


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
