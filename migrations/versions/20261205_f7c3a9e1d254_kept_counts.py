"""Counts of accounts and people by status kept by PostgreSQL (statement-level triggers), so a
total is not a read of the whole table there; the table stays empty on SQLite.

Revision ID: f7c3a9e1d254
Revises: e5b9d1c3a742
Create Date: 2026-12-05 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f7c3a9e1d254'
down_revision = 'e5b9d1c3a742'
branch_labels = None
depends_on = None

COUNTED = ("accounts", "people")

# As app/models/kept_count.py wrote them at this revision.
TRIGGERS = (
    """CREATE OR REPLACE FUNCTION kept_count_<counted>() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO kept_counts (table_name, status, n)
        SELECT '<counted>', status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO kept_counts (table_name, status, n)
        SELECT '<counted>', status, -count(*) FROM old_rows GROUP BY status;
    ELSE
        INSERT INTO kept_counts (table_name, status, n)
        SELECT '<counted>', status, sum(n) FROM (
            SELECT o.status, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE w.status <> o.status
            UNION ALL
            SELECT w.status, 1 FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE w.status <> o.status
        ) AS moved GROUP BY status;
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER kept_count_<counted>_insert AFTER INSERT ON <counted>
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kept_count_<counted>()""",
    """CREATE TRIGGER kept_count_<counted>_delete AFTER DELETE ON <counted>
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kept_count_<counted>()""",
    """CREATE TRIGGER kept_count_<counted>_update AFTER UPDATE ON <counted>
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kept_count_<counted>()""",
)
DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS kept_count_<counted>_insert ON <counted>",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_delete ON <counted>",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_update ON <counted>",
    "DROP FUNCTION IF EXISTS kept_count_<counted>()",
)


def upgrade():
    op.create_table(
        'kept_counts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('table_name', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kept_counts')),
    )
    op.create_index('ix_kept_counts_sum', 'kept_counts', ['table_name', 'status', 'n'], unique=False)
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in COUNTED:
        # The rows already there, then the triggers (one transaction: nothing is written between).
        op.execute(f"INSERT INTO kept_counts (table_name, status, n) SELECT '{table}', status, count(*) FROM {table} GROUP BY status")
        for statement in TRIGGERS:
            op.execute(statement.replace('<counted>', table))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in COUNTED:
            for statement in DROP_TRIGGERS:
                op.execute(statement.replace('<counted>', table))
    op.drop_index('ix_kept_counts_sum', table_name='kept_counts')
    op.drop_table('kept_counts')
