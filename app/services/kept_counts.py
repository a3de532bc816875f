"""Totals of accounts and people read from the counts the database keeps (app.models.kept_count)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.kept_count import KeptCount


def total(table: str, *where: Any) -> sa.ScalarSelect[Any]:
    """The rows of ``table`` (whose statuses meet ``where``, a condition on KeptCount.status), as a
    scalar subquery: the sum of the kept rows, read from their index (cast back to an integer:
    PostgreSQL sums bigints as numeric)."""
    summed = sa.cast(sa.func.sum(KeptCount.n), sa.BigInteger)
    return sa.select(sa.func.coalesce(summed, 0)).where(KeptCount.table_name == table, *where).scalar_subquery()


def compact() -> int:
    """Fold the kept rows into one per table and status, in one statement (rows written
    meanwhile stay as they are), those that add up to nothing dropped; returns how many rows
    there are now. SQLite's triggers keep one row per table and status: there only the rows at
    zero go."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(sa.delete(KeptCount).where(KeptCount.n == 0))
        return db.session.scalar(sa.select(sa.func.count()).select_from(KeptCount)) or 0
    gone = sa.delete(KeptCount).returning(KeptCount.table_name, KeptCount.status, KeptCount.n).cte("gone")
    db.session.execute(
        sa.insert(KeptCount).from_select(
            ["table_name", "status", "n"],
            sa.select(gone.c.table_name, gone.c.status, sa.func.sum(gone.c.n))
            .group_by(gone.c.table_name, gone.c.status)
            .having(sa.func.sum(gone.c.n) != 0),
        )
    )
    return db.session.scalar(sa.select(sa.func.count()).select_from(KeptCount)) or 0
