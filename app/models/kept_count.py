"""How many accounts and people there are, by status, kept by the database itself.

Either database counts a table by reading it: `SELECT count(*) FROM accounts` at 200,000
accounts is a 12–18 ms parallel index scan on PostgreSQL and a 1.7–2.8 ms walk of an index's
pages on SQLite, on every page that shows a total. So triggers on ``accounts`` and ``people``
keep the counts by status, and a total is the sum of a few rows read from their index.

PostgreSQL: statement-level triggers record what each statement added or took away, by status,
as one row per statement and status: writers never update a shared row, so they never wait for
one another. ``compact`` (run by the nightly tick) folds them into one row per table and status.
A restore from ``pg_dump`` loads the rows before the triggers exist, so nothing is counted twice.

SQLite has row-level triggers only, and one writer at a time: each row written moves one row per
table and status by one (about 5 µs a row: a second on the 200,000 accounts a generated L writes).
A backup is a copy of the file, the counts with it.
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


#: The counting function and its three triggers on PostgreSQL; <counted> is one of COUNTED.
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

#: The status's row, made when the first row of that status is written.
_SQLITE_ROW_FOR = """INSERT INTO kept_counts (table_name, status, n) SELECT '<counted>', {row}.status, 0
    WHERE NOT EXISTS (SELECT 1 FROM kept_counts WHERE table_name = '<counted>' AND status = {row}.status);"""
_SQLITE_MOVE = "UPDATE kept_counts SET n = n {sign} 1 WHERE table_name = '<counted>' AND status = {row}.status;"
#: The three triggers on SQLite (row-level: one row per table and status, moved by one).
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER kept_count_<counted>_insert AFTER INSERT ON <counted> BEGIN
    {_SQLITE_ROW_FOR.format(row="NEW")}
    {_SQLITE_MOVE.format(sign="+", row="NEW")}
END""",
    f"""CREATE TRIGGER kept_count_<counted>_delete AFTER DELETE ON <counted> BEGIN
    {_SQLITE_MOVE.format(sign="-", row="OLD")}
END""",
    f"""CREATE TRIGGER kept_count_<counted>_update AFTER UPDATE OF status ON <counted>
WHEN NEW.status IS NOT OLD.status BEGIN
    {_SQLITE_ROW_FOR.format(row="NEW")}
    {_SQLITE_MOVE.format(sign="+", row="NEW")}
    {_SQLITE_MOVE.format(sign="-", row="OLD")}
END""",
)
_SQLITE_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS kept_count_<counted>_insert",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_delete",
    "DROP TRIGGER IF EXISTS kept_count_<counted>_update",
)


def _for(table: str, statements: tuple[str, ...]) -> tuple[str, ...]:
    if table not in COUNTED:  # the names are this module's, never input
        raise ValueError(f"{table!r} is not a counted table")
    return tuple(statement.replace("<counted>", table) for statement in statements)


def trigger_statements(table: str, dialect: str) -> tuple[str, ...]:
    """The triggers that count ``table`` (and, on PostgreSQL, their function)."""
    return _for(table, _TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS)


def drop_trigger_statements(table: str, dialect: str) -> tuple[str, ...]:
    return _for(table, _DROP_TRIGGERS if dialect == "postgresql" else _SQLITE_DROP_TRIGGERS)


# create_all (tests, a new database without migrations): the triggers once every table exists.
for _table in COUNTED:
    for _dialect in ("postgresql", "sqlite"):
        for _statement in trigger_statements(_table, _dialect):
            sa.event.listen(Base.metadata, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
