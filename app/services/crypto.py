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
#: What each key's check envelope holds (see MasterKeyCheck).
CHECK_PLAINTEXT = "handover master key check"


class KeyConfigError(RuntimeError):
    """The master keys are missing, malformed or not the ones that sealed the data; says what to set."""


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


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
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

    def __init__(self, keys: list[MasterKey]):
        if not keys:
            raise KeyConfigError("No master key is configured.")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise KeyConfigError("A master key id appears twice in HANDOVER_MASTER_KEYS; each id must be unique.")
        self._keys = {k.key_id: k for k in keys}
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
        sealed = AESGCM(self._keys[key_id].key).encrypt(nonce, plaintext.encode(), aad)
        return f"{PREFIX}:{key_id}:{_b64encode(nonce + sealed)}"

    @classmethod
    def parse(cls, spec: str, source: str = "HANDOVER_MASTER_KEYS") -> Keyring:
        """Parse ``id:base64key`` entries separated by commas, spaces or new lines (first is primary)."""
        keys = []
        for entry in re.split(r"[\s,]+", spec.strip()):
            if not entry or entry.startswith("#"):
                continue
            key_id, _, encoded = entry.partition(":")
            if not KEY_ID.match(key_id) or not encoded:
                raise KeyConfigError(
                    f"{source} has an entry that is not <id>:<key> (ids are lower-case letters, digits and dashes). "
                    "Run `flask keys generate` for a valid one."
                )
            try:
                raw = _b64decode(encoded)
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"{source}: the key for {key_id!r} is not valid base64.") from None
            if len(raw) != KEY_BYTES:
                raise KeyConfigError(f"{source}: the key for {key_id!r} must be 32 bytes (256 bits), not {len(raw)}.")
            keys.append(MasterKey(key_id, raw))
        return cls(keys)

    def seal(self, plaintext: str, aad: bytes) -> str:
        return self.seal_with(self.primary.key_id, plaintext, aad)

    def open(self, envelope: str, aad: bytes) -> str:
        """Decrypt; raises UndecryptableSecret (never returns garbage) on any mismatch."""
        prefix, key_id, body = split_envelope(envelope)
        if key_id not in self._keys:
            raise UndecryptableSecret(f"it was sealed with master key {key_id!r}, which is not configured")
        try:
            raw = _b64decode(body)
        except (binascii.Error, ValueError):
            raise UndecryptableSecret("the stored value is damaged") from None
        if len(raw) < NONCE_BYTES + 16:
            raise UndecryptableSecret("the stored value is damaged")
        try:
            return AESGCM(self._keys[key_id].key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
        except InvalidTag:
            raise UndecryptableSecret("it does not belong to this record, or it was altered") from None

    def reseal(self, envelope: str, aad: bytes) -> str:
        """The same plaintext sealed again under the primary key."""
        return self.seal(self.open(envelope, aad), aad)

    def reseal_to(self, envelope: str, aad: bytes, new_aad: bytes) -> str:
        """The same plaintext moved to another place (another row), sealed under the primary key."""
        return self.seal(self.open(envelope, aad), new_aad)


def split_envelope(envelope: str) -> tuple[str, str, str]:
    parts = envelope.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise UndecryptableSecret("the stored value is not a Handover envelope")
    return parts[0], parts[1], parts[2]


def key_id_of(envelope: str) -> str:
    return split_envelope(envelope)[1]


def load_keyring(spec: str | None, key_file: Path | None, create_file: bool) -> Keyring:
    """The keyring from HANDOVER_MASTER_KEYS, else the key file (created with mode 0600 when allowed)."""
    if spec:
        return Keyring.parse(spec)
    if key_file is not None:
        if not key_file.exists():
            if not create_file:
                raise KeyConfigError(
                    "No master key: set HANDOVER_MASTER_KEYS (generate one with `flask keys generate`), "
                    f"or create the key file {key_file} (mode 0600)."
                )
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_key_spec() + "\n")
        return Keyring.parse(key_file.read_text(), source=str(key_file))
    raise KeyConfigError("No master key: set HANDOVER_MASTER_KEYS (generate one with `flask keys generate`).")


class KeyringSource:
    """Where this server gets its keys. A key file is re-read when it changes, so `flask keys rotate`
    on one machine (adding a key) reaches running servers without a restart."""

    def __init__(self, spec: str | None, key_file: Path | None, create_file: bool):
        self.spec = spec
        self.key_file = None if spec else key_file
        self._keyring = load_keyring(spec, key_file, create_file)
        self._mtime = self._stamp()

    def _stamp(self) -> float | None:
        return self.key_file.stat().st_mtime if self.key_file is not None and self.key_file.exists() else None

    def get(self) -> Keyring:
        if self.key_file is not None and self._stamp() != self._mtime:
            self._keyring = Keyring.parse(self.key_file.read_text(), source=str(self.key_file))
            self._mtime = self._stamp()
        return self._keyring

    @property
    def writable_file(self) -> Path | None:
        """The key file, when keys come from one (otherwise HANDOVER_MASTER_KEYS is edited by the operator)."""
        return self.key_file


def current_keyring() -> Keyring:
    """The keyring of the running app (installed by create_app)."""
    from flask import current_app

    return current_app.extensions["handover_keyring"].get()


def current_key_source() -> KeyringSource:
    from flask import current_app

    return current_app.extensions["handover_keyring"]
