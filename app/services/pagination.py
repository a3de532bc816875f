"""A page of results, computed without the request (services stay door-agnostic)."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from app.extensions import db

T = TypeVar("T")

#: Lists, and the counts beside a list's rows, are counted this far: past it a page says "more
#: than 1,000", and counting costs the same however many rows there are.
COUNT_LIMIT = 1_000


@dataclass(frozen=True)
class Tally:
    """A count taken up to a limit: ``n``, and whether there are more than that."""

    n: int
    more: bool = False

    @classmethod
    def of(cls, counted: int, limit: int = COUNT_LIMIT) -> Tally:
        """From a count taken up to ``limit + 1`` rows (``counting_to``)."""
        return cls(*capped(counted, limit))

    def __str__(self) -> str:
        return f"more than {self.n:,}" if self.more else f"{self.n:,}"


def counting_to(stmt: sa.Select[Any], limit: int = COUNT_LIMIT, outer: Any = None) -> sa.ScalarSelect[int]:
    """A scalar subquery counting the rows of ``stmt`` up to ``limit + 1`` (for ``Tally.of``):
    it stops there, so it costs at most that many index entries, never the whole table.
    ``outer``: the enclosing statement's table that ``stmt`` refers to (one count per row of it)."""
    if outer is not None:
        # Counted from a subquery, which SQLAlchemy does not correlate unless told.
        stmt = stmt.correlate(outer)
    return sa.select(sa.func.count()).select_from(stmt.limit(limit + 1).subquery()).scalar_subquery()


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    #: The total was counted only up to a limit: there are more than ``total`` rows.
    total_capped: bool = False
    #: Keyset paging (pages reached through next/previous links): the id of the last row shown
    #: (the next page starts after it) and of the first (the previous page ends before it); None
    #: where there is no such page.
    next_after: int | None = None
    prev_before: int | None = None
    keyset: bool = False

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page), self.page + (1 if self.next_after is not None else 0))

    @property
    def has_prev(self) -> bool:
        return self.prev_before is not None if self.keyset else self.page > 1

    @property
    def has_next(self) -> bool:
        return self.next_after is not None if self.keyset else self.page < self.pages

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        last = (self.page - 1) * self.per_page + len(self.items) if self.keyset else self.page * self.per_page
        return last if self.total_capped else min(self.total, last)


def count_rows(stmt: sa.Select[Any], limit: int | None = None) -> tuple[int, bool]:
    """How many rows ``stmt`` (a select of one column, e.g. ids) gives, counting at most
    ``limit``: (count, whether there are more). With a limit the cost is bounded by it, not by
    the size of the table."""
    if limit is None:
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0, False
    return capped(
        db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).limit(limit + 1).subquery())) or 0, limit
    )


def from_the_end(offset: int, limit: int, total: int) -> tuple[int, int] | None:
    """Where to read a page of ``limit`` rows from ``offset``, in a list of exactly ``total`` rows,
    backwards from the end (in the reverse order, the rows then turned round): (offset, limit) in
    that order when the page is nearer the end than the start, so that it skips only the rows after
    it; None when it is nearer the start. A list whose order is total gives the same rows either way."""
    after = total - offset - limit
    if offset <= max(0, after):
        return None
    return max(0, after), max(0, min(limit, total - offset))


def capped(counted: int, limit: int) -> tuple[int, bool]:
    """A count taken up to ``limit + 1`` rows, as (count, whether there are more than ``limit``)."""
    return min(counted, limit), counted > limit


def paginate(stmt: sa.Select[Any], page: int, per_page: int, count_limit: int | None = None) -> Page[Any]:
    """Run ``stmt`` for one page; a page past the end shows the last page.

    ``count_limit``: the total is counted only this far, or to the end of the page after this one
    when that is further (so a next page is known to exist); past it the page says "more than".
    The count then costs the page's depth at most, never the whole table.
    """
    page = max(1, page)
    limit = None if count_limit is None else max(count_limit, (page + 1) * per_page)
    total, total_capped = count_rows(stmt, limit)
    if not total_capped:
        page = min(page, max(1, ceil(total / per_page)))
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=total_capped)
