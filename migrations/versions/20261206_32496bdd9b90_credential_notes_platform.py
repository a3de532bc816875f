"""Keep each credential note's platform (its account's, else its profile's) with its due date.

The rotation queue of one platform found that platform's notes through its accounts and
profiles and sorted them all by due date for every page (33-49 ms for a platform's 13,000
notes at 200,000 accounts). With the platform on the note, an index on (platform, due date)
reads the page in order. Every note's platform is written here from its account or profile.
The column stays nullable: making it NOT NULL would rebuild the table on SQLite, which would
lose its AUTOINCREMENT (ids must never be reused: a ciphertext is bound to its row id).

Revision ID: 32496bdd9b90
Revises: 3dad3053f0f9
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '32496bdd9b90'
down_revision = '3dad3053f0f9'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('credential_notes', sa.Column('platform_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE credential_notes SET platform_id = "
        "(SELECT accounts.platform_id FROM accounts WHERE accounts.id = credential_notes.account_id) "
        "WHERE account_id IS NOT NULL"
    )
    op.execute(
        "UPDATE credential_notes SET platform_id = "
        "(SELECT profiles.platform_id FROM profiles WHERE profiles.id = credential_notes.profile_id) "
        "WHERE account_id IS NULL"
    )
    op.create_index('ix_credential_notes_platform_due', 'credential_notes', ['platform_id', 'due_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_credential_notes_platform_due', table_name='credential_notes')
    # In place (SQLite 3.35+ drops a column without rebuilding the table, keeping AUTOINCREMENT).
    op.execute('ALTER TABLE credential_notes DROP COLUMN platform_id')
