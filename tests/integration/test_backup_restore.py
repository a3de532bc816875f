"""Backup and restore (SR-37): `flask backup create|verify|restore` on SQLite and PostgreSQL.

The drill runs on the demo organisation plus 10,000 generated accounts (built once per database
for this module): the backup verifies (integrity, counts, revision, chain, every secret opens);
one changed byte anywhere fails verification with a message, not a traceback; a restore into an
empty database serves the same pages; a database that holds data is not overwritten without
--force. Smaller tests show each check failing for its own reason.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Account, AuditEvent, Department, Person, User
from app.models.credential import CredentialKind, CredentialNote, CredentialVersion
from app.services import audit, backup, credentials, crypto, demo, generate, users
from app.services.context import Actor
from config import TestingConfig
from tests import factories, old_audit_chain
from tests.conftest import Client, scratch_postgres_database, skip_or_fail

pytestmark = pytest.mark.xdist_group("backup-restore")

GENERATED_ACCOUNTS = 10_000
#: Restoring the 10,000-account organisation, verification included, must fit this (seconds).
RESTORE_BUDGET = 60
#: What legitimately differs between two renderings of one page.
VOLATILE = ((re.compile(r'(name="[\w-]*csrf_token"[^>]*value=")[^"]+"'), r'\1…"'), (re.compile(r'(nonce=")[^"]+"'), r'\1…"'))


def _cli(app: Flask, *args: str) -> Any:
    """Run a command on ``app`` (its own context: a command otherwise runs on whichever app is current)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _fast_hashing(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


# --- The organisation of 10,000 accounts, once per database ------------------------------------


@dataclass
class Drill:
    kind: str
    app: Flask
    server: str | None
    folder: Path
    backup: Path
    #: The admin's session cookie, valid on any database restored from the backup.
    session_cookie: str
    pages: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    created: Any = None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def drill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    folder = tmp_path_factory.mktemp(f"backup-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        _fast_hashing(mp)
        if request.param == "sqlite":
            yield from _build("sqlite", f"sqlite:///{folder / 'source.sqlite3'}", None, folder)
            return
        server = request.getfixturevalue("postgres_server")
        if server is None:
            skip_or_fail("postgres", "PostgreSQL is not installed", "apt-get install postgresql (or set HANDOVER_TEST_PG_URL)")
        with scratch_postgres_database(server, "handover_backup") as url:
            yield from _build("postgresql", url, server, folder)


def _build(kind: str, url: str, server: str | None, folder: Path) -> Iterator[Drill]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    app.test_client_class = Client
    started = time.perf_counter()
    with app.app_context():
        flask_migrate.upgrade()
        demo.load_demo(Actor.system("flask demo load"))
        db.session.commit()
        with pytest.MonkeyPatch.context() as adding:
            # The generator fills only an empty registry; here it adds to the demo on purpose.
            adding.setattr(generate, "registry_is_empty", lambda: True)
            adding.setattr(generate, "DEPARTMENT_WORDS", [f"Branch {word}" for word in generate.DEPARTMENT_WORDS])
            generate.generate_organisation(
                Actor.system("flask demo generate"),
                crypto.current_keyring(),
                people=400,
                accounts=GENERATED_ACCOUNTS,
                seed=11,
                checkpoint=lambda _n: db.session.commit(),
            )
        db.session.commit()
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@riverside.example"))
        facebook = db.session.scalar(sa.select(Account.id).where(Account.name == "Riverside Public Library"))
    generated = time.perf_counter() - started
    client = app.test_client()
    client.login(admin, password=demo.DEMO_PASSWORD)
    cookie = client.get_cookie("session")
    assert cookie is not None
    drill = Drill(kind, app, server, folder, folder / "nightly.handover", cookie.value, seconds={"generate": generated})

    started = time.perf_counter()
    result = _cli(app, "backup", "create", str(drill.backup))
    drill.seconds["create"] = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    with app.app_context(), backup.open_backup(drill.backup) as (manifest, _):
        drill.created = manifest
    # The pages as they are at the moment of the backup (signing in was before it).
    drill.pages = _pages(client, facebook)
    try:
        yield drill
    finally:
        _dispose(app)


def _pages(client: Any, account_id: int) -> dict[str, str]:
    pages = {}
    for url in ("/", "/accounts/", "/accounts/?page=37", "/people/", f"/accounts/{account_id}", "/audit/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.text
        for pattern, replacement in VOLATILE:
            html = pattern.sub(replacement, html)
        pages[url] = html
    return pages


def _empty_database(drill: Drill, stack: Any) -> str:
    if drill.kind == "sqlite":
        return f"sqlite:///{drill.folder / f'restored-{time.monotonic_ns()}.sqlite3'}"
    assert drill.server is not None
    return stack.enter_context(scratch_postgres_database(drill.server, "handover_restored"))


def test_a_backup_of_the_demo_and_10000_accounts_verifies(drill: Drill, record_property: Any) -> None:
    manifest = drill.created
    assert manifest.database == drill.kind
    assert manifest.row_counts["accounts"] == GENERATED_ACCOUNTS + 31  # the demo's 31 and the generated ones
    assert manifest.row_counts["credential_notes"] > 5_000
    assert manifest.alembic_revision and len(manifest.row_counts) >= 25
    assert manifest.audit_chain_head and manifest.audit_chain_head["seq"] == manifest.row_counts["audit_events"]
    assert manifest.credential_key_ids == ["test-key-1"]

    started = time.perf_counter()
    result = _cli(drill.app, "backup", "verify", str(drill.backup))
    drill.seconds["verify"] = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    notes = manifest.row_counts["credential_notes"]
    assert f"{notes:,} of {notes:,} notes" in result.output
    assert f"{manifest.row_counts['audit_events']:,} events intact" in result.output
    for check in ("file checksum", "integrity", "row counts", "migration revision", "audit chain", "master keys", "credentials"):
        assert re.search(rf"^\s+ok\s+{check}:", result.output, re.M), check
    assert "FAILED" not in result.output
    figures = (
        f"[{drill.kind}] backup of the demo + {GENERATED_ACCOUNTS:,} generated accounts: {manifest.total_rows:,} rows, "
        f"{drill.backup.stat().st_size / 1e6:.1f} MB backup; generate {drill.seconds['generate']:.1f} s, "
        f"create {drill.seconds['create']:.1f} s, verify {drill.seconds['verify']:.1f} s"
    )
    print("\n" + figures)
    record_property("figures", figures)


@pytest.mark.parametrize("where", ["manifest", "database copy", "middle", "tar padding", "checksum line", "last byte"])
def test_one_changed_byte_anywhere_fails_verification_with_a_message(drill: Drill, where: str) -> None:
    data = bytearray(drill.backup.read_bytes())
    size = len(data)
    offsets = {
        "manifest": 512 + 40,  # after the first tar header: inside manifest.json
        "database copy": 512 * 8,
        "middle": size // 2,
        "tar padding": size - backup.TRAILER_LENGTH - 700,  # the archive's end-of-file blocks
        "checksum line": size - 20,
        "last byte": size - 1,
    }
    offset = offsets[where]
    data[offset] ^= 0x01
    damaged = drill.folder / f"damaged-{where.replace(' ', '-')}.handover"
    damaged.write_bytes(bytes(data))
    result = _cli(drill.app, "backup", "verify", str(damaged))
    assert result.exit_code == 1
    assert "damaged" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_cut_short_backup_fails_verification(drill: Drill) -> None:
    cut = drill.folder / "cut.handover"
    cut.write_bytes(drill.backup.read_bytes()[:-5000])
    result = _cli(drill.app, "backup", "verify", str(cut))
    assert result.exit_code == 1
    assert "cut short" in result.output and "Traceback" not in result.output


def test_restore_into_an_empty_database_serves_the_same_pages(drill: Drill, record_property: Any) -> None:
    with ExitStack() as stack:
        url = _empty_database(drill, stack)
        target = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        stack.callback(_dispose, target)
        started = time.perf_counter()
        result = _cli(target, "backup", "restore", str(drill.backup))
        seconds = time.perf_counter() - started
        assert result.exit_code == 0, result.output
        assert f"{drill.created.total_rows:,} rows" in result.output
        figures = f"[{drill.kind}] restore of {drill.created.total_rows:,} rows into an empty database, verification included: {seconds:.1f} s"
        print("\n" + figures)
        record_property("figures", figures)
        assert seconds < RESTORE_BUDGET

        with target.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == GENERATED_ACCOUNTS + 31
        assert _cli(target, "audit", "verify").exit_code == 0

        # The admin's session from before the backup is valid on the restored database.
        target.test_client_class = Client
        client = target.test_client()
        client.set_cookie("session", drill.session_cookie)
        facebook = int(next(url for url in drill.pages if re.fullmatch(r"/accounts/\d+", url)).rsplit("/", 1)[1])
        restored = _pages(client, facebook)
        for url, html in drill.pages.items():
            assert restored[url] == html, f"{url} differs after the restore"
        assert "Riverside Public Library" in restored[f"/accounts/{facebook}"]


def test_restore_refuses_a_database_that_holds_data_without_force(drill: Drill) -> None:
    with drill.app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    result = _cli(drill.app, "backup", "restore", str(drill.backup))
    assert result.exit_code == 1
    assert "already holds data" in result.output and "--force" in result.output
    assert "Traceback" not in result.output
    with drill.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before


# --- Each check, failing for its own reason (small registries, both databases) ---------------


def _person(name: str) -> Person:
    person = factories.make_person(name)
    db.session.commit()
    return person


def _note(secret: str, rotated_to: str | None = None) -> CredentialNote:
    account = factories.make_account(name=f"Account of {secret[:8]}")
    note = credentials.create_note(
        Actor.system(), credentials.NoteData(label="Password", kind=CredentialKind.PASSWORD), secret, account=account
    )
    if rotated_to:
        credentials.rotate_note(Actor.system(), note, rotated_to, "Rotated for the backup test")
    db.session.commit()
    return note


def test_restore_with_force_replaces_what_was_added_since_the_backup(app: Flask, tmp_path: Path) -> None:
    _person("Kept Before")
    _note("kept-secret-value", rotated_to="kept-secret-value-2")
    path = tmp_path / "before.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    _person("Added After")

    refused = _cli(app, "backup", "restore", str(path))
    assert refused.exit_code == 1 and "--force" in refused.output
    result = _cli(app, "backup", "restore", "--force", str(path))
    assert result.exit_code == 0, result.output
    assert "It replaced" in result.output
    names = set(db.session.scalars(sa.select(Person.name)))
    assert "Kept Before" in names and "Added After" not in names
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialVersion)) == 1
    assert _cli(app, "audit", "verify").exit_code == 0
    # The restored database takes new writes (PostgreSQL sequences were restored past every id).
    _person("Added After Restore")


def test_verification_fails_when_the_configured_keys_cannot_open_the_secrets(app: Flask, tmp_path: Path) -> None:
    _note("sealed-under-test-key-1", rotated_to="rotated-under-test-key-1")
    path = tmp_path / "keys.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    other = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        MASTER_KEYS=crypto.generate_key_spec("other-key"),
    )
    try:
        result = _cli(other, "backup", "verify", str(path))
    finally:
        _dispose(other)
    assert result.exit_code == 1
    assert re.search(r"FAILED\s+master keys: not configured: test-key-1", result.output)
    assert re.search(r"FAILED\s+credentials: only 0 of 1 notes, 0 of 1 kept versions", result.output)
    assert "sealed-under-test-key-1" not in result.output and "Traceback" not in result.output
    assert "failed verification (master keys, credentials)" in result.output


def test_verification_fails_when_the_copy_does_not_match_its_manifest(app: Flask, tmp_path: Path) -> None:
    """A manifest rewritten (with a correct file checksum) to claim other counts and another chain
    head: the restored copy contradicts it, and verification says where."""
    _person("Ann Counted")
    _note("a-secret-with-an-audit-event")
    path, forged = tmp_path / "true.handover", tmp_path / "forged.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    with backup.open_backup(path) as (manifest, copy):
        manifest.row_counts["people"] += 1
        manifest.audit_chain_head = {"seq": 999, "link": "f" * 64}
        backup._write_archive(forged, manifest, copy, backup.no_progress)  # noqa: SLF001 (writes a consistent file)
    result = _cli(app, "backup", "verify", str(forged))
    assert result.exit_code == 1
    assert re.search(r"FAILED\s+row counts: people: 1 instead of 2", result.output)
    assert re.search(
        r"FAILED\s+audit chain: the restored chain ends at sequence number \d+ .*recorded sequence number 999", result.output
    )
    assert re.search(r"ok\s+credentials", result.output)
    restore = _cli(app, "backup", "restore", "--force", str(forged))
    assert restore.exit_code == 1 and "nothing was restored" in restore.output


def test_secrets_stay_encrypted_and_the_master_keys_are_not_in_the_backup(app: Flask, tmp_path: Path) -> None:
    canary = "canary-7f3e9c1d-backup-plaintext"
    _note(f"{canary}-current", rotated_to=f"{canary}-rotated")
    path = tmp_path / "canary.handover"
    result = _cli(app, "backup", "create", str(path))
    assert result.exit_code == 0
    assert "master keys are NOT in it" in result.output and "test-key-1" in result.output
    envelopes = [envelope.encode() for envelope in db.session.scalars(sa.select(CredentialNote.secret))]
    envelopes += [envelope.encode() for envelope in db.session.scalars(sa.select(CredentialVersion.secret))]
    assert len(envelopes) == 2
    raw = path.read_bytes()
    readable = [raw]
    with backup.open_backup(path) as (manifest, copy):
        assert "NOT in this backup" in manifest.to_json().decode()
        if manifest.database == "postgresql":  # the custom format compresses: read it as SQL too
            pg_restore = backup._pg_tool("pg_restore")  # noqa: SLF001
            readable.append(subprocess.run([pg_restore, "--file=-", str(copy)], capture_output=True, check=True).stdout)
    spec = TestingConfig.MASTER_KEYS
    assert spec
    key_text = spec.split(":", 1)[1]
    key_bytes = crypto.Keyring.parse(spec).raw_key("test-key-1")
    for data in readable:
        assert canary.encode() not in data
        assert key_text.encode() not in data and key_bytes not in data
    # The secrets are there, as the database holds them: sealed.
    assert all(envelope in readable[-1] for envelope in envelopes)


def test_a_backup_taken_while_another_process_writes_matches_its_manifest(app: Flask, tmp_path: Path) -> None:
    """Writes committed by someone else during `backup create` neither block it nor make the copy
    disagree with the manifest: both describe one moment (SQLite: the backup API's read
    transaction; PostgreSQL: pg_dump joins the snapshot the counts were read in)."""
    _note("present-before-the-backup")
    writer = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    stop, written = threading.Event(), []

    def write() -> None:
        while not stop.is_set():
            with writer.begin() as conn:
                conn.execute(sa.insert(Department.__table__).values(name=f"Written meanwhile {len(written)}"))
            written.append(time.perf_counter())

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        started = time.perf_counter()
        result = _cli(app, "backup", "create", str(tmp_path / "busy.handover"))
        finished = time.perf_counter()
        time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
        writer.dispose()
    assert result.exit_code == 0, result.output
    assert any(started <= moment <= finished for moment in written), "no write happened while the backup ran"
    verify = _cli(app, "backup", "verify", str(tmp_path / "busy.handover"))
    assert verify.exit_code == 0, verify.output
    with backup.open_backup(tmp_path / "busy.handover") as (manifest, _):
        assert 20 <= manifest.row_counts["departments"] < len(written) + 1


def test_the_file_is_a_plain_tar_with_the_manifest_and_the_copy(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "plain.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    with tarfile.open(path) as tar:
        names = tar.getnames()
    kind = db.engine.dialect.name
    assert names == ["manifest.json", backup.DUMP_NAMES[kind]]
    again = _cli(app, "backup", "create", str(path))
    assert again.exit_code == 1 and "already exists" in again.output


def test_files_that_are_not_backups_get_a_message(app: Flask, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a backup at all\n" * 20)
    result = _cli(app, "backup", "verify", str(text))
    assert result.exit_code == 1 and "is not a Handover backup" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty.handover"
    empty.write_bytes(b"")
    assert "is not a Handover backup" in _cli(app, "backup", "verify", str(empty)).output
    missing = _cli(app, "backup", "create", str(tmp_path / "no-such-folder" / "x.handover"))
    assert missing.exit_code == 1 and "does not exist" in missing.output
    unreachable = create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        refused = _cli(unreachable, "backup", "create", str(tmp_path / "never.handover"))
    finally:
        _dispose(unreachable)
    assert refused.exit_code == 1 and "Cannot use the configured database" in refused.output
    assert not (tmp_path / "never.handover").exists()


def test_postgresql_tools_missing_or_the_other_database_kind(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kind.handover"
    monkeypatch.setattr(backup, "glob", lambda _pattern: [])
    monkeypatch.setattr(backup.shutil, "which", lambda _name: None)
    result = _cli(app, "backup", "create", str(path))
    if db.engine.dialect.name == "sqlite":
        # A SQLite backup needs no PostgreSQL program, to be made or checked.
        assert result.exit_code == 0, result.output
        assert _cli(app, "backup", "verify", str(path)).exit_code == 0
        return
    assert result.exit_code == 1
    assert "pg_dump was not found" in result.output and "postgresql-client" in result.output
    assert not path.exists()
    monkeypatch.undo()
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    sqlite_app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        wrong_kind = _cli(sqlite_app, "backup", "verify", str(path))
    finally:
        _dispose(sqlite_app)
    assert wrong_kind.exit_code == 1 and "This is a PostgreSQL backup" in wrong_kind.output


def test_a_backup_from_the_previous_revision_verifies_and_restores(
    empty_database: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last month's backup after an upgrade: verification migrates its scratch copy to this
    code's revision before reading the chain and the secrets; restore says to run `db upgrade`."""
    source = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with source.app_context():
        script = ScriptDirectory.from_config(source.extensions["migrate"].migrate.get_config())
        head = script.get_current_head()
        assert head
        previous = script.get_revision(head).down_revision
        previous = previous[0] if isinstance(previous, tuple) else previous
        assert isinstance(previous, str)
        flask_migrate.upgrade(revision=previous)
        with monkeypatch.context() as old_code:  # the previous revision's code wrote a plain sha256 chain
            old_code.setattr(audit, "record_events", lambda actor, events: old_audit_chain.append(actor.name, events) or [None])
            _note("sealed-before-the-upgrade")
    path = tmp_path / "last-month.handover"
    try:
        assert _cli(source, "backup", "create", str(path)).exit_code == 0
        verify = _cli(source, "backup", "verify", str(path))
    finally:
        _dispose(source)
    assert verify.exit_code == 0, verify.output
    assert f"migrated from {previous} to {head}" in verify.output
    assert re.search(r"ok\s+credentials: 1 of 1 notes", verify.output)

    with ExitStack() as stack:
        if empty_database.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        else:
            url = stack.enter_context(scratch_postgres_database(request.getfixturevalue("postgres_server"), "handover_old"))
        target = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        stack.callback(_dispose, target)
        restored = _cli(target, "backup", "restore", str(path))
        assert restored.exit_code == 0, restored.output
        assert f"The backup is at revision {previous}; run `flask db upgrade`" in restored.output
        with target.app_context():
            flask_migrate.upgrade()
        assert _cli(target, "audit", "verify").exit_code == 0
        assert _cli(target, "backup", "create", str(tmp_path / "after-upgrade.handover")).exit_code == 0
