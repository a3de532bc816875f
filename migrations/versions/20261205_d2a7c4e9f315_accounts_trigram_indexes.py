"""Trigram indexes over the accounts' lowered name, handle and URL (PostgreSQL, pg_trgm): a search
reads its matches instead of every account. Where the extension cannot be created (a role
without the CREATE privilege on the database), nothing is created and search scans as before.

Revision ID: d2a7c4e9f315
Revises: c9f1a3e5b287
Create Date: 2026-12-05 09:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd2a7c4e9f315'
down_revision = 'c9f1a3e5b287'
branch_labels = None
depends_on = None

# Frozen here as they were written (app/models/account.py creates the same for a new database).
INDEXES = {"accounts_search_name": "name", "accounts_search_handle": "handle", "accounts_search_url": "url"}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        print(
            "pg_trgm could not be created (it needs the CREATE privilege on the database): account search "
            "will read every account. Create it as the database's owner and run this revision again "
            "(flask db downgrade c9f1a3e5b287 && flask db upgrade)."
        )
        return
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON accounts USING gin (lower({column}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
