"""Per-connection database settings."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Applied on every SQLite connection: enforce foreign keys, WAL for concurrent readers, wait for
#: locks instead of failing, and overwrite deleted content (no secret lingers in free pages).
#: A 16 MB page cache (the default is 2 MB): one count over a large registry's index no longer
#: pushes out the pages the next statements read (200,000 accounts: most pages 10-25% faster).
SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA secure_delete=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-16384",
)


def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def install_sqlite_pragmas(engine: Engine) -> None:
    if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _on_connect):
        sa.event.listen(engine, "connect", _on_connect)
