"""Read a case's checklist in its order: an index on (case, position, id).

The case page read every item of the case with its account, profile and people joined, then
sorted them all for one page of 25: a case of 2,000 records sorted 2,000 joined rows for each
page. With the order in the index the page reads its 25 items and stops. The index's leading
column serves every look-up by case, so the index on the case alone goes.

Revision ID: b7e2d9c41a05
Revises: 32496bdd9b90
Create Date: 2026-12-06 20:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7e2d9c41a05'
down_revision = '32496bdd9b90'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_checklist_items_case_order', 'checklist_items', ['case_id', 'position', 'id'], unique=False)
    op.drop_index('ix_checklist_items_case_id', table_name='checklist_items')


def downgrade():
    op.create_index('ix_checklist_items_case_id', 'checklist_items', ['case_id'], unique=False)
    op.drop_index('ix_checklist_items_case_order', table_name='checklist_items')
