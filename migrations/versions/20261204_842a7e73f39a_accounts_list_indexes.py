"""Indexes for the accounts list filtered by status, platform or department in name order.

Revision ID: 842a7e73f39a
Revises: 5c1e7f3a9b20
Create Date: 2026-12-04 20:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '842a7e73f39a'
down_revision = '5c1e7f3a9b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index('ix_accounts_status_name', ['status', 'name'], unique=False)
        batch_op.create_index('ix_accounts_platform_id_name', ['platform_id', 'name'], unique=False)
        batch_op.create_index('ix_accounts_department_id_name', ['department_id', 'name'], unique=False)


def downgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_accounts_department_id_name')
        batch_op.drop_index('ix_accounts_platform_id_name')
        batch_op.drop_index('ix_accounts_status_name')
