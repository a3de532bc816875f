"""Index the audit log by actor name, then sequence: the log filtered by who did it reads each
matching name's events newest first, instead of testing every event's name in turn (a rare actor
among 221,000 events: 180 ms).

Revision ID: d8f0a2c4e619
Revises: c6e8a0b2d475
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd8f0a2c4e619'
down_revision = 'c6e8a0b2d475'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_actor_name_seq', 'audit_events', ['actor_name', 'seq'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_actor_name_seq', table_name='audit_events')
