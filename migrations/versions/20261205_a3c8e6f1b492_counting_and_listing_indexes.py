"""Platforms, departments and profiles listed and counted from indexes: a platform's or a
department's live accounts and current people counted from (platform or department, status)
alone, which replace the single-column indexes; the profiles list read in name order.

Revision ID: a3c8e6f1b492
Revises: f7c3a9e1d254
Create Date: 2026-12-05 19:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a3c8e6f1b492'
down_revision = 'f7c3a9e1d254'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_accounts_platform_id_status', 'accounts', ['platform_id', 'status'], unique=False)
    op.create_index('ix_accounts_department_id_status', 'accounts', ['department_id', 'status'], unique=False)
    op.drop_index('ix_accounts_platform_id', table_name='accounts')
    op.drop_index('ix_accounts_department_id', table_name='accounts')
    op.create_index('ix_people_department_id_status', 'people', ['department_id', 'status'], unique=False)
    op.drop_index('ix_people_department_id', table_name='people')
    op.create_index('ix_profiles_name_id', 'profiles', ['name', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_profiles_name_id', table_name='profiles')
    op.create_index('ix_people_department_id', 'people', ['department_id'], unique=False)
    op.drop_index('ix_people_department_id_status', table_name='people')
    op.create_index('ix_accounts_department_id', 'accounts', ['department_id'], unique=False)
    op.create_index('ix_accounts_platform_id', 'accounts', ['platform_id'], unique=False)
    op.drop_index('ix_accounts_department_id_status', table_name='accounts')
    op.drop_index('ix_accounts_platform_id_status', table_name='accounts')
