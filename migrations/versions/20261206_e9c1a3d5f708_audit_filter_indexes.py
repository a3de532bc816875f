"""Index the audit log by kind of record and by action, each in sequence.

Filtered by a kind of record, the audit log sorted every event of that kind to show the newest
25 (221,000 events, 200,000 of them about accounts: 276 ms); filtered by an action, it scanned
the log (108 ms for one that never happened). Each is now read newest first from its index.

Revision ID: e9c1a3d5f708
Revises: d7b9f1c3e586
Create Date: 2026-12-06 07:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e9c1a3d5f708'
down_revision = 'd7b9f1c3e586'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_object_type_seq', 'audit_events', ['object_type', 'seq'], unique=False)
    op.create_index('ix_audit_events_action_seq', 'audit_events', ['action', 'seq'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_action_seq', table_name='audit_events')
    op.drop_index('ix_audit_events_object_type_seq', table_name='audit_events')
