"""Fresh, randomly named PostgreSQL databases for one benchmark run, always dropped."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from skill_ledger import migrate as schema
from skill_ledger.settings import DatabaseURL

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> DatabaseURL:
    """The server to benchmark: LEDGER_BENCH_DATABASE_URL, or the local one."""
    return DatabaseURL.parse(os.environ.get("LEDGER_BENCH_DATABASE_URL") or DEFAULT_ADMIN_URL)


class Databases:
    """Creates databases on the admin URL's server and drops every one of them on close."""

    def __init__(self, admin: DatabaseURL) -> None:
        self.admin = admin
        self.created: list[str] = []

    def server_version(self) -> str:
        """PostgreSQL's version string."""
        with psycopg.connect(self.admin.conninfo(), connect_timeout=5) as conn:
            row = conn.execute("SELECT version()").fetchone()
        return str(row[0]) if row else ""

    def create(self, purpose: str, *, migrate: bool = True) -> DatabaseURL:
        """CREATE DATABASE ledger_bench_<purpose>_<random>, migrated to head unless told not."""
        name = f"ledger_bench_{purpose}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin.conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = self.admin.with_dbname(name)
        if migrate:
            schema.upgrade(url)
        return url

    @contextmanager
    def fresh(self, purpose: str, *, migrate: bool = True) -> Iterator[DatabaseURL]:
        """A database for one step, dropped as soon as the step ends."""
        url = self.create(purpose, migrate=migrate)
        try:
            yield url
        finally:
            self.drop(url.dbname)

    def drop(self, name: str) -> None:
        """DROP DATABASE … WITH (FORCE): connections a failed step left open do not block it."""
        with psycopg.connect(self.admin.conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def settle(self, url: DatabaseURL, *tables: str) -> None:
        """VACUUM ANALYZE the tables and CHECKPOINT, so a bulk load's writes are not timed later.

        CHECKPOINT needs superuser or pg_checkpoint; without either the load's dirty pages are
        flushed in the background and make the next figures noisier.
        """
        with psycopg.connect(url.conninfo(), autocommit=True, connect_timeout=5) as conn:
            for table in tables:
                conn.execute(f"VACUUM ANALYZE {table}")
            with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                conn.execute("CHECKPOINT")

    def close(self) -> None:
        """Drop whatever is left."""
        for name in list(self.created):
            self.drop(name)
