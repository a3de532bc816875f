"""Keep the notes that must rotate with the finding index, for the rotation queue.

The rotation queue found its first part, the notes someone who left revealed or keeps, from
every person who ever left, on each page: 2.1 ms of its SQL at 200,000 accounts (1,561 people
gone), 0.09 ms at 1,000. The set is now kept in ``must_rotate_notes`` and refreshed with the
finding index, and the queue reads it in due order from its index.

Upgrading empties ``finding_index_state``: the first read after it rebuilds the index and fills
the new table (at 200,000 accounts about 5 s on SQLite, once). Downgrading drops the table.

Revision ID: b8e2d4f6a913
Revises: a3d5f7b9c142
Create Date: 2026-12-06 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8e2d4f6a913'
down_revision = 'a3d5f7b9c142'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'must_rotate_notes',
        sa.Column('note_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('note_id', name=op.f('pk_must_rotate_notes')),
    )
    op.create_index('ix_must_rotate_notes_account_id', 'must_rotate_notes', ['account_id'], unique=False)
    op.create_index('ix_must_rotate_notes_due', 'must_rotate_notes', ['due_at', 'note_id'], unique=False)
    # The next read rebuilds the index, and with it this table.
    op.execute('DELETE FROM finding_index_state')


def downgrade():
    op.drop_index('ix_must_rotate_notes_due', table_name='must_rotate_notes')
    op.drop_index('ix_must_rotate_notes_account_id', table_name='must_rotate_notes')
    op.drop_table('must_rotate_notes')
