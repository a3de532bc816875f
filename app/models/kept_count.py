"""How many accounts and people there are, by status, kept by PostgreSQL itself.

PostgreSQL counts a table by reading it (`SELECT count(*) FROM accounts` is a 12–18 ms parallel
index scan at 200,000 accounts), where SQLite reads a B-tree's own count in microseconds. So on
PostgreSQL, statement-level triggers on ``accounts`` and ``people`` record what each statement
added or took away, by status, as one row per statement and status: writers never update a
shared row, so they never wait for one another. A total is the sum of its rows; ``compact``
(run by the nightly tick) folds them into one row per table and status. A restore from
``pg_dump`` loads the rows before the triggers exist, so nothing is counted twice.

On SQLite the table stays empty and nothing reads it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class KeptCount(Base):
    __tablename__ = "kept_counts"
    # A table's total (or its total for some statuses) summed from the index alone.
    __table_args__ = (sa.Index("ix_kept_counts_sum", "table_name", "status", "n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(32))
    #: Rows added (or, negative, taken away) with this status.
    n: Mapped[int] = mapped_column(sa.BigInteger)


#: The tables counted, each by its status column.
COUNTED = ("accounts", "people")


#: The counting function and its three triggers; <counted> is one of COUNTED.
_TRIGGERS = (
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
_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS kept_count_<counted>_insert ON <counted>",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_delete ON <counted>",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_update ON <counted>",
    "DROP FUNCTION IF EXISTS kept_count_<counted>()",
)


def _for(table: str, statements: tuple[str, ...]) -> tuple[str, ...]:
    if table not in COUNTED:  # the names are this module's, never input
        raise ValueError(f"{table!r} is not a counted table")
    return tuple(statement.replace("<counted>", table) for statement in statements)


def trigger_statements(table: str) -> tuple[str, ...]:
    """PostgreSQL: the function and the three statement-level triggers that count ``table``."""
    return _for(table, _TRIGGERS)


def drop_trigger_statements(table: str) -> tuple[str, ...]:
    return _for(table, _DROP_TRIGGERS)


# create_all (tests, a new database without migrations): the triggers once every table exists.
for _table in COUNTED:
    for _statement in trigger_statements(_table):
        sa.event.listen(Base.metadata, "after_create", sa.DDL(_statement).execute_if(dialect="postgresql"))
