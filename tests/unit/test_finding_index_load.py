"""The finding index's bulk load on SQLite (``finding_sql.bulk_load``): the rebuild changes its
connection's page cache, sort threads and overwriting of freed pages while it loads, and the
connection goes back to the pool as the registry set it up."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models.finding import IndexedFinding, IndexedFindingPerson
from app.services import finding_sql, findings
from tests import factories

#: As app/db_setup.py sets up every connection (threads: SQLite's default, no helper thread).
REGISTRY = {"secure_delete": 1, "cache_size": -16384, "threads": 0}


def _settings() -> dict[str, int]:
    return {name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar() for name in REGISTRY}


def _registry() -> None:
    platform = factories.make_platform("Social")
    factories.make_account(platform, name="Library Page")
    db.session.commit()


def test_a_rebuild_gives_its_connection_back_as_the_registry_set_it_up(app: Flask) -> None:
    _registry()  # a first write may have built the index already, on this connection
    assert _settings() == REGISTRY

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
    assert _settings() == REGISTRY, "inside the same transaction, after the load"
    db.session.commit()
    assert _settings() == REGISTRY
    declared = {ix.name for model in (IndexedFinding, IndexedFindingPerson) for ix in model.__table__.indexes}
    present = {
        ix["name"] for table in ("finding_index", "finding_index_people") for ix in sa.inspect(db.engine).get_indexes(table)
    }
    assert declared <= present
    assert findings.index_problems() == []
