"""PostgreSQL's blue-green table swap: views, grants and index names carried over in one
transaction (the catalogue queries it needs, kept out of postgres.py's connection handling)."""

from __future__ import annotations

import re
from collections.abc import Callable

from skill_ledger.database.base import Cursor

SWAP_LOCK_TIMEOUT = "5s"
"""The swap waits at most this long for readers to leave the live table, then fails (and is
retried) rather than queueing every later reader behind its exclusive lock."""
DEPENDENT_VIEWS = (
    "SELECT DISTINCT v.oid, v.relname, pg_get_viewdef(v.oid) FROM pg_depend d "
    "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
    "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = ANY(%s::oid[]) "
    "AND v.relkind = 'v' AND NOT v.oid = ANY(%s::oid[])"
)
GRANTS = (
    "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
    "ELSE quote_ident(pg_get_userbyid(a.grantee)) END "
    "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s::regclass AND a.grantee <> c.relowner"
)
INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass"
)
RETIRED_SUFFIX = "__retired"
_INDEX_HEAD = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ")


def _grants(cursor: Cursor, relation: str) -> list[str]:
    cursor.execute(GRANTS, (relation,))
    return [
        f"GRANT {privilege} ON {relation} TO {grantee}" for privilege, grantee in cursor.fetchall()
    ]


def _indexes(cursor: Cursor, table: str) -> dict[str, str]:
    """Index definitions of `table` without their names or the table's: definition → name."""
    cursor.execute(INDEXES, (table,))
    return {_INDEX_HEAD.sub(r"\1", definition): name for name, definition in cursor.fetchall()}


def _dependent_views(cursor: Cursor, table: str) -> list[tuple[int, str, str]]:
    """Every view over `table`, directly or through other views: (oid, name, definition)."""
    cursor.execute("SELECT %s::regclass::oid", (table,))
    roots = [int(cursor.fetchone()[0])]
    found: dict[int, tuple[int, str, str]] = {}
    while roots:
        cursor.execute(DEPENDENT_VIEWS, (roots, [*found, *roots]))
        rows = [(int(oid), str(name), str(body)) for oid, name, body in cursor.fetchall()]
        found.update({row[0]: row for row in rows})
        roots = [row[0] for row in rows]
    return sorted(found.values())  # creation order: a view after those it reads


def swap_tables(
    cursor: Cursor, live: str, replacement: str, retired: str, locked: Callable[[], None]
) -> None:
    """See Database.swap_tables. The catalogue is read before `locked` (which takes the locks
    writers wait on); the old table is renamed `retired`, for dropping after the commit."""
    views = _dependent_views(cursor, live)
    grants = _grants(cursor, live) + [g for _, name, _ in views for g in _grants(cursor, name)]
    old_indexes = _indexes(cursor, live)
    new_indexes = _indexes(cursor, replacement)
    cursor.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
    locked()
    cursor.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
    for _, name, _ in reversed(views):
        cursor.execute(f"DROP VIEW {name}")
    for name in old_indexes.values():
        cursor.execute(f"ALTER INDEX {name} RENAME TO {name}{RETIRED_SUFFIX}")
    cursor.execute(f"ALTER TABLE {live} RENAME TO {retired}")
    cursor.execute(f"ALTER TABLE {replacement} RENAME TO {live}")
    for definition, name in new_indexes.items():
        old = old_indexes.get(definition)
        if old is not None and old != name:
            cursor.execute(f"ALTER INDEX {name} RENAME TO {old}")
    for _, name, body in views:
        cursor.execute(f"CREATE VIEW {name} AS {body}")
    for grant in grants:
        cursor.execute(grant)


def create_table_like(cursor: Cursor, table: str, like: str) -> None:
    """See Database.create_table_like (any leftover of an interrupted rebuild is dropped)."""
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING ALL)")
