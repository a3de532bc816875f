"""A trigram search index over the accounts' name, handle and URL (SQLite), kept by triggers.

Revision ID: e7a3c9d2f018
Revises: d4b8e2a61c57
Create Date: 2026-12-04 23:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e7a3c9d2f018'
down_revision = 'd4b8e2a61c57'
branch_labels = None
depends_on = None

# Frozen here as they were written: later changes to the model's statements need their own revision.
DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS accounts_search USING fts5(
    name, handle, url, content='accounts', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO accounts_search(rowid, name, handle, url) VALUES (new.id, new.name, new.handle, new.url);
END""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO accounts_search(accounts_search, rowid, name, handle, url)
    VALUES ('delete', old.id, old.name, old.handle, old.url);
END""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_update AFTER UPDATE OF name, handle, url ON accounts BEGIN
    INSERT INTO accounts_search(accounts_search, rowid, name, handle, url)
    VALUES ('delete', old.id, old.name, old.handle, old.url);
    INSERT INTO accounts_search(rowid, name, handle, url) VALUES (new.id, new.name, new.handle, new.url);
END""",
    "INSERT INTO accounts_search(accounts_search) VALUES ('rebuild')",
)
DROP = (
    "DROP TRIGGER IF EXISTS accounts_search_update",
    "DROP TRIGGER IF EXISTS accounts_search_delete",
    "DROP TRIGGER IF EXISTS accounts_search_insert",
    "DROP TABLE IF EXISTS accounts_search",
)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        for statement in DDL:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for statement in DROP:
            op.execute(statement)
