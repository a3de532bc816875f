"""The people leaving are read in last-day order from an index: the landing page's and the
dashboard's first ten no longer sort every leaver (405 at 20,000 people, 0.34 ms).

Revision ID: e5b9d1c3a742
Revises: d2a7c4e9f315
Create Date: 2026-12-05 17:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5b9d1c3a742'
down_revision = 'd2a7c4e9f315'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_people_status_last_day', 'people', ['status', 'last_day', 'name', 'id'], unique=False)
    op.drop_index('ix_people_status', table_name='people')


def downgrade():
    op.create_index('ix_people_status', 'people', ['status'], unique=False)
    op.drop_index('ix_people_status_last_day', table_name='people')
