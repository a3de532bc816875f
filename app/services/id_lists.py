"""A list of ids bound to a statement as one parameter.

An expanding ``IN`` (``sa.bindparam(..., expanding=True)``) is rewritten for each list: one
placeholder per id, a new statement text for every length, so neither SQLAlchemy's nor the
database's statement cache is reused. With the list as a single value, the statement's text
is the same whatever the list holds: a JSON array read by ``json_each`` on SQLite, an integer
array on PostgreSQL. For lists of hundreds of ids read once and used in several statements.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class IdList(sa.types.TypeDecorator[list[int]]):
    """Ids as one parameter: an ``integer[]`` on PostgreSQL, a JSON array's text elsewhere."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Integer))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        ids = [int(i) for i in value]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


def among(column: Any, name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the ids bound (as a list) to the parameter ``name``."""
    ids = sa.bindparam(name, type_=IdList())
    if dialect == "postgresql":
        return column == sa.any_(sa.cast(ids, postgresql.ARRAY(sa.Integer)))
    return column.in_(sa.select(sa.func.json_each(ids).table_valued("value").c.value))
