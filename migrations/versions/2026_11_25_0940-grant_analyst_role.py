"""grant_analyst_role: ledger_analyst, a read-only NOLOGIN role for the report views (PostgreSQL)

Roles belong to the whole server, grants to one database. Upgrade creates the role when no
database has yet (tolerating another database creating it concurrently) and grants SELECT
on this database's read side: the read table, licenses, projection_tracking,
report_settings, the report views, users without password_hash, and alembic_version (so
`ledger report` can check the schema under an analyst's login). Nothing else: no event
store, no writes. Downgrade revokes this database's grants and drops the role only when no
database holds a grant to it any more and no login is a member of it.

SQLite has no roles; there this revision does nothing.

Revision ID: 2026_11_25_0940
Revises: 2026_11_25_0930
Create Date: 2026-11-25 09:40:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_25_0940"
down_revision = "2026_11_25_0930"
branch_labels = None
depends_on = None

ROLE = "ledger_analyst"
TABLES = (
    "alembic_version",
    "football_skill_assessments",
    "licenses",
    "projection_tracking",
    "report_settings",
    "report_window",
    "daily_assessment_rate",
    "validation_requirement_distribution",
    "state_distribution",
    "skill_activity",
    "instructor_activity",
    "validation_backlog",
)
USER_COLUMNS = "id, email, name, role, active, created_at"

# Two databases migrating at once both see no role; the loser of the race on the role
# catalogue gets unique_violation rather than duplicate_object.
CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
        COMMENT ON ROLE {ROLE} IS
            'Read-only access to the skill ledger''s report views and read tables';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$
"""
# PUBLIC has CONNECT on databases and USAGE on the public schema by default; the explicit
# grants matter only where an administrator revoked those, and need the owner's rights.
GRANT_CONNECT = f"""
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ROLE}', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'not the database owner: {ROLE} relies on PUBLIC''s CONNECT';
END $$
"""
GRANT_SCHEMA = f"""
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {ROLE}', current_schema());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'not the schema owner: {ROLE} relies on PUBLIC''s USAGE';
END $$
"""
REVOKE_DATABASE = f"""
DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {ROLE}', current_schema());
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {ROLE}', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$
"""
# pg_shdepend lists every database's grants to the role; DROP ROLE re-checks it under a
# lock, so a concurrent grant elsewhere makes the drop fail (caught) rather than dangle.
DROP_ROLE_IF_UNUSED = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}')
       AND NOT EXISTS (
           SELECT 1 FROM pg_auth_members AS m JOIN pg_roles AS r ON r.oid = m.roleid
           WHERE r.rolname = '{ROLE}')
       AND NOT EXISTS (
           SELECT 1 FROM pg_shdepend AS d JOIN pg_roles AS r ON r.oid = d.refobjid
           WHERE d.refclassid = 'pg_authid'::regclass AND r.rolname = '{ROLE}')
    THEN
        DROP ROLE {ROLE};
    END IF;
EXCEPTION WHEN dependent_objects_still_exist OR undefined_object THEN
    NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE_ROLE)
    op.execute(GRANT_CONNECT)
    op.execute(GRANT_SCHEMA)
    op.execute(f"GRANT SELECT ON {', '.join(TABLES)} TO {ROLE}")
    op.execute(f"GRANT SELECT ({USER_COLUMNS}) ON users TO {ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE ALL ON users FROM {ROLE}")
    op.execute(f"REVOKE ALL ({USER_COLUMNS}) ON users FROM {ROLE}")
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {ROLE}")
    op.execute(REVOKE_DATABASE)
    op.execute(DROP_ROLE_IF_UNUSED)
