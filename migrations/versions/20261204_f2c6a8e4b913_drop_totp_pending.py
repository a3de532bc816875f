"""users.totp_pending is no longer written: an enrolment's secret waits, sealed, in the session.

Revision ID: f2c6a8e4b913
Revises: e7a3c9d2f018
Create Date: 2026-12-04 23:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f2c6a8e4b913'
down_revision = 'e7a3c9d2f018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_pending')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_pending', sa.Text(), nullable=True))
