"""The finding index's rule filter reads one rule's findings in the list's order, a note's findings
are found through the unique key (no separate subject index), an account's risk score is read from
one index; the index is rebuilt with A–Z-only
lowered sort names (the same in SQL and Python) and without a person row for each finding's
steward (the steward is the finding's own column).

Revision ID: d4b8e2a61c57
Revises: c3a9e1f47b20
Create Date: 2026-12-04 22:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd4b8e2a61c57'
down_revision = 'c3a9e1f47b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('finding_index', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_index_rule_id')
        batch_op.drop_index('ix_finding_index_subject')
        batch_op.drop_index('ix_finding_index_account_id')
        batch_op.create_index('ix_finding_index_account', ['account_id', 'accepted', 'severity_rank'], unique=False)
        batch_op.create_index('ix_finding_index_rule_order', ['rule_id', 'severity_rank', 'sort_name', 'subject_id'], unique=False)
    # Forget when the index was built: the next read rebuilds it with the new sort names.
    op.execute("DELETE FROM finding_index_state")


def downgrade():
    with op.batch_alter_table('finding_index', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_index_rule_order')
        batch_op.create_index('ix_finding_index_rule_id', ['rule_id'], unique=False)
        batch_op.create_index('ix_finding_index_subject', ['subject_type', 'subject_id'], unique=False)
        batch_op.drop_index('ix_finding_index_account')
        batch_op.create_index('ix_finding_index_account_id', ['account_id'], unique=False)
