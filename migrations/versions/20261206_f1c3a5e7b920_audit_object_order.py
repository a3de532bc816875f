"""One record's audit events read in the log's order: an index on (object_type, object_id, seq).

The audit log filtered to one record (its kind and id) is newest first. With an index on the
kind and id alone, the database read the log by kind in order instead and tested each event's
id: one account's events among 221,000 took 65 ms. The new index leads with the kind and id, so
it serves every look-up the old one did (a record's history, a stale edit's changes).

Revision ID: f1c3a5e7b920
Revises: e4b8d2a6c913
Create Date: 2026-12-06 23:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f1c3a5e7b920'
down_revision = 'e4b8d2a6c913'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_object_seq', 'audit_events', ['object_type', 'object_id', 'seq'], unique=False)
    op.drop_index('ix_audit_events_object', table_name='audit_events')


def downgrade():
    op.create_index('ix_audit_events_object', 'audit_events', ['object_type', 'object_id'], unique=False)
    op.drop_index('ix_audit_events_object_seq', table_name='audit_events')
