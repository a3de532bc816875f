"""Trigram search indexes for people (name, work email) and profiles (name, handle).

The people list, the global search and the person pickers scanned every person for a substring
(15 ms at 20,000 people), the profiles list and the global search every profile (8 ms at 32,000).
As the accounts have had since e7a3c9d2f018 and d2a7c4e9f315: on SQLite a trigram full-text table
kept by triggers, on PostgreSQL trigram indexes on the lowered columns where pg_trgm can be had.

Revision ID: c6e8a0b2d475
Revises: b3d5f7a9c142
Create Date: 2026-12-06 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c6e8a0b2d475'
down_revision = 'b3d5f7a9c142'
branch_labels = None
depends_on = None

# Frozen here as they were written (app/models/search_index.py creates the same for a new database).
PEOPLE_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS people_search USING fts5(
    name, work_email, content='people', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS people_search_insert AFTER INSERT ON people BEGIN
    INSERT INTO people_search(rowid, name, work_email) VALUES (new.id, new.name, new.work_email);
END""",
    """CREATE TRIGGER IF NOT EXISTS people_search_delete AFTER DELETE ON people BEGIN
    INSERT INTO people_search(people_search, rowid, name, work_email)
    VALUES ('delete', old.id, old.name, old.work_email);
END""",
    """CREATE TRIGGER IF NOT EXISTS people_search_update AFTER UPDATE OF name, work_email ON people BEGIN
    INSERT INTO people_search(people_search, rowid, name, work_email)
    VALUES ('delete', old.id, old.name, old.work_email);
    INSERT INTO people_search(rowid, name, work_email) VALUES (new.id, new.name, new.work_email);
END""",
    """INSERT INTO people_search(people_search) VALUES ('rebuild')""",
)
PEOPLE_DROP = (
    "DROP TRIGGER IF EXISTS people_search_update",
    "DROP TRIGGER IF EXISTS people_search_delete",
    "DROP TRIGGER IF EXISTS people_search_insert",
    "DROP TABLE IF EXISTS people_search",
)
PEOPLE_TRIGRAM = {'people_search_name': 'name', 'people_search_work_email': 'work_email'}
PROFILES_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS profiles_search USING fts5(
    name, handle, content='profiles', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS profiles_search_insert AFTER INSERT ON profiles BEGIN
    INSERT INTO profiles_search(rowid, name, handle) VALUES (new.id, new.name, new.handle);
END""",
    """CREATE TRIGGER IF NOT EXISTS profiles_search_delete AFTER DELETE ON profiles BEGIN
    INSERT INTO profiles_search(profiles_search, rowid, name, handle)
    VALUES ('delete', old.id, old.name, old.handle);
END""",
    """CREATE TRIGGER IF NOT EXISTS profiles_search_update AFTER UPDATE OF name, handle ON profiles BEGIN
    INSERT INTO profiles_search(profiles_search, rowid, name, handle)
    VALUES ('delete', old.id, old.name, old.handle);
    INSERT INTO profiles_search(rowid, name, handle) VALUES (new.id, new.name, new.handle);
END""",
    """INSERT INTO profiles_search(profiles_search) VALUES ('rebuild')""",
)
PROFILES_DROP = (
    "DROP TRIGGER IF EXISTS profiles_search_update",
    "DROP TRIGGER IF EXISTS profiles_search_delete",
    "DROP TRIGGER IF EXISTS profiles_search_insert",
    "DROP TABLE IF EXISTS profiles_search",
)
PROFILES_TRIGRAM = {'profiles_search_name': 'name', 'profiles_search_handle': 'handle'}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for statement in (*PEOPLE_DDL, *PROFILES_DDL):
            op.execute(statement)
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        print(
            "pg_trgm could not be created (it needs the CREATE privilege on the database): people and profile "
            "search will read every row. Create it as the database's owner and run this revision again "
            "(flask db downgrade b3d5f7a9c142 && flask db upgrade)."
        )
        return
    for table, indexes in (('people', PEOPLE_TRIGRAM), ('profiles', PROFILES_TRIGRAM)):
        for name, column in indexes.items():
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (lower({column}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for statement in (*PEOPLE_DROP, *PROFILES_DROP):
            op.execute(statement)
        return
    for name in (*PEOPLE_TRIGRAM, *PROFILES_TRIGRAM):
        op.execute(f"DROP INDEX IF EXISTS {name}")
