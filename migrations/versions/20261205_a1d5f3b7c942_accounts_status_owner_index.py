"""The accounts' status index also carries the owner profile: a status filter's count (with the
owner's kind) reads the index alone instead of every matching account's row.

Revision ID: a1d5f3b7c942
Revises: f2c6a8e4b913
Create Date: 2026-12-05 02:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a1d5f3b7c942'
down_revision = 'f2c6a8e4b913'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_accounts_status_owner', 'accounts', ['status', 'owner_profile_id'], unique=False)
    op.drop_index('ix_accounts_status', table_name='accounts')


def downgrade():
    op.create_index('ix_accounts_status', 'accounts', ['status'], unique=False)
    op.drop_index('ix_accounts_status_owner', table_name='accounts')
