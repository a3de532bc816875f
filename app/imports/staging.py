"""Keeping an uploaded file between its preview and its confirmation, without trusting the browser.

The preview page carries the file back: its bytes, compressed, with who uploaded it, the kind of
file, its name and the digest of the plan the preview showed, signed with the app's secret key
(itsdangerous, a salt of its own) and stamped with the time. The confirmation posts that token;
Handover checks the signature, the age (HANDOVER_IMPORT_PREVIEW_MINUTES), that the same user is
confirming the same kind of import, then runs the file again and applies it only if the plan is
still the one the preview showed (``csv_io.run_import(expected_digest=...)``).

Why not keep the file on the server: the instance folder is not shared by several app servers
(the PostgreSQL set-up), and a file of the staff list's personal details would sit on disk until
something cleaned it up; a table would need a migration and a clean-up job for transient data.
A signed token needs neither, cannot be altered or replayed by another user, and holds nothing
the uploader did not just send. Its cost is the page size: about the compressed file, once more.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from app.services.errors import ValidationFailed

SALT = "handover.csv-import"


@dataclass(frozen=True)
class Staged:
    """An uploaded file waiting for its confirmation."""

    user_id: int
    kind: str
    name: str
    data: bytes
    #: The digest of the plan the preview showed.
    digest: str


def token_limit(max_bytes: int) -> int:
    """The most characters a token for a file of at most ``max_bytes`` can have (base64 of the
    compressed file, which zlib never grows by more than a little, plus the small header)."""
    return max_bytes * 4 // 3 + max_bytes // 100 + 64 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def seal(secret: str, staged: Staged) -> str:
    meta = json.dumps(
        {"user": staged.user_id, "kind": staged.kind, "name": staged.name, "digest": staged.digest}, separators=(",", ":")
    )
    body = f"{_b64(meta.encode())}.{_b64(zlib.compress(staged.data, 6))}"
    return TimestampSigner(secret, salt=SALT).sign(body).decode("ascii")


def unseal(secret: str, token: str, *, user_id: int, kind: str, max_age_seconds: int, max_bytes: int) -> Staged:
    """The staged file, if the token is ours, recent enough, and this user's upload of this kind.

    Raises ValidationFailed (field ``file``) otherwise, asking for the file again.
    """
    again = "Upload the file again to see a fresh preview."
    try:
        body = TimestampSigner(secret, salt=SALT).unsign(token, max_age=max_age_seconds)
    except SignatureExpired:
        message = f"The preview is more than {max_age_seconds // 60} minutes old, so nothing was imported. {again}"
        raise ValidationFailed(message, {"file": [message]}) from None
    except BadSignature:
        body = b""
    try:
        meta_part, data_part = body.split(b".", 1)
        meta = json.loads(base64.urlsafe_b64decode(meta_part))
        inflate = zlib.decompressobj()
        data = inflate.decompress(base64.urlsafe_b64decode(data_part), max_bytes + 1)
        if meta["user"] != user_id or meta["kind"] != kind:
            raise ValueError("someone else's preview")
        return Staged(user_id=user_id, kind=kind, name=str(meta["name"]), data=data, digest=str(meta["digest"]))
    except (ValueError, KeyError, TypeError, binascii.Error, zlib.error):
        message = f"That preview cannot be confirmed (it was changed, or is not yours), so nothing was imported. {again}"
        raise ValidationFailed(message, {"file": [message]}) from None
