"""The finding index: a platform's findings and the accepted ones, each in the list's order.

The findings list filtered by a platform sorted the platform's findings (28,000 at 200,000
accounts) and counted them from the table; listing the accepted findings read the whole index to
find the few (687 ms at 421,872 findings). A platform's findings are now read in order, and
counted, from one index that replaces the platform's own; the accepted ones from a partial index.

Revision ID: d7b9f1c3e586
Revises: c5a7e9b1d364
Create Date: 2026-12-06 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7b9f1c3e586'
down_revision = 'c5a7e9b1d364'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_finding_index_platform_id', table_name='finding_index', if_exists=True)
    op.create_index(
        'ix_finding_index_platform_order',
        'finding_index',
        ['platform_id', 'severity_rank', 'sort_name', 'rule_id', 'subject_id', 'accepted', 'department_id'],
        unique=False,
    )
    op.create_index(
        'ix_finding_index_accepted_order',
        'finding_index',
        ['severity_rank', 'sort_name', 'rule_id', 'subject_id'],
        unique=False,
        sqlite_where=sa.text('accepted IS 1'),
        postgresql_where=sa.text('accepted IS true'),
    )


def downgrade():
    op.drop_index('ix_finding_index_accepted_order', table_name='finding_index')
    op.drop_index('ix_finding_index_platform_order', table_name='finding_index')
    op.create_index('ix_finding_index_platform_id', 'finding_index', ['platform_id'], unique=False)
