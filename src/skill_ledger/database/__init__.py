"""The ledger's database: one interface (base.Database), for PostgreSQL and for SQLite."""

from skill_ledger.database.base import (
    Breaker,
    Cursor,
    Database,
    DatabaseUnavailable,
    RowWriter,
    Session,
    StoredRow,
    as_optional_time,
    as_time,
    as_uuid,
)
from skill_ledger.database.postgres import PostgresDatabase
from skill_ledger.database.sqlite import SQLiteDatabase
from skill_ledger.settings import DatabaseURL

__all__ = [
    "Breaker",
    "Cursor",
    "Database",
    "DatabaseUnavailable",
    "RowWriter",
    "Session",
    "StoredRow",
    "as_optional_time",
    "as_time",
    "as_uuid",
    "open_database",
]


def open_database(
    url: DatabaseURL,
    *,
    pool_size: int = 8,
    connect_timeout: float = 5.0,
    durable: bool = True,
    name: str = "ledger-read",
    breaker: Breaker | None = None,
    application_name: str = "",
) -> Database:
    """The database at `url`, its pool opened lazily; `breaker` shares one outage between pools.

    `application_name` names its PostgreSQL sessions (pg_stat_activity), e.g. a projector's.
    """
    database: Database
    if url.is_postgres:
        database = PostgresDatabase(
            url,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
            durable=durable,
            name=name,
            breaker=breaker,
            application_name=application_name,
        )
    else:
        database = SQLiteDatabase(url, durable=durable, breaker=breaker)
    database.open()
    return database
