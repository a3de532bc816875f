"""Shared fixtures: an app with a fresh database per test (SQLite, and PostgreSQL when available).

Groups that need a system service report how to enable them when skipped. With
``HANDOVER_TEST_REQUIRE=postgres,browser`` (set by .ci/run) a skip of those groups is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import Role, User
from app.services import users
from tests import factories
from tests.net import free_port

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {g.strip() for g in os.environ.get("HANDOVER_TEST_REQUIRE", "").split(",") if g.strip()}
#: Skip reasons start with this, so the summary (run in the xdist controller) can group them.
PG_START_TRIES = 3
GROUP_SKIP = re.compile(r"\[group (\w+)\] (.*) — to run them: (.*)")


def skip_or_fail(group: str, reason: str, how: str) -> None:
    """Skip a test whose service is missing, or fail it when CI requires the group."""
    if group in REQUIRED:
        pytest.fail(f"{group} tests are required here but cannot run: {reason}", pytrace=False)
    pytest.skip(f"[group {group}] {reason} — to run them: {how}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    groups: dict[str, tuple[int, str, str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if match := GROUP_SKIP.search(message):
            count, _, _ = groups.get(match.group(1), (0, "", ""))
            groups[match.group(1)] = (count + 1, match.group(2), match.group(3))
    if groups:
        terminalreporter.section("skipped groups")
        for group, (count, reason, how) in sorted(groups.items()):
            terminalreporter.write_line(f"{count} {group} tests skipped ({reason}). To run them: {how}")
    # Figures a test records with record_property("figures", ...) (the crash test's runs and
    # losses, the backup drill's timings), shown even when it passes and under xdist.
    figures = [
        str(value)
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == "figures"
    ]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at a test's cost: the same library and code path, a fraction of the memory and time
    (0.14 s a sign-in at the production parameters, the suite signs in thousands of times).
    ``test_passwords`` checks the parameters production hashes with."""
    with pytest.MonkeyPatch.context() as mp:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        mp.setattr(users, "_hasher", cheap)
        mp.setattr(users, "_DUMMY_HASH", cheap.hash("handover-timing-equaliser"))
        yield


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A PostgreSQL server URL: HANDOVER_TEST_PG_URL, or a throwaway cluster started here."""
    if url := os.environ.get("HANDOVER_TEST_PG_URL"):
        yield url
        return
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        yield None
        return
    data = Path(tempfile.mkdtemp(prefix="handover-pg-"))
    pg = str(ROOT / ".ci" / "pg.sh")
    failures = []
    # A port the kernel says is free now; another process may still take it before the server
    # binds, so a failed start is tried again on a new port (each try initialises afresh).
    for _ in range(PG_START_TRIES):
        port = free_port()
        started = subprocess.run([pg, "start", str(data), str(port)], check=False, capture_output=True, text=True)
        if started.returncode == 0:
            url = started.stdout.strip()
            break
        failures.append(f"port {port}: {started.stderr.strip()}")
        subprocess.run([pg, "stop", str(data)], check=False)
    else:
        shutil.rmtree(data, ignore_errors=True)
        # A failure, not pytest.exit: under xdist an exit crashes the worker and hides this message.
        pytest.fail("could not start PostgreSQL:\n" + "\n".join(failures), pytrace=False)
    yield url
    subprocess.run([pg, "stop", str(data)], check=False)


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str | None) -> Iterator[str | None]:
    """One database for this test session on the server, with the schema created once."""
    if postgres_server is None:
        yield None
        return
    with scratch_postgres_database(postgres_server, "handover_test") as url:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url


@contextmanager
def scratch_postgres_database(server: str, prefix: str = "handover_scratch") -> Iterator[str]:
    """A new, empty PostgreSQL database on ``server``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database with no tables at all (for migrations to build): SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    if server is None:
        skip_or_fail("postgres", "PostgreSQL is not installed", "apt-get install postgresql (or set HANDOVER_TEST_PG_URL)")
    with scratch_postgres_database(server, "handover_migrate") as url:
        yield url


# --- The app ------------------------------------------------------------------------------


@pytest.fixture
def today() -> date:
    """The day this test runs: taken per test, not when a module is imported, so a run that
    crosses midnight still agrees with the services' own ``date.today()``."""
    return date.today()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema, copied for each test (faster than create_all each time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        db.create_all()
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.engine.dispose()
    return path


def _truncate_all() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The database for one test. Integration tests are also parametrised with "postgresql"."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
        if url is None:
            skip_or_fail("postgres", "PostgreSQL is not installed", "apt-get install postgresql (or set HANDOVER_TEST_PG_URL)")
        return url
    path = tmp_path / "handover.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _check_finding_index(request: pytest.FixtureRequest) -> None:
    """Whatever a test changed, the finding index it leaves must equal a full evaluation (tests
    that write behind the ORM's back, or move the date, are marked ``finding_index_unchecked``)."""
    if request.node.get_closest_marker("finding_index_unchecked"):
        return
    from app.services import findings

    try:
        problems = findings.index_problems()
    finally:
        db.session.remove()
    if problems:
        pytest.fail("The finding index differs from the findings:\n" + "\n".join(problems), pytrace=False)


def _check_kept_counts() -> None:
    """Whatever a test changed, the counts the database keeps must equal the tables' own."""
    from app.models.kept_count import COUNTED, KeptCount

    try:
        kept = {
            (table, status): n
            for table, status, n in db.session.execute(
                sa.select(KeptCount.table_name, KeptCount.status, sa.func.sum(KeptCount.n))
                .group_by(KeptCount.table_name, KeptCount.status)
                .having(sa.func.sum(KeptCount.n) != 0)
            )
        }
        actual = {
            (table, status): n
            for table in COUNTED
            for status, n in db.session.execute(sa.text(f"SELECT status, count(*) FROM {table} GROUP BY status"))
        }
    finally:
        db.session.remove()
    if kept != actual:
        pytest.fail(f"The kept counts differ from the tables: kept {kept}, counted {actual}", pytrace=False)


def _check_note_platforms() -> None:
    """Whatever a test changed, every credential note must carry its account's platform, or its
    profile's (the rotation queue's platform filter reads it from the note)."""
    from app.models import Account, CredentialNote, Profile

    try:
        wrong = db.session.execute(
            sa.select(CredentialNote.id, CredentialNote.platform_id, sa.func.coalesce(Account.platform_id, Profile.platform_id))
            .outerjoin(Account, CredentialNote.account_id == Account.id)
            .outerjoin(Profile, CredentialNote.profile_id == Profile.id)
            .where(CredentialNote.platform_id.is_distinct_from(sa.func.coalesce(Account.platform_id, Profile.platform_id)))
        ).all()
    finally:
        db.session.remove()
    if wrong:
        pytest.fail(
            f"Credential notes carry another platform than their holder's (note, kept, holder's): {wrong[:5]}", pytrace=False
        )


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url: str) -> Iterator[Flask]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    try:
        _check_finding_index(request)
        _check_kept_counts()
        _check_note_platforms()
    finally:
        # Whatever a check found, the next test starts from an empty database.
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
        db.engine.dispose()
        ctx.pop()


@pytest.fixture
def drop_append_only_triggers(app: Flask) -> Iterator[Any]:
    """A function that removes the triggers refusing UPDATE and DELETE on audit events (as someone
    with raw database access would, to tamper); they are put back after the test."""
    from app.models.audit import drop_trigger_statements, trigger_statements

    dialect = db.engine.dialect.name

    def drop() -> None:
        for statement in drop_trigger_statements(dialect):
            db.session.execute(sa.text(statement))
        db.session.commit()

    yield drop
    db.session.rollback()
    for statement in (*drop_trigger_statements(dialect), *trigger_statements(dialect)):
        db.session.execute(sa.text(statement))
    db.session.commit()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Integration tests run on SQLite and PostgreSQL."""
    if "database_url" in metafunc.fixturenames:
        backends = ["sqlite", "postgresql"] if "/integration/" in str(metafunc.definition.path) else ["sqlite"]
        metafunc.parametrize("database_url", backends, indirect=True)


# --- Clients and users --------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Client(FlaskClient):
    """A test client that signs in and posts forms with the session's real CSRF token."""

    csrf: str | None = None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Each request gets its own app context (and so its own ``g`` and database session),
        # as in production; otherwise it would reuse the test's context.
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def login(self, user: User, password: str = factories.PASSWORD) -> Any:
        page = self.get("/login")
        response = self.post("/login", data={"email": user.email, "password": password, "csrf_token": _token(page.text)})
        assert response.status_code == 302, f"sign-in failed for {user.email}: {response.status_code}"
        self.csrf = None
        return response

    def token(self) -> str:
        if self.csrf is None:
            self.csrf = _token(self.get("/login" if not self._signed_in() else "/").text)
        return self.csrf

    def _signed_in(self) -> bool:
        with self.session_transaction() as session:
            return "_user_id" in session

    def submit(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST a form with the CSRF token included."""
        return self.post(url, data={"csrf_token": self.token(), **(data or {})}, **kw)


def _token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = Client
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Any:
    def make(role: Role = Role.STAFF, **kw: Any) -> User:
        user = factories.make_user(role, **kw)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login_as(client: Client, make_user: Any) -> Any:
    """Sign the client in as a new user of a role; returns the user."""

    def login(role: Role, **kw: Any) -> User:
        user = make_user(role, **kw)
        client.login(user)
        return user

    return login
