"""Put back the finding index's own indexes where a rolled-back rebuild lost them (SQLite).

On SQLite a rebuild dropped the finding index's secondary indexes before the driver had opened a
transaction, so the drops were kept at once; a rebuild that was then rolled back (the first page
read after midnight, before `flask handover tick`) left the index without them, and later
rebuilds only dropped and rebuilt the indexes still present. Lists and counts read from the index
then scanned it (the dashboard at 200,000 accounts: 13 → 80 ms). The rebuild now drops them inside
its transaction; this creates whichever are missing. A database that has them all is unchanged.

Revision ID: c4e8a1f6d209
Revises: b6d4f2a8c915
Create Date: 2026-12-06 01:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e8a1f6d209'
down_revision = 'b6d4f2a8c915'
branch_labels = None
depends_on = None

#: The finding index's secondary indexes as the models declare them at this revision.
INDEXES = {
    'finding_index': {
        'ix_finding_index_account': ['account_id', 'accepted', 'severity_rank'],
        'ix_finding_index_department_id': ['department_id'],
        'ix_finding_index_order': ['severity_rank', 'sort_name', 'rule_id', 'subject_id'],
        'ix_finding_index_platform_id': ['platform_id'],
        'ix_finding_index_rule_order': ['rule_id', 'severity_rank', 'sort_name', 'subject_id'],
        'ix_finding_index_steward_id': ['steward_id'],
    },
    'finding_index_people': {
        'ix_finding_index_people_account_id': ['account_id'],
        'ix_finding_index_people_person_id': ['person_id'],
        'ix_finding_index_people_subject': ['subject_type', 'subject_id'],
    },
}


def upgrade():
    inspector = sa.inspect(op.get_bind())
    for table, indexes in INDEXES.items():
        present = {ix['name'] for ix in inspector.get_indexes(table)}
        for name, columns in indexes.items():
            if name not in present:
                op.create_index(name, table, columns, unique=False)


def downgrade():
    # Nothing to undo: the indexes belong to the earlier revisions' schema too.
    pass
