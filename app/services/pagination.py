"""A page of results, computed without the request (services stay door-agnostic)."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from app.extensions import db

T = TypeVar("T")


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


def capped(counted: int, limit: int) -> tuple[int, bool]:
    """A count taken up to ``limit + 1`` rows, as (count, whether there are more than ``limit``)."""
    return min(counted, limit), counted > limit


def paginate(stmt: sa.Select[Any], page: int, per_page: int) -> Page[Any]:
    """Run ``stmt`` for one page; a page past the end shows the last page."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, ceil(total / per_page))
    page = min(max(1, page), pages)
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, total=total, page=page, per_page=per_page)
