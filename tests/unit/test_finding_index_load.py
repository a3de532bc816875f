"""The finding index's bulk load on SQLite (``finding_sql.bulk_load``): the rebuild changes its
connection's page cache, sort threads and overwriting of freed pages while it loads, and the
connection goes back to the pool as the registry set it up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db_setup import install_sqlite_pragmas
from app.extensions import db
from app.models.finding import IndexedFinding, IndexedFindingPerson
from app.services import finding_sql, findings
from tests import factories

SETTINGS = ("secure_delete", "cache_size", "threads")


def _settings(connection: sa.Connection | None = None) -> dict[str, int]:
    run = connection.exec_driver_sql if connection is not None else lambda sql: db.session.execute(sa.text(sql))
    return {name: run(f"PRAGMA {name}").scalar() for name in SETTINGS}


def _as_set_up() -> dict[str, int]:
    """A new connection's, as app/db_setup.py sets up every connection."""
    engine = sa.create_engine(db.engine.url)
    install_sqlite_pragmas(engine)
    try:
        with engine.connect() as connection:
            return _settings(connection)
    finally:
        engine.dispose()


def _registry() -> None:
    platform = factories.make_platform("Social")
    factories.make_account(platform, name="Library Page")
    db.session.commit()


def test_a_rebuild_gives_its_connection_back_as_the_registry_set_it_up(app: Flask) -> None:
    registry = _as_set_up()
    assert registry["secure_delete"] == 1
    _registry()  # a first write may have built the index already, on this connection
    assert _settings() == registry

    seen: list[dict[str, int]] = []
    create = sa.Index.create

    def create_watched(index: sa.Index, bind: sa.Connection, **kw: object) -> None:
        seen.append(_settings())
        create(index, bind, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sa.Index, "create", create_watched)
        findings.rebuild(findings.configured_interval())
    assert len(seen) >= 8, "every secondary index of the finding index is dropped and built again"
    assert seen[0] == {
        "secure_delete": 0,
        "cache_size": -finding_sql.SORT_CACHE_KIB,
        "threads": finding_sql.SORT_THREADS,
    }, "the indexes are built with freed pages left as they are, small sort runs and helper threads"
    assert _settings() == registry, "inside the same transaction, after the load"
    db.session.commit()
    assert _settings() == registry
    declared = {ix.name for model in (IndexedFinding, IndexedFindingPerson) for ix in model.__table__.indexes}
    present = {
        ix["name"] for table in ("finding_index", "finding_index_people") for ix in sa.inspect(db.engine).get_indexes(table)
    }
    assert declared <= present
    assert findings.index_problems() == []
