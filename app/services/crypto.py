"""Encryption at rest for credential notes: AES-256-GCM in a versioned envelope.

Envelope: ``hv1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The associated data names the
table, row and column the value belongs to, so a ciphertext copied onto another row (or into
another column) fails to decrypt instead of showing someone else's secret. Master keys live
outside the database (HANDOVER_MASTER_KEYS or a 0600 key file in the instance folder); the first
key is the primary, used for new envelopes; the others only decrypt until ``flask keys rotate``
has moved everything to the primary.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.services.errors import DomainError

PREFIX = "hv1"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
#: An envelope body: unpadded base64url, nothing else (checked strictly, see _b64decode_strict).
_BODY = re.compile(r"^[A-Za-z0-9_-]*$")
#: A key as operators may paste it: base64url or standard base64, padding optional.
_KEY_TEXT = re.compile(r"^[A-Za-z0-9_+/-]+={0,2}$")
#: What each key's check envelope holds (see MasterKeyCheck).
CHECK_PLAINTEXT = "handover master key check"


class KeyConfigError(RuntimeError):
    """The master keys are missing, malformed or not the ones that sealed the data; says what to set."""


_HOW_TO_SET = "Set HANDOVER_MASTER_KEYS to <id>:<key> entries, primary first (`flask keys generate` prints a new one)."


class UndecryptableSecret(DomainError):
    """A stored envelope could not be opened: altered, copied from another record, or its key is missing."""

    status = 500

    def __init__(self, detail: str):
        super().__init__(
            f"This secret cannot be decrypted ({detail}). Nothing was shown. It may have been altered, copied "
            "from another record, or sealed with a master key this server does not have: an admin can check with "
            "`flask keys status`."
        )
        self.detail = detail


def associated_data(table: str, row_id: int, column: str) -> bytes:
    """What binds an envelope to its place: ``handover/<table>/<row id>/<column>``."""
    return f"handover/{table}/{row_id}/{column}".encode()


#: base64url <-> standard base64 (binascii speaks the standard alphabet only).
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PADDING = ("", "===", "==", "=")


def _b64encode(data: bytes) -> str:
    # binascii directly: the base64 module's wrappers cost more than the encoding itself, and a
    # key rotation encodes every envelope.
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def _b64decode_strict(text: str) -> bytes:
    """Decode an envelope body, refusing anything but its one canonical spelling.

    The lenient decoder skips characters outside the alphabet and ignores the spare low bits of
    the last character, so an altered envelope could still "open": an envelope that is not exactly
    what ``_b64encode`` wrote is damaged.
    """
    if not _BODY.match(text):
        raise ValueError("not base64url")
    raw = binascii.a2b_base64((text + _PADDING[len(text) % 4]).encode().translate(_FROM_URLSAFE))
    if _b64encode(raw) != text:
        raise ValueError("not the canonical encoding")
    return raw


def _decode_key(text: str) -> bytes:
    """A key's bytes from base64url or standard base64 (padding optional); ValueError if not base64."""
    if not _KEY_TEXT.match(text):
        raise ValueError("not base64")
    text = text.rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    key: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey({self.key_id!r})"


def generate_key_spec(key_id: str | None = None) -> str:
    """A new key as ``<id>:<base64url of 32 random bytes>`` (the form HANDOVER_MASTER_KEYS takes)."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    return f"{key_id}:{_b64encode(AESGCM.generate_key(bit_length=256))}"


class Keyring:
    """The master keys this server holds. The first is the primary."""

    def __init__(
        self, keys: list[MasterKey], source: str = "HANDOVER_MASTER_KEYS", kind: str = "master key", how_to: str = _HOW_TO_SET
    ):
        if not keys:
            raise KeyConfigError(f"No {kind} is configured in {source}: {how_to}")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            duplicate = next(key_id for key_id in ids if ids.count(key_id) > 1)
            raise KeyConfigError(
                f"{source}: the {kind} id {duplicate!r} appears twice; each id must be unique. "
                "Keep one entry per key (`flask keys generate --id <new id>` makes a new one)."
            )
        self._keys = {k.key_id: k for k in keys}
        # One cipher object per key, made once: building one costs more than sealing a value.
        self._aead = {k.key_id: AESGCM(k.key) for k in keys}
        self.primary = keys[0]

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def raw_key(self, key_id: str) -> bytes:
        return self._keys[key_id].key

    def seal_with(self, key_id: str, plaintext: str, aad: bytes) -> str:
        """Seal under a named key (only the master-key checks do this; data always uses the primary)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(nonce, plaintext.encode(), aad)
        return f"{PREFIX}:{key_id}:{_b64encode(nonce + sealed)}"

    @classmethod
    def parse(
        cls, spec: str, source: str = "HANDOVER_MASTER_KEYS", kind: str = "master key", how_to: str = _HOW_TO_SET
    ) -> Keyring:
        """Parse ``id:base64key`` entries separated by commas, spaces or new lines (first is primary).

        ``#`` starts a comment that runs to the end of its line (a key file may explain itself).
        Error messages name the setting or file, the kind of key and how to set it (``how_to``),
        and never repeat key material.
        """
        keys = []
        text = "\n".join(line.split("#", 1)[0] for line in spec.splitlines())
        for entry in re.split(r"[\s,]+", text.strip()):
            if not entry:
                continue
            key_id, _, encoded = entry.partition(":")
            if not KEY_ID.match(key_id) or not encoded:
                raise KeyConfigError(
                    f"{source} has an entry that is not <id>:<key> (ids are 1-40 lower-case letters, digits and dashes, "
                    f"starting with a letter or digit). {how_to}"
                )
            try:
                raw = _decode_key(encoded)
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"{source}: the key for {key_id!r} is not valid base64. {how_to}") from None
            if len(raw) != KEY_BYTES:
                raise KeyConfigError(f"{source}: the key for {key_id!r} must be 32 bytes (256 bits), not {len(raw)}. {how_to}")
            keys.append(MasterKey(key_id, raw))
        return cls(keys, source, kind, how_to)

    def seal(self, plaintext: str, aad: bytes) -> str:
        return self.seal_with(self.primary.key_id, plaintext, aad)

    def open(self, envelope: str, aad: bytes) -> str:
        """Decrypt; raises UndecryptableSecret (never returns garbage) on any mismatch."""
        return self._open_bytes(envelope, aad).decode()

    def _open_bytes(self, envelope: str, aad: bytes) -> bytes:
        prefix, key_id, body = split_envelope(envelope)
        if key_id not in self._keys:
            raise UndecryptableSecret(f"it was sealed with master key {key_id!r}, which is not configured")
        try:
            raw = _b64decode_strict(body)
        except (binascii.Error, ValueError):
            raise UndecryptableSecret("the stored value is damaged") from None
        if len(raw) < NONCE_BYTES + 16:
            raise UndecryptableSecret("the stored value is damaged")
        try:
            return self._aead[key_id].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except InvalidTag:
            raise UndecryptableSecret("it does not belong to this record, or it was altered") from None

    def reseal(self, envelope: str, aad: bytes) -> str:
        """The same plaintext sealed again under the primary key."""
        return self.seal(self.open(envelope, aad), aad)

    def reseal_many(self, envelopes: list[tuple[str, bytes]]) -> list[str]:
        """``reseal`` for many (envelope, associated data) pairs at once, in order (key rotation).

        The same checks and the same result as one ``reseal`` each, written as one loop because a
        rotation runs it once per envelope in the registry: the envelope must be exactly what
        ``seal`` writes (prefix, a configured key id, the canonical base64url body), anything else
        goes through ``open`` for its error. The nonces come from one read of the random source.
        """
        primary = self.primary.key_id
        sealer = self._aead[primary]
        aeads = self._aead
        prefix = f"{PREFIX}:{primary}:"
        nonces = os.urandom(NONCE_BYTES * len(envelopes))
        a2b, b2a, to_std, to_url, padding = binascii.a2b_base64, binascii.b2a_base64, _FROM_URLSAFE, _TO_URLSAFE, _PADDING
        out = []
        start = 0
        for envelope, aad in envelopes:
            parts = envelope.split(":", 2) if isinstance(envelope, str) else ()
            aead = aeads.get(parts[1]) if len(parts) == 3 and parts[0] == PREFIX else None
            raw = b""
            if aead is not None:
                body = parts[2].encode()
                try:
                    raw = a2b((body + padding[len(body) % 4].encode()).translate(to_std))
                except (binascii.Error, ValueError):
                    raw = b""
                if b2a(raw, newline=False).translate(to_url).rstrip(b"=") != body:
                    raw = b""
            if len(raw) < NONCE_BYTES + 16:
                self.open(envelope, aad)  # raises UndecryptableSecret, saying what is wrong
                raise UndecryptableSecret("the stored value is damaged")  # pragma: no cover (open raised)
            try:
                plaintext = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)  # type: ignore[union-attr]
            except InvalidTag:
                raise UndecryptableSecret("it does not belong to this record, or it was altered") from None
            nonce = nonces[start : start + NONCE_BYTES]
            start += NONCE_BYTES
            out.append(
                prefix + b2a(nonce + sealer.encrypt(nonce, plaintext, aad), newline=False).translate(to_url).rstrip(b"=").decode()
            )
        return out

    def reseal_to(self, envelope: str, aad: bytes, new_aad: bytes) -> str:
        """The same plaintext moved to another place (another row), sealed under the primary key."""
        return self.seal(self.open(envelope, aad), new_aad)


def split_envelope(envelope: str) -> tuple[str, str, str]:
    parts = envelope.split(":", 2) if isinstance(envelope, str) else []
    # The key id is checked before anything repeats it: if a plaintext ever landed in the column,
    # an error message must not print it back.
    if len(parts) != 3 or parts[0] != PREFIX or not KEY_ID.match(parts[1]):
        raise UndecryptableSecret("the stored value is not a Handover envelope")
    return parts[0], parts[1], parts[2]


def key_id_of(envelope: str) -> str:
    return split_envelope(envelope)[1]


def write_key_file(path: Path, text: str) -> None:
    """Replace the key file atomically, mode 0600: a crash or a server re-reading it mid-write must
    never see a half-written file (losing a master key loses every secret it sealed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class KeyringSource:
    """Where this server gets its keys: the variable, else a mode-0600 key file (created when
    allowed). A key file is re-read when it changes, so `flask keys rotate` on one machine
    (adding a key) reaches running servers without a restart. Subclasses name other keys."""

    #: How messages name these keys, and the variable that holds them.
    kind = "master key"
    variable = "HANDOVER_MASTER_KEYS"

    def __init__(self, spec: str | None, key_file: Path | None, create_file: bool):
        self.spec = spec
        self.key_file = None if spec else key_file
        self._keyring = self._load(spec, key_file, create_file)
        self._mtime = self._stamp()

    def parse(self, text: str, source: str) -> Keyring:
        return Keyring.parse(text, source=source)

    def _load(self, spec: str | None, key_file: Path | None, create_file: bool) -> Keyring:
        if spec:
            return self.parse(spec, self.variable)
        if key_file is None:
            raise KeyConfigError(f"No {self.kind}: set {self.variable} (generate one with `flask keys generate`).")
        if not key_file.exists():
            if not create_file:
                raise KeyConfigError(
                    f"No {self.kind}: set {self.variable} (generate one with `flask keys generate`), "
                    f"or create the key file {key_file} (mode 0600)."
                )
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_key_spec() + "\n")
        return self.parse(key_file.read_text(), str(key_file))

    def _stamp(self) -> tuple[int, int, int] | None:
        """What changes when the file is rewritten (an atomic replace gives a new inode even within
        one mtime tick)."""
        if self.key_file is None or not self.key_file.exists():
            return None
        info = self.key_file.stat()
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def get(self) -> Keyring:
        if self.key_file is not None and self._stamp() != self._mtime:
            self._keyring = self.parse(self.key_file.read_text(), str(self.key_file))
            self._mtime = self._stamp()
        return self._keyring

    @property
    def writable_file(self) -> Path | None:
        """The key file, when keys come from one (otherwise HANDOVER_MASTER_KEYS is edited by the operator)."""
        return self.key_file


def load_keyring(spec: str | None, key_file: Path | None, create_file: bool) -> Keyring:
    """The master keys from HANDOVER_MASTER_KEYS, else the key file (created with mode 0600 when allowed)."""
    return KeyringSource(spec, key_file, create_file).get()


def current_keyring() -> Keyring:
    """The keyring of the running app (installed by create_app)."""
    from flask import current_app

    return current_app.extensions["handover_keyring"].get()


def current_key_source() -> KeyringSource:
    from flask import current_app

    return current_app.extensions["handover_keyring"]


if __name__ == "__main__":  # `python -m app.services.crypto`: a first key, before the app can start
    print(generate_key_spec())
