"""The migrations build the schema the models describe, on SQLite and on PostgreSQL, and undo it.

Modelled on SecureDrop's test_alembic.py and Warehouse's ``bin/db-check``: a single head;
base → head → base → head with ``flask db check`` clean after each head; and every revision,
whatever their number, stepped up, down and up again so each downgrade runs.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import Script, ScriptDirectory
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Account
from app.models.account import ACCOUNT_SEARCH
from app.models.kept_count import COUNTED
from app.models.person import PEOPLE_SEARCH
from app.models.profile import PROFILE_SEARCH
from app.services import search
from tests.conftest import scratch_postgres_database, skip_or_fail

CLEAN = "No new upgrade operations detected"


@pytest.fixture
def migrating_app(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    migrate = app.extensions["migrate"].migrate
    # Alembic's Config keeps the sys.stdout of import time; point it at the current one so the CLI
    # runner sees what `flask db check` prints (Flask-Migrate's configure hook).
    monkeypatch.setattr(migrate, "configure_callbacks", [*migrate.configure_callbacks, _current_stdout])
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _current_stdout(config: AlembicConfig) -> AlembicConfig:
    config.stdout = sys.stdout
    return config


def script_directory(app: Flask) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def revisions(app: Flask) -> list[Script]:
    """Every revision, oldest first."""
    return list(reversed(list(script_directory(app).walk_revisions("base", "heads"))))


def current(app: Flask) -> set[str]:
    with db.engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}


#: The search indexes beside the accounts, people and profiles (app/models/search_index.py).
SEARCH_INDEXES = (ACCOUNT_SEARCH, PEOPLE_SEARCH, PROFILE_SEARCH)


def app_tables() -> set[str]:
    """The tables, less Alembic's and the search indexes' (SQLite's full-text tables)."""
    with db.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    return {n for n in names if not n.startswith(tuple(index.name for index in SEARCH_INDEXES))}


def assert_schema_matches_models(app: Flask) -> None:
    result: Any = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert CLEAN in result.output
    assert app_tables() == set(db.metadata.tables)
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Alembic compares no triggers: a later migration that copies accounts, people or
            # profiles (batch mode) would drop those keeping the search indexes, and only this would notice.
            triggers = set(conn.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            for index in SEARCH_INDEXES:
                assert index.sqlite_triggers <= triggers, index.name
        else:
            triggers = set(conn.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
        # Nor those keeping the totals of accounts and people.
        assert {f"kept_count_{table}_{event}" for table in COUNTED for event in ("insert", "delete", "update")} <= triggers
        if conn.dialect.name != "sqlite":
            # Alembic's comparison leaves them out too (present only where pg_trgm could be had).
            for index in SEARCH_INDEXES:
                assert set(index.trigram_indexes) <= trigram_indexes(conn), index.name


def trigram_indexes(conn: sa.Connection) -> set[str]:
    return set(conn.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'")))


def test_there_is_a_single_head() -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        heads = script_directory(app).get_heads()
    assert len(heads) == 1, f"Alembic has {len(heads)} heads {heads}: merge them (flask db merge heads)"


def test_base_to_head_and_back_twice(migrating_app: Flask) -> None:
    head = script_directory(migrating_app).get_current_head()
    for _ in range(2):
        flask_migrate.upgrade()
        assert current(migrating_app) == {head}
        assert_schema_matches_models(migrating_app)
        flask_migrate.downgrade(revision="base")
        assert current(migrating_app) == set()
        assert app_tables() == set(), "the downgrade to base left tables behind"
        # The check is not vacuous: an empty database is reported as out of date.
        assert migrating_app.test_cli_runner().invoke(args=["db", "check"]).exit_code != 0


def test_every_revision_steps_up_down_and_up(migrating_app: Flask) -> None:
    steps = revisions(migrating_app)
    assert steps, "no revisions found"
    for script in steps:
        below = script.down_revision or "base"
        assert isinstance(below, str), f"{script.revision} merges several revisions; step it by hand"
        flask_migrate.upgrade(revision=script.revision)
        assert current(migrating_app) == {script.revision}
        flask_migrate.downgrade(revision=below)
        assert current(migrating_app) == (set() if below == "base" else {below}), f"downgrade of {script.revision}"
        flask_migrate.upgrade(revision=script.revision)
        assert current(migrating_app) == {script.revision}, f"upgrade of {script.revision} after its downgrade"
    assert_schema_matches_models(migrating_app)


def test_a_migration_that_copies_users_keeps_the_rows_pointing_at_them(migrating_app: Flask) -> None:
    """SQLite's batch mode copies a table and drops the old one: with foreign keys enforced that
    drop would delete each user's recovery codes (ON DELETE CASCADE) and unlink their tokens."""
    head = script_directory(migrating_app).get_current_head()
    before = script_directory(migrating_app).get_revision(DROPS_TOTP_PENDING).down_revision
    assert isinstance(before, str)
    flask_migrate.upgrade(revision=before)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, role, active, session_epoch, created_at, updated_at, last_login_addr,"
                " totp_last_step) VALUES (77, 'it@example.org', 'it', true, 0, :at, :at, '', 0)"
            ),
            {"at": "2026-12-01 09:00:00"},
        )
        conn.execute(sa.text("INSERT INTO recovery_codes (user_id, code_hash) VALUES (77, 'a'), (77, 'b')"))
    flask_migrate.upgrade()
    assert current(migrating_app) == {head}
    with db.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM recovery_codes WHERE user_id = 77")) == 2
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1, "foreign keys are enforced again"


def test_the_finding_index_gets_back_the_indexes_a_rolled_back_rebuild_lost(migrating_app: Flask) -> None:
    """Before the rebuild kept its DROP INDEX statements in its transaction, a rebuild undone on
    SQLite left the finding index without its indexes; the next revision puts them back."""
    flask_migrate.upgrade(revision=RESTORES_FINDING_INDEXES_FROM)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_finding_index_order"))
        conn.execute(sa.text("DROP INDEX ix_finding_index_people_person_id"))
    flask_migrate.upgrade()
    assert_schema_matches_models(migrating_app)  # every declared index, ix_finding_index_order among them
    inspector = sa.inspect(db.engine)
    assert "ix_finding_index_people_person_id" in {ix["name"] for ix in inspector.get_indexes("finding_index_people")}


def test_the_counts_kept_start_from_the_rows_already_there(migrating_app: Flask) -> None:
    """A registry migrated to the kept counts (PostgreSQL's revision, then SQLite's) shows its
    totals, and keeps them through the writes after; SQLite's downgrade leaves the writes working."""
    flask_migrate.upgrade(revision=BEFORE_KEPT_COUNTS)
    at = {"at": "2026-12-01 09:00:00"}
    with db.engine.begin() as conn:
        platform = conn.scalar(sa.text("SELECT min(id) FROM platforms"))
        for n, status in enumerate(["active", "active", "dormant", "retired"]):
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (platform_id, name, handle, url, purpose, status, has_own_login, created_at,"
                    " updated_at, version) VALUES (:platform, :name, '', '', '', :status, false, :at, :at, 1)"
                ),
                {"platform": platform, "name": f"Page {n}", "status": status, **at},
            )
        for n, status in enumerate(["active", "leaving", "departed"]):
            conn.execute(
                sa.text(
                    "INSERT INTO people (name, work_email, job_title, status, created_at, updated_at, version)"
                    " VALUES (:name, :email, '', :status, :at, :at, 1)"
                ),
                {"name": f"Person {n}", "email": f"person{n}@example.org", "status": status, **at},
            )
    flask_migrate.upgrade()

    def kept() -> dict[tuple[str, str], int]:
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT table_name, status, sum(n) FROM kept_counts GROUP BY table_name, status HAVING sum(n) != 0")
            )
            return {(table, status): n for table, status, n in rows}

    assert kept() == {
        ("accounts", "active"): 2,
        ("accounts", "dormant"): 1,
        ("accounts", "retired"): 1,
        ("people", "active"): 1,
        ("people", "leaving"): 1,
        ("people", "departed"): 1,
    }
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE accounts SET status = 'retired' WHERE status = 'dormant'"))
        conn.execute(sa.text("DELETE FROM people WHERE status = 'departed'"))
    assert kept() == {("accounts", "active"): 2, ("accounts", "retired"): 2, ("people", "active"): 1, ("people", "leaving"): 1}
    if db.engine.dialect.name == "sqlite":
        flask_migrate.downgrade(revision=SQLITE_KEPT_COUNTS_FROM)
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM accounts WHERE status = 'retired'"))
        assert kept() == {}


#: The revision before PostgreSQL's kept counts, and the one before SQLite's.
BEFORE_KEPT_COUNTS = "e5b9d1c3a742"
SQLITE_KEPT_COUNTS_FROM = "e9c1a3d5f708"


#: The revision before the one that restores the finding index's indexes.
RESTORES_FINDING_INDEXES_FROM = "b6d4f2a8c915"


#: The revision that rebuilds the users table (drops users.totp_pending).
DROPS_TOTP_PENDING = "f2c6a8e4b913"


def test_without_the_right_to_create_pg_trgm_the_migrations_finish_and_search_scans(
    request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str]
) -> None:
    """A role that may not create extensions (no CREATE on its database) still migrates to the
    head: the trigram indexes are left out, it is told so, and search still answers (by scanning)."""
    server = request.getfixturevalue("postgres_server")
    if server is None:
        skip_or_fail("postgres", "PostgreSQL is not installed", "apt-get install postgresql (or set HANDOVER_TEST_PG_URL)")
    role = f"handover_app_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        with scratch_postgres_database(server, "handover_noext") as url:
            owner = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with owner.connect() as conn:
                conn.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {role}")
            owner.dispose()
            app = create_app("testing", SQLALCHEMY_DATABASE_URI=url.replace("://postgres@", f"://{role}@", 1))
            with app.app_context():
                flask_migrate.upgrade()
                assert current(app) == {script_directory(app).get_current_head()}
                assert "pg_trgm could not be created" in capfd.readouterr().out
                with db.engine.connect() as conn:
                    assert trigram_indexes(conn) == set()
                assert list(db.session.scalars(sa.select(Account).where(search.account_matches("harbour")))) == []
                db.session.remove()
                db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
