"""Trigram search indexes beside the tables people search by substring.

SQLite: a full-text table (FTS5, trigram tokenizer) over the searched columns, kept by triggers:
a search for any substring of three characters or more reads its matches from it instead of
scanning every row. PostgreSQL: trigram indexes (pg_trgm) on each lowered column, which a search
matches with ``lower(column) LIKE '%…%'``; the extension is trusted (PostgreSQL 13 and later: a
database's owner may create it), and where it cannot be created, search scans as before.

A migration that rebuilds a searched table (batch mode copies it) drops its triggers: such a
migration must run the index's ``sqlite_ddl()`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class SearchIndex:
    #: The searched table, and the text columns a search looks in.
    table: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        # The names go into DDL as they are: they are this code's, never input.
        if not all(name.isidentifier() for name in (self.table, *self.columns)):
            raise ValueError(f"{self.table!r} {self.columns!r}: not table and column names")

    @property
    def name(self) -> str:
        """The full-text table on SQLite; the prefix of the trigram indexes' names on PostgreSQL."""
        return f"{self.table}_search"

    def sqlite_ddl(self) -> tuple[str, ...]:
        """The full-text table, its three triggers, and a rebuild from the rows already there."""
        return self._filled(_SQLITE_DDL)

    def sqlite_drop(self) -> tuple[str, ...]:
        return self._filled(_SQLITE_DROP)

    def _filled(self, templates: tuple[str, ...]) -> tuple[str, ...]:
        names = {
            "<index>": self.name,
            "<table>": self.table,
            "<columns>": ", ".join(self.columns),
            "<new>": ", ".join(f"new.{c}" for c in self.columns),
            "<old>": ", ".join(f"old.{c}" for c in self.columns),
        }
        filled = []
        for template in templates:
            for placeholder, value in names.items():
                template = template.replace(placeholder, value)
            filled.append(template)
        return tuple(filled)

    @property
    def sqlite_triggers(self) -> set[str]:
        return {f"{self.name}_{event}" for event in ("insert", "delete", "update")}

    @property
    def trigram_indexes(self) -> dict[str, str]:
        """PostgreSQL: index name → the column it indexes (lowered)."""
        return {f"{self.name}_{column}": column for column in self.columns}

    def create_trigram_indexes(self, connection: sa.Connection) -> bool:
        """Create pg_trgm and the trigram indexes; False (nothing created) where the extension
        cannot be had, e.g. a role that may not create it."""
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError:
            return False
        for index, column in self.trigram_indexes.items():
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {index} ON {self.table} USING gin (lower({column}) gin_trgm_ops)"
            )
        return True

    def attach(self, table: sa.Table) -> None:
        """Create the index with the table (create_all: tests, a new database) and drop it first."""
        for statement in self.sqlite_ddl():
            sa.event.listen(table, "after_create", sa.DDL(statement).execute_if(dialect="sqlite"))
        for statement in self.sqlite_drop():
            sa.event.listen(table, "before_drop", sa.DDL(statement).execute_if(dialect="sqlite"))

        def trigram(target: sa.Table, connection: sa.Connection, **kw: Any) -> None:
            if connection.dialect.name == "postgresql":
                self.create_trigram_indexes(connection)

        sa.event.listen(table, "after_create", trigram)


# Filled in by SearchIndex with its own (checked) names.
_SQLITE_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS <index> USING fts5(
    <columns>, content='<table>', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS <index>_insert AFTER INSERT ON <table> BEGIN
    INSERT INTO <index>(rowid, <columns>) VALUES (new.id, <new>);
END""",
    """CREATE TRIGGER IF NOT EXISTS <index>_delete AFTER DELETE ON <table> BEGIN
    INSERT INTO <index>(<index>, rowid, <columns>)
    VALUES ('delete', old.id, <old>);
END""",
    """CREATE TRIGGER IF NOT EXISTS <index>_update AFTER UPDATE OF <columns> ON <table> BEGIN
    INSERT INTO <index>(<index>, rowid, <columns>)
    VALUES ('delete', old.id, <old>);
    INSERT INTO <index>(rowid, <columns>) VALUES (new.id, <new>);
END""",
    # Whatever the table already holds (a migration over an existing registry).
    "INSERT INTO <index>(<index>) VALUES ('rebuild')",
)
_SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS <index>_update",
    "DROP TRIGGER IF EXISTS <index>_delete",
    "DROP TRIGGER IF EXISTS <index>_insert",
    "DROP TABLE IF EXISTS <index>",
)
