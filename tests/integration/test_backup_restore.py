"""Backup and restore (SR-37): `flask backup create|verify|restore|key` on SQLite and PostgreSQL.

The drill runs on the demo organisation plus 10,000 generated accounts (built once per database
for this module): the backup verifies (encryption, integrity, counts, revision, chain, every secret
opens); one changed byte anywhere fails verification with a message, not a traceback; a restore
into an empty database serves the same pages within the RTO budget; a database that holds data is
not overwritten without --force. Smaller tests show each check failing for its own reason, and the
backup key at work: nothing readable in the file without it, a wrong or missing key named, an old
backup still opening after the key is rotated, production refusing to back up without a key of its own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import stat
import struct
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
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Account, AuditEvent, Department, Person, User
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialVersion
from app.services import audit, backup, credentials, crypto, demo, generate
from app.services.context import Actor
from config import ConfigError, TestingConfig
from tests import factories, old_audit_chain
from tests.conftest import Client, scratch_postgres_database, skip_or_fail

pytestmark = pytest.mark.xdist_group("backup-restore")

GENERATED_ACCOUNTS = 10_000
#: Restoring the 10,000-account organisation, verification included, must fit this (seconds): the RTO budget.
RESTORE_BUDGET = 60
#: The backup key of the testing configuration.
BACKUP_KEY_ID = "test-backup-1"
DAMAGED = "the backup file is damaged or was not made with this backup key"
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
    for check in ("encryption", "integrity", "row counts", "migration revision", "audit chain", "master keys", "credentials"):
        assert re.search(rf"^\s+ok\s+{check}:", result.output, re.M), check
    assert f"AES-256-GCM with the backup key {BACKUP_KEY_ID}" in result.output
    assert "FAILED" not in result.output
    figures = (
        f"[{drill.kind}] backup of the demo + {GENERATED_ACCOUNTS:,} generated accounts: {manifest.total_rows:,} rows, "
        f"{drill.backup.stat().st_size:,} bytes encrypted backup; generate {drill.seconds['generate']:.1f} s, "
        f"create {drill.seconds['create']:.2f} s, verify {drill.seconds['verify']:.2f} s"
    )
    print("\n" + figures)
    record_property("figures", figures)


def _header_length(path: Path) -> int:
    with open(path, "rb") as handle:
        start = handle.read(len(backup.MAGIC) + 2)
    return len(backup.MAGIC) + 2 + start[-1] + 4 + backup.NONCE_BYTES


@pytest.mark.parametrize(
    "where", ["magic", "version", "key id", "block size", "nonce", "first block", "middle", "last block", "last byte"]
)
def test_one_changed_byte_anywhere_fails_verification_with_a_message(drill: Drill, where: str) -> None:
    data = bytearray(drill.backup.read_bytes())
    size, header = len(data), _header_length(drill.backup)
    magic = len(backup.MAGIC)
    offsets = {
        "magic": 3,
        "version": magic,
        "key id": magic + 2 + 3,
        "block size": header - backup.NONCE_BYTES - 1,
        "nonce": header - 5,
        "first block": header + 100,  # the manifest, encrypted
        "middle": size // 2,
        "last block": size - 2000,  # the archive's end-of-file blocks, encrypted
        "last byte": size - 1,  # the last block's tag
    }
    offset = offsets[where]
    data[offset] ^= 0x01
    damaged = drill.folder / f"damaged-{where.replace(' ', '-')}.handover"
    damaged.write_bytes(bytes(data))
    result = _cli(drill.app, "backup", "verify", str(damaged))
    assert result.exit_code == 1
    assert "damaged" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    if where in ("block size", "nonce", "first block", "middle", "last block", "last byte"):
        assert DAMAGED in result.output


def test_a_cut_short_backup_fails_verification(drill: Drill) -> None:
    cut = drill.folder / "cut.handover"
    cut.write_bytes(drill.backup.read_bytes()[:-5000])
    result = _cli(drill.app, "backup", "verify", str(cut))
    assert result.exit_code == 1
    assert "cut short" in result.output and DAMAGED in result.output and "Traceback" not in result.output


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
        figures = (
            f"[{drill.kind}] RTO: restore of {drill.created.total_rows:,} rows into an empty database, decryption and "
            f"verification included: {seconds:.2f} s (budget {RESTORE_BUDGET} s)"
        )
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


def _note_as_of_the_previous_revision(secret: str) -> None:
    """A note as the code of the previous revision wrote it: its columns of then (this code's
    model has more), the secret sealed to its row."""
    account = factories.make_account(name=f"Account of {secret[:8]}")
    db.session.flush()
    now = utcnow()
    table = CredentialNote.__table__
    note_id = db.session.scalar(
        sa.insert(table)
        .values(
            account_id=account.id,
            label="Password",
            kind=CredentialKind.PASSWORD,
            secret="",
            key_id="",
            rotated_at=now,
            due_at=now,
            created_at=now,
            updated_at=now,
            version=1,
        )
        .returning(table.c.id)
    )
    keyring = crypto.current_keyring()
    sealed = keyring.seal(secret, crypto.associated_data(credentials.TABLE, note_id, "secret"))
    db.session.execute(sa.update(table).where(table.c.id == note_id).values(secret=sealed, key_id=keyring.primary.key_id))
    db.session.commit()


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
        key = backup.backup_keys().keys[0]  # whoever holds the backup key can forge a file: the content checks remain
        backup._write_archive(forged, manifest, copy, backup.no_progress, key)  # noqa: SLF001 (writes a consistent file)
    result = _cli(app, "backup", "verify", str(forged))
    assert result.exit_code == 1
    assert re.search(r"FAILED\s+row counts: people: 1 instead of 2", result.output)
    assert re.search(
        r"FAILED\s+audit chain: the restored chain ends at sequence number \d+ .*recorded sequence number 999", result.output
    )
    assert re.search(r"ok\s+credentials", result.output)
    restore = _cli(app, "backup", "restore", "--force", str(forged))
    assert restore.exit_code == 1 and "nothing was restored" in restore.output


def _decrypt(path: Path, key: bytes) -> bytes:
    """The plaintext of an encrypted backup, read as its format is documented (the backup module's
    docstring and Header), independently of the code that wrote it: what a recovery script needs."""
    data = path.read_bytes()
    assert data.startswith(b"HANDOVER-BACKUP\n")
    version, id_length = data[16], data[17]
    assert version == 2
    (block,) = struct.unpack(">I", data[18 + id_length : 22 + id_length])
    header_end = 22 + id_length + 12
    header, nonce = data[:header_end], data[22 + id_length : header_end]
    blocks = [data[at : at + block + 16] for at in range(header_end, len(data), block + 16)]
    plain = []
    for index, sealed in enumerate(blocks):
        block_nonce = nonce[:4] + (int.from_bytes(nonce[4:], "big") ^ index).to_bytes(8, "big")
        final = b"\x01" if index == len(blocks) - 1 else b"\x00"
        plain.append(AESGCM(key).decrypt(block_nonce, sealed, header + index.to_bytes(8, "big") + final))
    return b"".join(plain)


def _testing_backup_key() -> bytes:
    spec = TestingConfig.BACKUP_KEY
    assert spec
    return backup.parse_backup_keys(spec, "test")[0].key


def test_nothing_in_the_backup_file_is_readable_without_the_backup_key(app: Flask, tmp_path: Path) -> None:
    """SR-21/SR-37: the file reveals neither the database (its SQLite header, table names, the
    manifest) nor a canary note's envelope; inside, the secrets are still sealed, and no key is anywhere."""
    canary = "canary-7f3e9c1d-backup-plaintext"
    _note(f"{canary}-current", rotated_to=f"{canary}-rotated")
    path = tmp_path / "canary.handover"
    result = _cli(app, "backup", "create", str(path))
    assert result.exit_code == 0
    assert "master keys are NOT in it" in result.output and "test-key-1" in result.output
    assert f"encrypted with the backup key {BACKUP_KEY_ID}" in result.output
    envelopes = [envelope.encode() for envelope in db.session.scalars(sa.select(CredentialNote.secret))]
    envelopes += [envelope.encode() for envelope in db.session.scalars(sa.select(CredentialVersion.secret))]
    assert len(envelopes) == 2

    raw = path.read_bytes()
    with backup.open_backup(path) as (manifest, copy):
        manifest_json = manifest.to_json()
        inside = [_decrypt(path, _testing_backup_key()), copy.read_bytes()]
        assert "NOT in this backup" in manifest_json.decode()
        if manifest.database == "postgresql":  # the custom format compresses: read it as SQL too
            pg_restore = backup._pg_tool("pg_restore")  # noqa: SLF001
            inside.append(subprocess.run([pg_restore, "--file=-", str(copy)], capture_output=True, check=True).stdout)
    # In the file as stored: nothing of the database, its manifest or its secrets.
    clear = [b"SQLite format 3", b"manifest.json", b'"row_counts"', b"handover-backup", b"test-key-1"]
    clear += [table.encode() for table in ("credential_notes", "credential_versions", "audit_events", "accounts", "users")]
    for needle in [*clear, manifest_json[:64], *envelopes]:
        assert needle not in raw, needle
    assert raw.count(BACKUP_KEY_ID.encode()) == 1  # the header names the key the file needs, once
    # The same checks are not vacuous: inside the encryption they are all there.
    assert b"credential_notes" in inside[0] and manifest_json in inside[0]
    assert all(envelope in inside[-1] for envelope in envelopes)
    # No key, master or backup, in the file or inside it; the canary nowhere in clear.
    spec = TestingConfig.MASTER_KEYS
    assert spec
    secrets_found = [spec.split(":", 1)[1].encode(), crypto.Keyring.parse(spec).raw_key("test-key-1"), canary.encode()]
    secrets_found += [str(TestingConfig.BACKUP_KEY).split(":", 1)[1].encode(), _testing_backup_key()]
    for data in [raw, *inside]:
        for secret in secrets_found:
            assert secret not in data


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


def test_the_file_is_an_encrypted_tar_with_the_manifest_and_the_copy(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "plain.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    with pytest.raises(tarfile.ReadError):
        tarfile.open(path).close()
    with tarfile.open(fileobj=io.BytesIO(_decrypt(path, _testing_backup_key()))) as tar:
        names = tar.getnames()
        manifest = backup.Manifest.from_json(tar.extractfile("manifest.json").read(), "test")  # type: ignore[union-attr]
    kind = db.engine.dialect.name
    assert names == ["manifest.json", backup.DUMP_NAMES[kind]]
    assert manifest.backup_key_id == BACKUP_KEY_ID and manifest.format_version == 2
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


#: The revision that keyed the audit chain (migrations/versions/*_keyed_audit_chain.py).
KEYED_AUDIT_CHAIN = "c3a9e1f47b20"


def test_a_backup_from_the_previous_revision_verifies_and_restores(
    empty_database: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last month's backup after upgrades: verification migrates its scratch copy to this code's
    revision before reading the chain and the secrets; restore says to run `db upgrade`."""
    source = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with source.app_context():
        script = ScriptDirectory.from_config(source.extensions["migrate"].migrate.get_config())
        head = script.get_current_head()
        assert head
        # The last revision with the plain sha256 chain: the one before the keyed audit chain.
        previous = script.get_revision(KEYED_AUDIT_CHAIN).down_revision
        previous = previous[0] if isinstance(previous, tuple) else previous
        assert isinstance(previous, str)
        flask_migrate.upgrade(revision=previous)
        with monkeypatch.context() as old_code:  # the previous revision's code wrote a plain sha256 chain
            old_code.setattr(audit, "record_events", lambda actor, events: old_audit_chain.append(actor.name, events) or [None])
            _note_as_of_the_previous_revision("sealed-before-the-upgrade")
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


# --- The backup key -----------------------------------------------------------------------------


def _app_with(app: Flask, **settings: Any) -> Flask:
    return create_app("testing", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], **settings)


def _cli_on(app: Flask, *args: str) -> Any:
    try:
        return _cli(app, *args)
    finally:
        _dispose(app)


def test_a_wrong_or_missing_backup_key_is_named_and_nothing_is_restored(app: Flask, tmp_path: Path) -> None:
    _person("Restored Never")
    _note("sealed-in-the-backup")
    path = tmp_path / "keyed.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    other_bytes = backup.generate_backup_key(BACKUP_KEY_ID)  # the same id, other bytes

    wrong = _cli_on(_app_with(app, BACKUP_KEY=other_bytes), "backup", "verify", str(path))
    assert wrong.exit_code == 1
    assert f"{DAMAGED} ({BACKUP_KEY_ID}): block 1" in wrong.output and "Traceback" not in wrong.output

    elsewhere = _cli_on(_app_with(app, BACKUP_KEY=backup.generate_backup_key("backup-other")), "backup", "verify", str(path))
    assert elsewhere.exit_code == 1
    assert f"encrypted with the backup key '{BACKUP_KEY_ID}', which is not configured here (configured: backup-other)" in (
        elsewhere.output
    )
    assert "HANDOVER_BACKUP_KEY" in elsewhere.output

    none = _cli_on(_app_with(app, BACKUP_KEY=None), "backup", "verify", str(path))
    assert none.exit_code == 1
    assert (
        f"the backup key '{BACKUP_KEY_ID}', which is not configured here (HANDOVER_BACKUP_KEY and HANDOVER_BACKUP_KEY_FILE"
        in (none.output)
    )

    restore = _cli_on(_app_with(app, BACKUP_KEY=other_bytes), "backup", "restore", "--force", str(path))
    assert restore.exit_code == 1 and DAMAGED in restore.output
    assert "sealed-in-the-backup" not in wrong.output + elsewhere.output + none.output + restore.output
    _person("Added After")  # the database was not touched by the refused restore
    assert set(db.session.scalars(sa.select(Person.name))) == {"Restored Never", "Added After"}


def test_an_old_backup_still_verifies_after_the_backup_key_is_rotated(app: Flask, tmp_path: Path) -> None:
    """A new key first, the old one after it: new backups use the new key, old ones still open;
    dropping the old key makes the old backups unreadable, saying which key they need."""
    _note("kept-across-the-rotation")
    old, new = tmp_path / "old.handover", tmp_path / "new.handover"
    assert _cli(app, "backup", "create", str(old)).exit_code == 0
    new_key = backup.generate_backup_key("backup-2027")
    rotated = _app_with(app, BACKUP_KEY=f"{new_key}, {TestingConfig.BACKUP_KEY}")
    try:
        verified = _cli(rotated, "backup", "verify", str(old))
        created = _cli(rotated, "backup", "create", str(new))
    finally:
        _dispose(rotated)
    assert verified.exit_code == 0, verified.output
    assert re.search(rf"ok\s+encryption: AES-256-GCM with the backup key {BACKUP_KEY_ID}", verified.output)
    assert created.exit_code == 0 and "encrypted with the backup key backup-2027" in created.output
    assert _decrypt(new, backup.parse_backup_keys(new_key, "test")[0].key)  # sealed with the new key
    only_new = _app_with(app, BACKUP_KEY=new_key)
    try:
        assert _cli(only_new, "backup", "verify", str(new)).exit_code == 0
        dropped = _cli(only_new, "backup", "verify", str(old))
    finally:
        _dispose(only_new)
    assert dropped.exit_code == 1 and f"the backup key '{BACKUP_KEY_ID}', which is not configured here" in dropped.output


def test_production_backs_up_only_with_a_backup_key_of_its_own(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("BACKUP_KEY", "BACKUP_KEY_FILE", "MASTER_KEYS", "MASTER_KEY_FILE", "AUDIT_KEY", "AUDIT_KEY_FILE", "SECRET_KEY"):
        monkeypatch.delenv(f"HANDOVER_{name}", raising=False)
    master, audit_key = crypto.generate_key_spec("prod-master"), crypto.generate_key_spec("prod-audit")
    settings = {
        "SECRET_KEY": "p" * 40,
        "MASTER_KEYS": master,
        "AUDIT_KEY": audit_key,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
    }
    path = tmp_path / "production.handover"

    refused = _cli_on(create_app("production", **settings), "backup", "create", str(path))
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "No backup key is configured" in refused.output and "never written unencrypted" in refused.output
    assert "HANDOVER_BACKUP_KEY" in refused.output and "`flask backup key`" in refused.output
    assert not path.exists() and not list(tmp_path.glob(".*partial"))

    same = "backup-1:" + master.split(":", 1)[1]  # the master key's bytes under another id
    reused = _cli_on(create_app("production", **settings, BACKUP_KEY=same), "backup", "create", str(path))
    assert reused.exit_code == 1
    assert "The backup key 'backup-1' is the same key as the master key 'prod-master'" in reused.output
    as_audit = "backup-1:" + audit_key.split(":", 1)[1]
    reused = _cli_on(
        create_app("production", **settings, BACKUP_KEY=f"{backup.generate_backup_key()},{as_audit}"),
        "backup",
        "create",
        str(path),
    )
    assert reused.exit_code == 1 and "is the same key as the audit key 'prod-audit'" in reused.output  # an older key too
    assert not path.exists()

    with pytest.raises(ConfigError, match="HANDOVER_BACKUP_KEY holds the testing key"):
        create_app("production", **settings, BACKUP_KEY=TestingConfig.BACKUP_KEY)

    key_file = tmp_path / "backup.key"
    key_file.write_text(f"# the backup key\n{backup.generate_backup_key('backup-prod')}\n")
    made = _cli_on(create_app("production", **settings, BACKUP_KEY_FILE=str(key_file)), "backup", "create", str(path))
    assert made.exit_code == 0, made.output
    assert "encrypted with the backup key backup-prod" in made.output and "Made a backup key" not in made.output
    missing = _cli_on(
        create_app("production", **settings, BACKUP_KEY_FILE=str(tmp_path / "nowhere.key")),
        "backup",
        "create",
        str(tmp_path / "x"),
    )
    assert missing.exit_code == 1 and f"(the backup key file {tmp_path / 'nowhere.key'} does not exist)" in missing.output
    assert not (tmp_path / "nowhere.key").exists()


def test_development_makes_its_own_backup_key_file(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BACKUP_KEY", "BACKUP_KEY_FILE"):
        monkeypatch.delenv(f"HANDOVER_{name}", raising=False)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))

    def development() -> Flask:
        return create_app(
            "development",
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            MASTER_KEYS=TestingConfig.MASTER_KEYS,
            SECRET_KEY="d" * 40,
        )

    before = _cli_on(development(), "backup", "verify", str(tmp_path / "none.handover"))
    assert before.exit_code != 0 and not (instance / "backup_keys").exists()  # reading never makes a key
    first = _cli_on(development(), "backup", "create", str(tmp_path / "first.handover"))
    assert first.exit_code == 0, first.output
    key_file = instance / "backup_keys"
    assert f"Made a backup key in {key_file}" in first.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_id = backup.parse_backup_keys(key_file.read_text(), "test")[0].key_id
    assert key_id.startswith("backup-") and f"encrypted with the backup key {key_id}" in first.output
    second = _cli_on(development(), "backup", "create", str(tmp_path / "second.handover"))
    assert second.exit_code == 0 and "Made a backup key" not in second.output
    assert _cli_on(development(), "backup", "verify", str(tmp_path / "first.handover")).exit_code == 0


def test_flask_backup_key_prints_a_new_key(app: Flask) -> None:
    first, second = _cli(app, "backup", "key"), _cli(app, "backup", "key", "--id", "backup-2027-q1")
    assert first.exit_code == 0 and second.exit_code == 0
    keys = backup.parse_backup_keys(first.output + second.output, "output")
    assert [key.key_id for key in keys][1] == "backup-2027-q1" and keys[0].key_id.startswith("backup-")
    assert keys[0].key != keys[1].key and len(keys[0].key) == 32
    refused = _cli(app, "backup", "key", "--id", "Not An Id")
    assert refused.exit_code == 1 and "lower-case letters" in refused.output


def test_malformed_backup_keys_get_a_message_without_key_material(app: Flask, tmp_path: Path) -> None:
    short = "backup-x:" + base64.urlsafe_b64encode(b"sixteen-byte-key").decode()
    for spec, message in (
        ("no-colon-here", "HANDOVER_BACKUP_KEY has an entry that is not <id>:<key>"),
        ("backup-x:%%%", "HANDOVER_BACKUP_KEY: the backup key 'backup-x' is not valid base64"),
        (short, "must be 32 bytes (256 bits), not 16"),
        (f"{TestingConfig.BACKUP_KEY},{TestingConfig.BACKUP_KEY}", f"the backup key id '{BACKUP_KEY_ID}' appears twice"),
    ):
        result = _cli_on(_app_with(app, BACKUP_KEY=spec), "backup", "create", str(tmp_path / "never.handover"))
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output and "c2l4dGVlbi" not in result.output
    assert not (tmp_path / "never.handover").exists()


# --- The encrypted format: blocks, truncation, reordering, scratch files ----------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 17])
def test_blocks_round_trip_at_every_boundary(size: int) -> None:
    key = backup.BackupKey("backup-unit", os.urandom(32))
    plain = os.urandom(size)
    sealed = io.BytesIO()
    writer = backup._SealingWriter(sealed, key, block_bytes=4096)  # noqa: SLF001
    for at in range(0, size, 1000):
        writer.write(plain[at : at + 1000])
    writer.finish()
    data = sealed.getvalue()
    header_length = len(backup.MAGIC) + 2 + len(key.key_id) + 4 + backup.NONCE_BYTES
    assert len(data) == header_length + max(1, -(-size // 4096)) * 16 + size  # one tag per block, no padding
    handle = io.BytesIO(data)
    assert handle.read(len(backup.MAGIC)) == backup.MAGIC
    header, header_bytes = backup.Header.read(handle, "unit")
    reader = backup._OpeningReader(handle, header, header_bytes, key, "unit", lambda _n: None)  # noqa: SLF001
    assert reader.read(-1) == plain and reader.finish() == max(1, -(-size // 4096))


@pytest.fixture
def small_blocks(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int, list[bytes]]:
    """A backup written in 4 KiB blocks: its path, header length and sealed blocks."""
    monkeypatch.setattr(backup, "BLOCK_BYTES", 4096)
    _note("in-a-small-block-backup")
    path = tmp_path / "blocks.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    data, header = path.read_bytes(), _header_length(path)
    blocks = [data[at : at + 4096 + 16] for at in range(header, len(data), 4096 + 16)]
    assert len(blocks) >= 4
    return path, header, blocks


@pytest.mark.parametrize(
    "change", ["swap two blocks", "drop a block", "repeat a block", "add a block at the end", "cut at a block"]
)
def test_blocks_moved_dropped_or_added_fail_verification(
    app: Flask, tmp_path: Path, small_blocks: tuple[Path, int, list[bytes]], change: str
) -> None:
    path, header, blocks = small_blocks
    assert _cli(app, "backup", "verify", str(path)).exit_code == 0
    changed = {
        "swap two blocks": [blocks[0], blocks[2], blocks[1], *blocks[3:]],
        "drop a block": [blocks[0], *blocks[2:]],
        "repeat a block": [blocks[0], *blocks],
        "add a block at the end": [*blocks, blocks[-1]],
        "cut at a block": blocks[:-1],
    }[change]
    damaged = tmp_path / "changed.handover"
    damaged.write_bytes(path.read_bytes()[:header] + b"".join(changed))
    result = _cli(app, "backup", "verify", str(damaged))
    assert result.exit_code == 1 and DAMAGED in result.output and "Traceback" not in result.output
    if change == "cut at a block":
        assert f"it is cut short (it ends after block {len(blocks) - 1}, which is not the last)" in result.output
    elif change != "add a block at the end":
        assert "block 2 (from byte" in result.output


def test_decrypted_copies_are_private_and_removed_afterwards(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _note("decrypted-only-into-scratch")
    path = tmp_path / "scratch.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    seen: list[tuple[Path, int, int]] = []
    verify_copy = backup._verify_copy  # noqa: SLF001

    def watching(manifest: Any, copy: Path, progress: Any) -> Any:
        seen.append((copy, stat.S_IMODE(copy.stat().st_mode), stat.S_IMODE(copy.parent.stat().st_mode)))
        return verify_copy(manifest, copy, progress)

    monkeypatch.setattr(backup, "_verify_copy", watching)
    assert _cli(app, "backup", "verify", str(path)).exit_code == 0
    assert _cli(app, "backup", "restore", "--force", str(path)).exit_code == 0
    assert len(seen) == 2
    for copy, mode, folder_mode in seen:
        assert (mode, folder_mode) == (0o600, 0o700)
        assert not copy.parent.exists()  # the scratch folder went with the plaintext in it
        assert tmp_path not in copy.parents  # never beside the backup


def test_a_backup_made_before_encryption_still_verifies_and_says_so(app: Flask, tmp_path: Path) -> None:
    """Format 1 (a plain tar and a SHA-256 line): last month's nightly backups stay restorable."""
    _note("sealed-in-a-format-1-backup")
    path, legacy = tmp_path / "new.handover", tmp_path / "legacy.handover"
    assert _cli(app, "backup", "create", str(path)).exit_code == 0
    with backup.open_backup(path) as (manifest, copy):
        manifest.format_version, manifest.backup_key_id = 1, None
        body = io.BytesIO()
        with tarfile.open(fileobj=body, mode="w", format=tarfile.PAX_FORMAT) as tar:
            data = manifest.to_json()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(str(copy), arcname=manifest.dump_name)
    payload = body.getvalue()
    legacy.write_bytes(payload + backup.TRAILER_PREFIX + hashlib.sha256(payload).hexdigest().encode() + b"\n")
    result = _cli(app, "backup", "verify", str(legacy))
    assert result.exit_code == 0, result.output
    assert re.search(r"ok\s+file checksum: .*NOT encrypted \(format 1", result.output)
    assert "(format 1)" in result.output
    damaged = bytearray(legacy.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    legacy.write_bytes(bytes(damaged))
    broken = _cli(app, "backup", "verify", str(legacy))
    assert broken.exit_code == 1 and "SHA-256 checksum does not match" in broken.output
