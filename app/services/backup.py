"""Backups you can trust (`flask backup create|verify|restore|key`).

A backup is ONE file, encrypted with a backup key that is kept apart from the database and from
the master keys. Inside the encryption is an ordinary tar archive holding ``manifest.json`` and a
consistent copy of the database (SQLite: a database file written with the online backup API, safe
while the server runs; PostgreSQL: a ``pg_dump`` custom-format dump taken in the same snapshot the
manifest describes).

The file: a short clear header (``MAGIC``, the format version, the backup key's id, the block size
and a random nonce), then the archive in blocks of ``BLOCK_BYTES`` sealed with AES-256-GCM. Each
block's associated data is the whole header, the block's index and whether it is the last one, so
one changed byte anywhere, blocks swapped, dropped or added, or the file cut short fails before
anything is used; memory stays bounded by two blocks whatever the database's size. Someone who
takes the file without the backup key learns its size and the key id, nothing else.

The manifest records what a restore must reproduce: row counts per table, the Alembic revision,
the audit chain's head and the ids of the master keys that sealed the credentials. Verification
decrypts into a scratch folder (files 0600, removed afterwards), restores into a scratch place (a
temporary SQLite file, or a scratch PostgreSQL database created and dropped) and checks integrity,
counts, revision, the chain, and that every credential note, kept version and two-factor seed opens
with the configured master keys (in memory; never shown).

Credentials stay sealed with the master keys inside the backup, exactly as in the database.
Neither the master keys nor the backup key are in the backup: both must be kept elsewhere, apart
from each other. Format-1 backups (a plain tar followed by a SHA-256 line, made before backups
were encrypted) are still read, and reported as not encrypted.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import glob
from io import BytesIO
from pathlib import Path
from typing import IO, Any, Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from sqlalchemy.pool import NullPool

from app.extensions import db
from app.models.audit import AuditEvent
from app.services import audit, crypto, keys
from app.services.errors import DomainError

FORMAT = "handover-backup"
#: 2: encrypted with a backup key (this module's docstring). 1: a plain tar and a SHA-256 line (read only).
FORMAT_VERSION = 2
#: An encrypted backup starts with these bytes.
MAGIC = b"HANDOVER-BACKUP\n"
#: Plaintext bytes per sealed block; each block on disk is this plus its 16-byte GCM tag.
BLOCK_BYTES = 4 * 1024 * 1024
#: The largest block size a reader accepts from a header (the header is only authenticated with
#: the first block, so its size field must not make the reader allocate without limit).
MAX_BLOCK_BYTES = 64 * 1024 * 1024
TAG_BYTES = 16
NONCE_BYTES = 12
#: Where development keeps its backup key when none is configured (in the instance folder).
DEFAULT_BACKUP_KEY_FILE = "backup_keys"
MANIFEST = "manifest.json"
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
KIND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
#: A format-1 file ends with this, the SHA-256 (hex) of every byte before it, and a newline.
TRAILER_PREFIX = b"\nHANDOVER-BACKUP-SHA256 "
TRAILER_LENGTH = len(TRAILER_PREFIX) + 64 + 1
SECRETS_NOTE = (
    "Credential notes, kept versions and two-factor seeds are in this backup encrypted, exactly as in the database. "
    "The master keys are NOT in this backup: back them up separately (key ids in credential_key_ids); "
    "without them these secrets cannot be read. Nor is the backup key (backup_key_id) that encrypts the whole file."
)
#: Tables a freshly migrated database already fills (the seeded platform catalogue, the revision,
#: the check values a server records for its keys), and the counts PostgreSQL keeps of other
#: tables (rows that add up to nothing once those are emptied): rows there do not make a database
#: "hold data".
SCHEMA_ONLY_TABLES = {"alembic_version", "platforms", "master_key_checks", "kept_counts"}
CHUNK = 1024 * 1024


class BackupError(DomainError):
    """The backup cannot be made, read or restored; the message says why and what to do."""


# --- Progress ---------------------------------------------------------------------------------


class Progress(Protocol):
    """``progress(label, total)`` opens a step; the context gives ``advance(n)``."""

    def __call__(self, label: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


@contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda _n: None


# --- The manifest ------------------------------------------------------------------------------


@dataclass
class Manifest:
    created_at: str
    database: str
    server_version: str
    dump_name: str
    dump_bytes: int
    dump_sha256: str
    alembic_revision: str | None
    row_counts: dict[str, int]
    audit_chain_head: dict[str, Any] | None
    credential_key_ids: list[str]
    #: The backup key that encrypts the file (None: a format-1 file, not encrypted).
    backup_key_id: str | None = None
    format_version: int = FORMAT_VERSION
    #: How the file was found intact when it was read (set by open_backup; not stored).
    file_check: Check | None = field(default=None, compare=False)

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": self.format_version,
                "created_at": self.created_at,
                "database": self.database,
                "server_version": self.server_version,
                "dump": {"name": self.dump_name, "bytes": self.dump_bytes, "sha256": self.dump_sha256},
                "alembic_revision": self.alembic_revision,
                "row_counts": self.row_counts,
                "audit_chain_head": self.audit_chain_head,
                "credential_key_ids": self.credential_key_ids,
                "backup_key_id": self.backup_key_id,
                "secrets": SECRETS_NOTE,
            },
            indent=2,
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError("not a Handover manifest")
            version = int(raw["format_version"])
            if version > FORMAT_VERSION:
                raise BackupError(
                    f"{name} was written by a newer Handover (backup format {version}; this one reads up to "
                    f"{FORMAT_VERSION}): verify and restore it with that version."
                )
            return cls(
                created_at=str(raw["created_at"]),
                database=str(raw["database"]),
                server_version=str(raw.get("server_version", "")),
                dump_name=str(raw["dump"]["name"]),
                dump_bytes=int(raw["dump"]["bytes"]),
                dump_sha256=str(raw["dump"]["sha256"]),
                alembic_revision=raw["alembic_revision"],
                row_counts={str(k): int(v) for k, v in raw["row_counts"].items()},
                audit_chain_head=raw["audit_chain_head"],
                credential_key_ids=[str(k) for k in raw["credential_key_ids"]],
                backup_key_id=None if raw.get("backup_key_id") is None else str(raw["backup_key_id"]),
                format_version=version,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackupError(f"{name} has no readable Handover manifest ({error}).") from None

    @property
    def head_label(self) -> str:
        return _head_label(self.audit_chain_head)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.database, self.database)


def _head_label(head: dict[str, Any] | None) -> str:
    if not head:
        return "no audit events"
    if "seq" not in head:  # a manifest written before the keyed chain
        return f"event {head.get('id')} ({str(head.get('hash', ''))[:12]}…)"
    return f"sequence number {head.get('seq')} ({str(head.get('link', ''))[:12]}…)"


# --- What a database holds --------------------------------------------------------------------


def _chain_head() -> dict[str, Any] | None:
    """The audit chain's recorded end {"seq", "link"}, which a restored chain must end at (None: no events).

    A database still at a revision before the keyed chain names its last event {"id", "hash"}.
    """
    if "audit_head" not in _tables():
        if "audit_events" not in _tables():
            return None
        row = db.session.execute(sa.text("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")).first()
        return None if row is None else {"id": row.id, "hash": row.hash}
    return audit.chain_head()


def _tables() -> list[str]:
    names = sa.inspect(db.session.connection()).get_table_names()
    return sorted(name for name in names if not name.startswith("sqlite_"))


def _row_counts() -> dict[str, int]:
    return {name: db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0 for name in _tables()}


def _revision(tables: list[str] | dict[str, int]) -> str | None:
    if "alembic_version" not in tables:
        return None
    found = sorted(db.session.scalars(sa.select(sa.column("version_num")).select_from(sa.table("alembic_version"))))
    return ",".join(found) or None


def _key_ids() -> list[str]:
    """Ids of the master keys the stored secrets need (notes and versions, and two-factor seeds)."""
    return sorted(keys.usage())


def _facts() -> dict[str, Any]:
    counts = _row_counts()
    return {
        "row_counts": counts,
        "alembic_revision": _revision(counts),
        "audit_chain_head": _chain_head(),
        "credential_key_ids": _key_ids(),
    }


def code_revision() -> str | None:
    """The migration head this code expects (None without Flask-Migrate)."""
    migrate = current_app.extensions.get("migrate")
    if migrate is None:
        return None
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrate.migrate.get_config()).get_heads()
    return ",".join(sorted(heads)) or None


def stored_data() -> dict[str, int]:
    """Tables of the configured database that hold rows (beyond what a fresh migration writes)."""
    counts = _row_counts()
    db.session.rollback()
    return {name: n for name, n in counts.items() if n and name not in SCHEMA_ONLY_TABLES}


@contextmanager
def _bound_to(url: str | sa.URL) -> Iterator[None]:
    """An app context whose ``db.session`` reads the database at ``url``, with this app's settings
    and master keys (a restored copy is checked with exactly the keys the server would use)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scratch = Flask(app.import_name, root_path=app.root_path)
    scratch.config.update(app.config)
    scratch.config["SQLALCHEMY_DATABASE_URI"] = url
    scratch.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": NullPool}
    scratch.config.pop("SQLALCHEMY_BINDS", None)
    for name, extension in app.extensions.items():
        if name != "sqlalchemy":
            scratch.extensions[name] = extension
    db.init_app(scratch)
    with scratch.app_context():
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


# --- PostgreSQL tools -------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    """The newest installed PostgreSQL client program ``name`` (e.g. pg_dump), or one on PATH."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(path).parent.parent.name))

    installed = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    found = installed[-1] if installed else shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} was not found (looked in /usr/lib/postgresql/*/bin and on PATH). Install the PostgreSQL "
            f"client programs of your server's version (e.g. apt-get install postgresql-client) and try again."
        )
    return found


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for the PostgreSQL tools (no password: that goes in PGPASSWORD)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str, **kw: Any) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False, **kw)  # noqa: S603  (fixed programs, no shell)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {_tail(result.stderr)}")


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no message"


# --- The backup key ----------------------------------------------------------------------------

_HOW_TO_SET_BACKUP_KEY = (
    "Set HANDOVER_BACKUP_KEY to <id>:<key> entries, newest first (`flask backup key` prints a new one), "
    "or HANDOVER_BACKUP_KEY_FILE to a mode-0600 file holding them."
)


@dataclass(frozen=True)
class BackupKey:
    key_id: str
    key: bytes = field(default=b"", repr=False)  # never printed


@dataclass
class BackupKeys:
    """The configured backup keys, newest first (the first encrypts new backups), and where they come from."""

    keys: list[BackupKey]
    #: The key file they are read from (None: HANDOVER_BACKUP_KEY, or nothing configured).
    path: Path | None = None
    #: The key file made just now (development's default), to tell the operator about it.
    created_file: Path | None = None

    @property
    def source(self) -> str:
        return "HANDOVER_BACKUP_KEY" if self.path is None else f"the backup key file {self.path}"

    @property
    def absent(self) -> str:
        """Why there is no key, for messages."""
        if self.path is None:
            return "HANDOVER_BACKUP_KEY and HANDOVER_BACKUP_KEY_FILE are not set"
        return f"{self.source} {'holds no key' if self.path.exists() else 'does not exist'}"

    def get(self, key_id: str) -> BackupKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)

    @property
    def key_ids(self) -> list[str]:
        return [key.key_id for key in self.keys]


def generate_backup_key(key_id: str | None = None) -> str:
    """A new backup key as ``<id>:<base64url of 32 random bytes>`` (ids start with ``backup-``)."""
    return crypto.generate_key_spec(key_id or f"backup-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}")


def parse_backup_keys(text: str, source: str) -> list[BackupKey]:
    """``id:base64key`` entries separated by commas, spaces or new lines, newest first; ``#`` starts
    a comment. The same spelling as the master keys; messages never repeat key material."""
    keys: list[BackupKey] = []
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for entry in re.split(r"[\s,]+", body.strip()):
        if not entry:
            continue
        key_id, _, encoded = entry.partition(":")
        if not crypto.KEY_ID.match(key_id) or not encoded:
            raise BackupError(
                f"{source} has an entry that is not <id>:<key> (ids are 1-40 lower-case letters, digits and dashes). "
                + _HOW_TO_SET_BACKUP_KEY
            )
        try:
            raw = crypto._decode_key(encoded)  # noqa: SLF001  (the master keys' own spelling)
        except (binascii.Error, ValueError):
            raise BackupError(f"{source}: the backup key {key_id!r} is not valid base64. {_HOW_TO_SET_BACKUP_KEY}") from None
        if len(raw) != crypto.KEY_BYTES:
            raise BackupError(
                f"{source}: the backup key {key_id!r} must be 32 bytes (256 bits), not {len(raw)}. {_HOW_TO_SET_BACKUP_KEY}"
            )
        if any(key.key_id == key_id for key in keys):
            raise BackupError(f"{source}: the backup key id {key_id!r} appears twice; each id must be unique.")
        keys.append(BackupKey(key_id, raw))
    return keys


def backup_keys(create: bool = False) -> BackupKeys:
    """The configured backup keys: HANDOVER_BACKUP_KEY, else HANDOVER_BACKUP_KEY_FILE, else (in
    development only) ``instance/backup_keys``. With ``create``, development makes that file
    (mode 0600) when it is missing; production never makes a key by itself."""
    config = current_app.config
    if spec := config.get("BACKUP_KEY"):
        return BackupKeys(parse_backup_keys(str(spec), "HANDOVER_BACKUP_KEY"))
    development = config.get("ENV_NAME") == "development"
    configured = config.get("BACKUP_KEY_FILE")
    if configured:
        path = Path(configured)
    elif development:
        path = Path(current_app.instance_path) / DEFAULT_BACKUP_KEY_FILE
    else:
        return BackupKeys([])
    created = None
    if not path.exists():
        if not (create and development):
            return BackupKeys([], path)
        crypto.write_key_file(
            path,
            "# Handover backup key(s), newest first. Keep a copy apart from the database, its backups and the master keys.\n"
            f"{generate_backup_key()}\n",
        )
        created = path
    found = BackupKeys([], path, created)
    try:
        text = path.read_text()
    except OSError as error:
        raise BackupError(f"Cannot read {found.source}: {error.strerror}.") from None
    found.keys = parse_backup_keys(text, found.source)
    return found


def _sealing_key() -> tuple[BackupKey, BackupKeys]:
    """The key a new backup is encrypted with (the newest), after refusing a missing backup key or
    one that is also a master or audit key (one stolen secret must not open both the data and its backups)."""
    configured = backup_keys(create=True)
    if not configured.keys:
        raise BackupError(
            f"No backup key is configured ({configured.absent}), and a backup is never written unencrypted. "
            f"{_HOW_TO_SET_BACKUP_KEY} Keep it apart from the database, from its backups and from the master keys."
        )
    others = [("master key", crypto.current_keyring()), ("audit key", audit.current_keyring())]
    for key in configured.keys:
        for kind, keyring in others:
            for other_id in keyring.key_ids:
                if secrets.compare_digest(key.key, keyring.raw_key(other_id)):
                    raise BackupError(
                        f"The backup key {key.key_id!r} is the same key as the {kind} {other_id!r}. A backup key must be a "
                        "key of its own, kept apart from the master and audit keys: make one with `flask backup key`."
                    )
    return configured.keys[0], configured


def _opening_key(key_id: str, name: str) -> BackupKey:
    """The configured backup key with this id, or a message naming the key the file needs."""
    configured = backup_keys()
    key = configured.get(key_id)
    if key is not None:
        return key
    have = f"configured: {', '.join(configured.key_ids)}" if configured.keys else configured.absent
    raise BackupError(
        f"{name} is encrypted with the backup key {key_id!r}, which is not configured here ({have}). "
        f"Add it to HANDOVER_BACKUP_KEY or HANDOVER_BACKUP_KEY_FILE (several keys are allowed, newest first) and try again "
        "(if you have no key with that id, the file's header is damaged)."
    )


# --- The encrypted file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The clear start of an encrypted backup: MAGIC, version (1 byte), key id length (1 byte) and
    key id, block size (4 bytes, big-endian), nonce (12 bytes). Every block authenticates it."""

    version: int
    key_id: str
    block_bytes: int
    nonce: bytes

    def to_bytes(self) -> bytes:
        key_id = self.key_id.encode()
        return MAGIC + struct.pack(">BB", self.version, len(key_id)) + key_id + struct.pack(">I", self.block_bytes) + self.nonce

    @classmethod
    def read(cls, handle: IO[bytes], name: str) -> tuple[Header, bytes]:
        """The header after MAGIC (already read); raises BackupError."""
        fixed = handle.read(2)
        if len(fixed) < 2:
            raise _undecipherable(name, None, "its header is cut short")
        version, length = struct.unpack(">BB", fixed)
        if version > FORMAT_VERSION:
            raise BackupError(
                f"{name} was written by a newer Handover (backup format {version}; this one reads up to "
                f"{FORMAT_VERSION}): verify and restore it with that version (or its header is damaged)."
            )
        rest = handle.read(length + 4 + NONCE_BYTES)
        if version != FORMAT_VERSION or len(rest) < length + 4 + NONCE_BYTES:
            raise _undecipherable(name, None, "its header is not readable")
        key_id = rest[:length].decode("ascii", errors="replace")
        (block_bytes,) = struct.unpack(">I", rest[length : length + 4])
        if not crypto.KEY_ID.match(key_id) or not 0 < block_bytes <= MAX_BLOCK_BYTES:
            raise _undecipherable(name, None, "its header is not readable")
        header = cls(version, key_id, block_bytes, rest[length + 4 :])
        return header, header.to_bytes()


def _block_nonce(nonce: bytes, index: int) -> bytes:
    """The header's random nonce with the block index mixed into its last 8 bytes: unique per block."""
    return nonce[:4] + (int.from_bytes(nonce[4:], "big") ^ index).to_bytes(8, "big")


def _block_aad(header: bytes, index: int, final: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _undecipherable(name: str, key_id: str | None, what: str) -> BackupError:
    key = f" ({key_id})" if key_id else ""
    return BackupError(
        f"{name}: the backup file is damaged or was not made with this backup key{key}: {what}. It was changed, "
        "corrupted or cut short after it was written, or it needs another key; do not restore it, use another backup."
    )


class _SealingWriter:
    """A write-only file that encrypts what passes through it, block by block, after the header."""

    def __init__(self, raw: IO[bytes], key: BackupKey, block_bytes: int = 0):
        self.raw = raw
        self.header = Header(FORMAT_VERSION, key.key_id, block_bytes or BLOCK_BYTES, os.urandom(NONCE_BYTES))
        self.header_bytes = self.header.to_bytes()
        self.aead = AESGCM(key.key)
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.blocks = 0
        raw.write(self.header_bytes)

    def write(self, data: bytes) -> int:
        self.pending.append(bytes(data))
        self.pending_bytes += len(data)
        size = self.header.block_bytes
        # A full block is sealed only when more follows: the last block must carry the final flag.
        if self.pending_bytes > size:
            joined = b"".join(self.pending)
            view, start = memoryview(joined), 0
            while len(joined) - start > size:
                self._seal(view[start : start + size], final=False)
                start += size
            self.pending = [joined[start:]]
            self.pending_bytes = len(joined) - start
        return len(data)

    def finish(self) -> None:
        self._seal(b"".join(self.pending), final=True)
        self.pending, self.pending_bytes = [], 0

    def _seal(self, plain: bytes | memoryview, final: bool) -> None:
        nonce = _block_nonce(self.header.nonce, self.blocks)
        self.raw.write(self.aead.encrypt(nonce, plain, _block_aad(self.header_bytes, self.blocks, final)))
        self.blocks += 1


class _OpeningReader:
    """A read-only file of an encrypted backup's plaintext. A block is given out only once its tag
    checks; the end of the file must be the block marked last (``finish`` reads to there)."""

    def __init__(
        self, raw: IO[bytes], header: Header, header_bytes: bytes, key: BackupKey, name: str, advance: Callable[[int], None]
    ):
        self.raw, self.header, self.header_bytes, self.name, self.advance = raw, header, header_bytes, name, advance
        self.aead = AESGCM(key.key)
        self.sealed_size = header.block_bytes + TAG_BYTES
        self.ahead = self._read_sealed()
        self.plain = b""
        self.position = 0
        self.blocks = 0
        self.done = False

    def _read_sealed(self) -> bytes:
        data = self.raw.read(self.sealed_size)
        self.advance(len(data))
        return data

    def _open_next(self) -> bytes:
        sealed, index = self.ahead, self.blocks
        self.ahead = self._read_sealed()
        final = not self.ahead  # nothing after it: it must be the block marked last
        nonce = _block_nonce(self.header.nonce, index)
        try:
            plain = self.aead.decrypt(nonce, sealed, _block_aad(self.header_bytes, index, final))
        except InvalidTag:
            if final and self._opens_as_middle(nonce, sealed, index):
                raise _undecipherable(
                    self.name, self.header.key_id, f"it is cut short (it ends after block {index + 1}, which is not the last)"
                ) from None
            where = "the file ends inside a block" if final and len(sealed) < self.sealed_size else "it does not authenticate"
            raise _undecipherable(
                self.name, self.header.key_id, f"block {index + 1} (from byte {self._offset(index):,}): {where}"
            ) from None
        self.blocks += 1
        self.done = final
        return plain

    def _opens_as_middle(self, nonce: bytes, sealed: bytes, index: int) -> bool:
        try:
            self.aead.decrypt(nonce, sealed, _block_aad(self.header_bytes, index, False))
        except InvalidTag:
            return False
        return True

    def _offset(self, index: int) -> int:
        return len(self.header_bytes) + index * self.sealed_size

    def read(self, size: int = -1) -> bytes:
        parts = []
        while size < 0 or size > 0:
            if self.position >= len(self.plain):
                if self.done:
                    break
                self.plain, self.position = self._open_next(), 0
                continue
            end = len(self.plain) if size < 0 else min(len(self.plain), self.position + size)
            parts.append(self.plain[self.position : end])
            if size > 0:
                size -= end - self.position
            self.position = end
        return b"".join(parts)

    def finish(self) -> int:
        """Authenticate the rest of the file (what the archive did not need); the number of blocks."""
        while not self.done:
            self.plain, self.position = self._open_next(), 0
        self.plain = b""
        return self.blocks


# --- Create -----------------------------------------------------------------------------------


@dataclass
class Created:
    path: Path
    manifest: Manifest
    file_bytes: int
    #: Development's default backup key file, when this backup made it.
    new_key_file: Path | None = None


def create_backup(path: Path, progress: Progress = no_progress) -> Created:
    """Write an encrypted backup of the configured database to ``path`` (a new file, written atomically).

    Raises BackupError if no backup key is configured (or it is also a master key), ``path``
    exists, its folder is missing, the database is not a file, or pg_dump is missing or fails.
    """
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} already exists: give the backup a new name (e.g. one with the date).")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist: create it first.")
    key, configured = _sealing_key()
    kind = db.engine.dialect.name
    if kind not in DUMP_NAMES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {kind}.")
    with tempfile.TemporaryDirectory(prefix="handover-backup-") as work:
        dump = _private_file(Path(work) / DUMP_NAMES[kind])
        if kind == "sqlite":
            facts, server_version = _dump_sqlite(dump, progress)
        else:
            facts, server_version = _dump_postgresql(dump, progress)
        digest, size = _sha256_file(dump, progress, "Checking the copy")
        manifest = Manifest(
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            database=kind,
            server_version=server_version,
            dump_name=dump.name,
            dump_bytes=size,
            dump_sha256=digest,
            backup_key_id=key.key_id,
            **facts,
        )
        file_bytes = _write_archive(path, manifest, dump, progress, key)
    return Created(path, manifest, file_bytes, configured.created_file)


def _private_file(path: Path) -> Path:
    """An empty file readable by its owner only (decrypted copies are made in such files)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def _sqlite_file() -> Path:
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("The configured SQLite database is not a plain file (HANDOVER_DATABASE_URL): nothing to back up.")
    path = Path(name).resolve()
    if not path.exists():
        raise BackupError(f"The database file {path} does not exist.")
    return path


def _dump_sqlite(dump: Path, progress: Progress) -> tuple[dict[str, Any], str]:
    """A consistent copy with SQLite's online backup API: one step under a read transaction, so a
    running server's writes (WAL mode) neither block it nor restart it."""
    source = sqlite3.connect(_sqlite_file(), timeout=30)
    target = sqlite3.connect(dump)
    try:
        with progress("Copying the database", 1) as advance:
            source.backup(target)
            advance(1)
        # A self-contained file: no -wal beside it when it is opened again.
        target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        raise BackupError(f"Could not copy the SQLite database: {error}.") from None
    finally:
        target.close()
        source.close()
    with _bound_to(f"sqlite:///{dump}"):
        facts = _facts()
    return facts, sqlite3.sqlite_version


def _dump_postgresql(dump: Path, progress: Progress) -> tuple[dict[str, Any], str]:
    """pg_dump (custom format) of the very snapshot the manifest's counts are read from: a
    REPEATABLE READ transaction exports its snapshot and pg_dump joins it."""
    pg_dump = _pg_tool("pg_dump")
    db.session.rollback()
    conn = db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        server_version = str(conn.scalar(sa.text("SHOW server_version")))
        snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
        facts = _facts()
        uri, env = _libpq(db.engine.url)
        with progress("Dumping the database (pg_dump)", 1) as advance:
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", f"--dbname={uri}"],
                env,
                "pg_dump",
            )
            advance(1)
    finally:
        db.session.rollback()
    return facts, server_version


def _sha256_file(path: Path, progress: Progress, label: str, limit: int | None = None) -> tuple[str, int]:
    total = path.stat().st_size if limit is None else limit
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle, progress(label, total) as advance:
        while done < total:
            chunk = handle.read(min(CHUNK, total - done))
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            advance(len(chunk))
    return digest.hexdigest(), done


class _CountingReader:
    def __init__(self, raw: IO[bytes], advance: Callable[[int], None]):
        self.raw = raw
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.advance(len(data))
        return data


def _write_archive(path: Path, manifest: Manifest, dump: Path, progress: Progress, key: BackupKey) -> int:
    """manifest.json and the dump in a tar, encrypted with ``key`` as it is written; written
    beside ``path`` and renamed into place only when complete and on disk, so a failed run never
    leaves a half backup."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise BackupError(f"Cannot write in {path.parent}: {error.strerror}.") from None
    mtime = int(datetime.now(UTC).timestamp())
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = _SealingWriter(raw, key)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                data = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), mtime, 0o600
                tar.addfile(info, BytesIO(data))
                info = tarfile.TarInfo(manifest.dump_name)
                info.size, info.mtime, info.mode = manifest.dump_bytes, mtime, 0o600
                with open(dump, "rb") as source, progress("Encrypting and writing the backup", manifest.dump_bytes) as advance:
                    tar.addfile(info, _CountingReader(source, advance))  # type: ignore[arg-type]
            writer.finish()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path.stat().st_size


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Read -------------------------------------------------------------------------------------


def _damaged(name: str, what: str) -> BackupError:
    return BackupError(
        f"{name} is damaged: {what}. It was changed, corrupted or cut short after it was written; "
        "do not restore it, use another backup."
    )


@contextmanager
def open_backup(path: Path, progress: Progress = no_progress) -> Iterator[tuple[Manifest, Path]]:
    """Decrypt the file (every block authenticated), read its manifest and write the database copy
    (checked against the manifest's SHA-256) into a temporary folder, mode 0600, removed when the
    block ends; yields (manifest, copy). Raises BackupError, naming the backup key it needs."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        handle = open(path, "rb")  # noqa: SIM115  (closed below, also when the caller's block fails)
    except OSError as error:
        raise BackupError(f"Cannot read {path}: {error.strerror}.") from None
    with handle:
        if handle.read(len(MAGIC)) == MAGIC:
            header, header_bytes = Header.read(handle, name)
            key = _opening_key(header.key_id, name)
            with tempfile.TemporaryDirectory(prefix="handover-restore-") as work:
                with progress("Decrypting the backup", size) as advance:
                    advance(len(header_bytes))
                    reader = _OpeningReader(handle, header, header_bytes, key, name, advance)
                    manifest, copy, digest, copied = _unpack(reader, Path(work), name)
                    blocks = reader.finish()
                _check_copy(manifest, copied, digest, name)
                manifest.file_check = Check(
                    "encryption",
                    True,
                    f"AES-256-GCM with the backup key {header.key_id}: all {blocks:,} blocks authentic, none missing or moved",
                )
                yield manifest, copy
            return
    with _open_plain(path, size, progress) as opened:
        yield opened


def _unpack(reader: _OpeningReader, work: Path, name: str) -> tuple[Manifest, Path, str, int]:
    """Read the archive as it is decrypted: the manifest (in memory), then the database copy."""
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile():
                raise BackupError(f"{name} holds no {MANIFEST}: it is not a Handover backup.")
            manifest = Manifest.from_json(_read_member(tar, member), name)
            member = tar.next()
            if DUMP_NAMES.get(manifest.database) != manifest.dump_name or member is None or member.name != manifest.dump_name:
                raise BackupError(f"{name} does not hold the database copy its manifest names ({manifest.dump_name}).")
            copy = work / manifest.dump_name
            digest, copied = _extract(tar, member, copy, no_progress)
    except (tarfile.TarError, EOFError) as error:
        raise BackupError(f"{name} is not a readable backup archive ({error}).") from None
    return manifest, copy, digest, copied


def _check_copy(manifest: Manifest, copied: int, digest: str, name: str) -> None:
    if copied != manifest.dump_bytes or digest != manifest.dump_sha256:
        raise _damaged(name, f"the database copy inside does not match the SHA-256 in {MANIFEST}")


@contextmanager
def _open_plain(path: Path, size: int, progress: Progress) -> Iterator[tuple[Manifest, Path]]:
    """A format-1 backup (a plain tar, then a SHA-256 line over it): still read, reported as not encrypted."""
    name = path.name
    try:
        with open(path, "rb") as handle:
            handle.seek(max(size - TRAILER_LENGTH, 0))
            trailer = handle.read()
    except OSError as error:
        raise BackupError(f"Cannot read {path}: {error.strerror}.") from None
    if size <= TRAILER_LENGTH or not trailer.startswith(TRAILER_PREFIX):
        raise BackupError(
            f"{name} is not a Handover backup, or it is damaged or cut short: it starts with neither the header of an "
            "encrypted backup nor ends with the checksum line of an older one."
        )
    recorded = trailer[len(TRAILER_PREFIX) : -1]
    if not trailer.endswith(b"\n") or not re.fullmatch(rb"[0-9a-f]{64}", recorded):
        raise _damaged(name, "its checksum line is not readable")
    digest, _ = _sha256_file(path, progress, "Checking the file's checksum", limit=size - TRAILER_LENGTH)
    if digest.encode() != recorded:
        raise _damaged(name, "its SHA-256 checksum does not match its contents")
    with tempfile.TemporaryDirectory(prefix="handover-restore-") as work:
        try:
            with tarfile.open(path, mode="r:") as tar:
                members = {member.name: member for member in tar.getmembers()}
                if MANIFEST not in members:
                    raise BackupError(f"{name} holds no {MANIFEST}: it is not a Handover backup.")
                manifest = Manifest.from_json(_read_member(tar, members[MANIFEST]), name)
                member = members.get(manifest.dump_name)
                if DUMP_NAMES.get(manifest.database) != manifest.dump_name or member is None or not member.isfile():
                    raise BackupError(f"{name} does not hold the database copy its manifest names ({manifest.dump_name}).")
                copy = Path(work) / manifest.dump_name
                digest, copied = _extract(tar, member, copy, progress)
        except tarfile.TarError as error:
            raise BackupError(f"{name} is not a readable backup archive ({error}).") from None
        _check_copy(manifest, copied, digest, name)
        manifest.file_check = Check(
            "file checksum",
            True,
            "the SHA-256 of the whole file matches its last line. NOT encrypted (format 1, made before backups were "
            "encrypted): anyone who can read this file can read the database copy; make a new backup and delete this one",
        )
        yield manifest, copy


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member) if member.isfile() else None
    if handle is None or member.size > 16 * CHUNK:
        raise BackupError(f"{MANIFEST} in the backup is not a readable file.")
    return handle.read()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, progress: Progress) -> tuple[str, int]:
    """Stream one member to ``target``, a new file of mode 0600 (never through tar's own extraction:
    no path from the archive is used), hashing it."""
    source = tar.extractfile(member) if member.isfile() else None
    if source is None:
        raise BackupError("The database copy in the backup is not a regular file.")
    digest = hashlib.sha256()
    size = 0
    with open(_private_file(target), "wb") as out, progress("Extracting the database copy", member.size) as advance:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
            advance(len(chunk))
    return digest.hexdigest(), size


# --- Verify -----------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verification:
    manifest: Manifest
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


def verify_backup(path: Path, progress: Progress = no_progress) -> Verification:
    """Check a backup end to end in a scratch place; the configured database is not touched.

    Raises BackupError when the file itself is damaged or unreadable (nothing else can be trusted
    then), or when the scratch place cannot be made; every other problem is a failed Check.
    """
    with open_backup(path, progress) as (manifest, copy):
        return _verify_copy(manifest, copy, progress)


def _verify_copy(manifest: Manifest, copy: Path, progress: Progress) -> Verification:
    report = Verification(manifest)
    if manifest.file_check is not None:
        report.checks.append(manifest.file_check)
    report.checks.append(Check("database copy", True, f"{_size(manifest.dump_bytes)}; its SHA-256 matches {MANIFEST}"))
    if manifest.database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="handover-verify-") as work:
            scratch = _private_file(Path(work) / "scratch.sqlite3")
            try:
                _restore_sqlite(copy, scratch)
            except BackupError as error:
                report.checks.append(Check("restore", False, error.message))
                return report
            report.checks.append(Check("restore", True, "copied into a scratch SQLite file"))
            report.checks.append(_sqlite_integrity(scratch))
            with _bound_to(f"sqlite:///{scratch}"):
                report.checks.extend(_content_checks(manifest, progress))
        return report
    if db.engine.dialect.name != "postgresql":
        raise BackupError(
            "This is a PostgreSQL backup: verify it with HANDOVER_DATABASE_URL set to a PostgreSQL server "
            "(verification restores it into a scratch database there, then drops it)."
        )
    pg_restore = _pg_tool("pg_restore")
    with _scratch_postgresql() as url:
        uri, env = _libpq(url)
        try:
            with progress("Restoring into a scratch database (pg_restore)", 1) as advance:
                _run(
                    [
                        pg_restore,
                        "--exit-on-error",
                        "--single-transaction",
                        "--no-owner",
                        "--no-privileges",
                        f"--dbname={uri}",
                        str(copy),
                    ],
                    env,
                    "pg_restore",
                )
                advance(1)
        except BackupError as error:
            report.checks.append(Check("restore", False, error.message))
            return report
        report.checks.append(Check("restore", True, f"pg_restore into the scratch database {url.database} succeeded"))
        report.checks.append(Check("integrity", True, "pg_restore re-created every table, index and constraint without error"))
        with _bound_to(url):
            report.checks.extend(_content_checks(manifest, progress))
    return report


def _sqlite_integrity(path: Path) -> Check:
    conn = sqlite3.connect(path)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as error:
        return Check("integrity", False, f"SQLite cannot read the copy: {error}")
    finally:
        conn.close()
    if result != ["ok"]:
        return Check("integrity", False, "PRAGMA integrity_check: " + "; ".join(result[:5]))
    if foreign:
        tables = sorted({row[0] for row in foreign})
        return Check("integrity", False, f"{len(foreign)} rows point at missing rows (foreign keys) in {', '.join(tables)}")
    return Check("integrity", True, "PRAGMA integrity_check: ok; no broken foreign keys")


def _content_checks(manifest: Manifest, progress: Progress) -> list[Check]:
    """Counts, revision, chain and secrets of the restored copy (``db.session`` is bound to it).

    A copy at an older migration revision is counted as it is, then migrated to this code's
    revision (it is a scratch copy) so the chain and the secrets are read as this version reads
    them: last month's backup stays verifiable, and restorable, after an upgrade.
    """
    counts = _row_counts()
    checks = [_counts_check(manifest, counts), _revision_check(manifest, counts)]
    db.session.rollback()
    found, expected = _revision(counts), code_revision()
    if found and expected and found != expected:
        upgraded = _upgrade_scratch(found, expected)
        checks.append(upgraded)
        if not upgraded.ok:
            return checks
    steps: tuple[tuple[str, Callable[[], list[Check]]], ...] = (
        ("audit chain", lambda: [_chain_check(manifest)]),
        ("credentials", lambda: _secrets_checks(manifest, _row_counts(), progress)),
    )
    for name, step in steps:
        try:
            checks.extend(step())
        except sa.exc.SQLAlchemyError as error:
            db.session.rollback()
            checks.append(Check(name, False, f"could not be read from the copy ({_tail(str(getattr(error, 'orig', error)), 1)})"))
    db.session.rollback()
    return checks


def _upgrade_scratch(found: str, expected: str) -> Check:
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(current_app.extensions["migrate"].migrate.get_config(), "heads")
    except (CommandError, sa.exc.SQLAlchemyError) as error:
        db.session.rollback()
        return Check(
            "upgrade",
            False,
            f"the copy at revision {found} could not be migrated to this Handover's {expected} "
            f"({_tail(str(error), 1)}); a backup from a newer Handover needs that version",
        )
    return Check("upgrade", True, f"the scratch copy was migrated from {found} to {expected} for the checks below")


def _counts_check(manifest: Manifest, counts: dict[str, int]) -> Check:
    expected = manifest.row_counts
    differ = [
        f"{name}: {counts.get(name, 'missing')} instead of {expected.get(name, 'none')}"
        for name in sorted(set(expected) | set(counts))
        if counts.get(name) != expected.get(name)
    ]
    if differ:
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        return Check("row counts", False, "; ".join(differ[:5]) + more)
    return Check("row counts", True, f"{len(counts)} tables, {sum(counts.values()):,} rows, as in {MANIFEST}")


def _revision_check(manifest: Manifest, counts: dict[str, int]) -> Check:
    found = _revision(counts)
    if found != manifest.alembic_revision:
        return Check(
            "migration revision", False, f"the copy is at {found or 'no revision'}, {MANIFEST} says {manifest.alembic_revision}"
        )
    if found is None:
        return Check("migration revision", True, "none recorded (the schema was not made by migrations)")
    expected = code_revision()
    note = "" if expected in (None, found) else f" (this Handover's is {expected}: run `flask db upgrade` after restoring)"
    return Check("migration revision", True, f"{found}, as in {MANIFEST}{note}")


def _same_head(head: dict[str, Any] | None, recorded: dict[str, Any] | None) -> bool:
    """Whether the chain ends where the manifest says. A manifest from before the keyed chain names
    the last event by id (its links were re-made under the audit key by the upgrade)."""
    if recorded is not None and "seq" not in recorded:
        # The upgrade appended one audit.rekey event after the events the manifest knew.
        last_id = db.session.scalar(
            sa.select(AuditEvent.id).where(AuditEvent.action != "audit.rekey").order_by(AuditEvent.seq.desc()).limit(1)
        )
        return last_id == recorded.get("id")
    return head == recorded


def _chain_check(manifest: Manifest) -> Check:
    result = audit.verify_chain()
    checked = result.checked
    if not result.intact:
        return Check(
            "audit chain", False, f"broken at sequence number {result.broken_at}: {result.reason} (after {checked:,} good events)"
        )
    head = _chain_head()
    if not _same_head(head, manifest.audit_chain_head):
        found = f"ends at {_head_label(head)}" if head else "is empty"
        return Check("audit chain", False, f"the restored chain {found}, {MANIFEST} recorded {manifest.head_label}")
    return Check("audit chain", True, f"{checked:,} events intact, ending at {_head_label(head)} as recorded")


def _secrets_checks(manifest: Manifest, counts: dict[str, int], progress: Progress) -> list[Check]:
    keyring = crypto.current_keyring()
    needed = sorted(set(manifest.credential_key_ids) | set(_key_ids()))
    missing = [key_id for key_id in needed if key_id not in keyring]
    wrong = [problem.message for problem in keys.problems(keyring) if problem.key_id not in missing]
    if missing or wrong:
        parts = ([f"not configured: {', '.join(missing)}"] if missing else []) + wrong
        keys_check = Check("master keys", False, "; ".join(parts) + " (configure the keys the backup needs)")
    else:
        keys_check = Check("master keys", True, f"{', '.join(needed) or 'none needed'}: configured and matching")

    opened: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    totals = {label: 0 for label in ("notes", "kept versions", "two-factor seeds")}
    total = sum(counts.get(table, 0) for _, table in keys.SEALED) + counts.get("users", 0) * len(keys.USER_SEALED)
    with progress("Decrypting every credential (in memory)", total) as advance:
        for (model, table), label in zip(keys.SEALED, ("notes", "kept versions"), strict=True):
            stmt = sa.select(model.id, model.secret).order_by(model.id).execution_options(yield_per=2000)
            for row_id, envelope in db.session.execute(stmt):
                totals[label] += 1
                _try_open(keyring, envelope, crypto.associated_data(table, row_id, "secret"), label, opened, failed)
                advance(1)
        for user_id, column, envelope in keys.seed_envelopes():
            totals["two-factor seeds"] += 1
            _try_open(keyring, envelope, crypto.associated_data("users", user_id, column), "two-factor seeds", opened, failed)
            advance(1)
    summary = ", ".join(f"{opened[label]:,} of {n:,} {label}" for label, n in totals.items())
    if failed:
        return [keys_check, Check("credentials", False, f"only {summary} open with the configured keys")]
    return [keys_check, Check("credentials", True, f"{summary} open with the configured keys")]


def _try_open(keyring: crypto.Keyring, envelope: str, aad: bytes, label: str, opened: Counter[str], failed: Counter[str]) -> None:
    try:
        keyring.open(envelope, aad)  # the plaintext is dropped at once: only the count is kept
    except crypto.UndecryptableSecret:
        failed[label] += 1
    else:
        opened[label] += 1


@contextmanager
def _scratch_postgresql() -> Iterator[sa.URL]:
    """A new empty database on the configured PostgreSQL server, dropped afterwards."""
    url = db.engine.url
    name = f"handover_verify_{secrets.token_hex(6)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    except sa.exc.DBAPIError as error:
        admin.dispose()
        raise BackupError(
            f"Could not create a scratch database to verify into ({_tail(str(error.orig), 1)}). "
            f"The database user {url.username or '(default)'} needs the CREATEDB privilege for verification."
        ) from None
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _size(n: int) -> str:
    return f"{n / 1_000_000:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


# --- Restore ----------------------------------------------------------------------------------


@dataclass
class Restored:
    verification: Verification
    row_counts: dict[str, int]
    replaced: dict[str, int]


class DatabaseNotEmpty(BackupError):
    def __init__(self, found: dict[str, int]):
        listed = ", ".join(f"{n:,} {name}" for name, n in sorted(found.items(), key=lambda item: -item[1])[:6])
        super().__init__(
            f"The configured database already holds data ({listed}{', …' if len(found) > 6 else ''}). "
            "Restoring replaces all of it: run again with --force to overwrite it."
        )
        self.found = found


def restore_backup(path: Path, force: bool = False, progress: Progress = no_progress) -> Restored:
    """Replace the configured database with the backup's copy, after verifying it.

    Refuses (DatabaseNotEmpty) a database that holds data unless ``force``; refuses a backup that
    fails verification or is of the other database kind. Stop the servers first.
    """
    kind = db.engine.dialect.name
    found = stored_data()
    if found and not force:
        raise DatabaseNotEmpty(found)
    with open_backup(path, progress) as (manifest, copy):
        if manifest.database != kind:
            raise BackupError(
                f"This is a {manifest.kind_label} backup and the configured database is {KIND_LABELS.get(kind, kind)}: "
                f"restore it into a {manifest.kind_label} database (HANDOVER_DATABASE_URL)."
            )
        verification = _verify_copy(manifest, copy, progress)
        if not verification.ok:
            failed = "; ".join(f"{check.name}: {check.detail}" for check in verification.failed)
            raise BackupError(f"The backup failed verification, so nothing was restored. {failed}")
        db.session.remove()
        with progress("Restoring into the configured database", 1) as advance:
            if kind == "sqlite":
                _restore_sqlite(copy, _sqlite_file_for_restore())
            else:
                _restore_postgresql(copy)
            advance(1)
    db.engine.dispose()
    counts = _row_counts()
    db.session.rollback()
    if counts != manifest.row_counts:
        raise BackupError("The restored database does not hold the rows the manifest lists; check the database server's log.")
    return Restored(verification, counts, found)


def _sqlite_file_for_restore() -> Path:
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("The configured SQLite database is not a plain file (HANDOVER_DATABASE_URL).")
    path = Path(name).resolve()
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} of the configured database does not exist.")
    return path


def _restore_sqlite(copy: Path, target: Path) -> None:
    """Every page of ``copy`` into ``target`` with the online backup API: one transaction, so a
    reader sees the old database or the new one, never a mixture."""
    source = sqlite3.connect(copy)
    try:
        destination = sqlite3.connect(target, timeout=30)
    except sqlite3.Error as error:
        source.close()
        raise BackupError(f"Cannot open {target}: {error}.") from None
    try:
        source.backup(destination)
    except sqlite3.Error as error:
        raise BackupError(f"Could not write {target.name}: {error} (stop the Handover server while restoring).") from None
    finally:
        destination.close()
        source.close()


def _restore_postgresql(copy: Path) -> None:
    """Drop every table of the configured database and load the dump, in ONE transaction (psql
    --single-transaction): a failure leaves the database as it was."""
    pg_restore, psql = _pg_tool("pg_restore"), _pg_tool("psql")
    preparer = db.engine.dialect.identifier_preparer
    with db.engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    prelude = "".join(f"DROP TABLE IF EXISTS {preparer.quote(name)} CASCADE;\n" for name in tables)
    uri, env = _libpq(db.engine.url)
    # A running server holding locks makes the restore fail after a while instead of waiting forever.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=30000").strip()
    with tempfile.TemporaryFile() as errors:
        script = subprocess.Popen(  # noqa: S603  (fixed program, no shell)
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", str(copy)],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        loader = subprocess.Popen(  # noqa: S603
            [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1", f"--dbname={uri}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
        assert script.stdout is not None and loader.stdin is not None  # noqa: S101  (pipes requested above)
        try:
            loader.stdin.write(prelude.encode())
            shutil.copyfileobj(script.stdout, loader.stdin, CHUNK)
        except BrokenPipeError:
            pass  # psql stopped at an error: reported below
        finally:
            loader.stdin.close()
            script.stdout.close()
        codes = (script.wait(), loader.wait())
        if any(codes):
            errors.seek(0)
            raise BackupError(
                f"Restoring into PostgreSQL failed and was rolled back: {_tail(errors.read().decode(errors='replace'))}"
            )
