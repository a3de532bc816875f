"""Finding acceptances are looked up by subject: a page's findings read only their own
acceptances instead of every current one in the organisation.

Revision ID: c9f1a3e5b287
Revises: b4e8d2a6c173
Create Date: 2026-12-05 08:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c9f1a3e5b287'
down_revision = 'b4e8d2a6c173'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_finding_acceptances_subject_id', 'finding_acceptances', ['subject_id'], unique=False)


def downgrade():
    op.drop_index('ix_finding_acceptances_subject_id', table_name='finding_acceptances')
