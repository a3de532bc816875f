"""Two factors: TOTP (RFC 6238) through pyotp, and ten single-use recovery codes.

The TOTP secret is a secret like any credential: it is sealed under the master key with AES-GCM,
bound to its user row and column, and appears in plaintext only on the enrolment page. A code is
accepted once: its time step is remembered and that step or an earlier one is refused afterwards
(RFC 6238 §5.2), so a code read over someone's shoulder cannot be replayed within its window.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

import pyotp
import segno
import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.user import RecoveryCode, User, new_session_epoch
from app.services import audit, crypto
from app.services.context import Actor
from app.services.errors import ValidationFailed

ISSUER = "Handover"
RECOVERY_CODES = 10
#: Codes one step either side of now are accepted (clock drift between phone and server).
VALID_WINDOW = 1
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without doubt


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret as text, the otpauth URI and its QR code as SVG."""

    secret: str
    uri: str
    qr_svg: str
    #: The secret sealed under the master key, bound to the user and their session epoch: kept
    #: by the caller (the session) until a code confirms it.
    pending: str = ""


def _aad(user: User, column: str) -> bytes:
    return crypto.associated_data("users", user.id, column)


def _open(user: User, column: str) -> str | None:
    envelope = getattr(user, column)
    return None if envelope is None else crypto.current_keyring().open(envelope, _aad(user, column))


def is_required(user: User, required_roles: frozenset[str]) -> bool:
    return user.role.value in required_roles


def _pending_aad(user: User) -> bytes:
    # Bound to the session epoch too: once every session is ended, a set-up key from before is void.
    return crypto.associated_data("users", user.id, f"totp_pending:{user.session_epoch}")


def _open_pending(user: User, pending: str | None) -> str | None:
    if not pending:
        return None
    try:
        return crypto.current_keyring().open(pending, _pending_aad(user))
    except (crypto.UndecryptableSecret, ValueError):
        return None  # another user's, from before a reset, or altered: start afresh


def start_enrolment(user: User, pending: str | None = None) -> Enrolment:
    """The set-up key to show: the one still ``pending`` (sealed, from an earlier view), or a new one.

    Nothing is stored, so opening the enrolment page writes nothing: the key travels sealed under
    the master key in ``Enrolment.pending`` (the web door keeps it in the session), and re-opening
    the page in the same session shows the same key, so a phone that already scanned it still works.
    """
    secret = _open_pending(user, pending)
    if secret is None:
        secret = pyotp.random_base32()
        pending = crypto.current_keyring().seal(secret, _pending_aad(user))
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="QR code")
    return Enrolment(secret=secret, uri=uri, qr_svg=buffer.getvalue().decode(), pending=pending or "")


def _step_matching(secret: str, code: str, after_step: int) -> int | None:
    """The time step whose code is ``code`` within the window and later than ``after_step``, or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(utcnow().timestamp() // totp.interval)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_enrolment(actor: Actor, user: User, code: str, pending: str | None) -> list[str]:
    """Turn two factors on with the ``pending`` secret (``Enrolment.pending``) if ``code`` matches;
    return the new recovery codes.

    Raises ValidationFailed for a wrong code (nothing changes) or when no enrolment was started.
    Other sessions are kept: ending them would let someone holding a stolen session lock the
    owner out by enrolling first (resetting two factors, which needs a code, does end them).
    """
    secret = _open_pending(user, pending)
    if secret is None:
        raise ValidationFailed(
            "Start again: open the two-factor page to get a new code to scan.", {"code": ["No set-up is in progress."]}
        )
    step = _step_matching(secret, code, after_step=0)
    if step is None:
        raise ValidationFailed(
            "Two factors were not turned on.",
            {"code": ["That code does not match. Check the phone's clock is right and type the code it shows now."]},
        )
    was_enabled = user.two_factor_enabled
    user.totp_secret = crypto.current_keyring().seal(secret, _aad(user, "totp_secret"))
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    db.session.flush()
    audit.record_event(
        actor,
        "user.two_factor_enrol",
        "user",
        user.id,
        f"{'Replaced' if was_enabled else 'Turned on'} two factors for {user.email}",
        {"two_factor": was_enabled},
        {"two_factor": True},
    )
    return codes


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
    return codes


def regenerate_recovery_codes(actor: Actor, user: User) -> list[str]:
    """Replace the recovery codes (the old ones stop working); returns the new ones to show once."""
    codes = _new_recovery_codes(user)
    db.session.flush()
    audit.record_event(actor, "user.recovery_codes", "user", user.id, f"New recovery codes for {user.email}")
    return codes


def unused_recovery_codes(user: User) -> int:
    return (
        db.session.scalar(sa.select(sa.func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0
    )


def verify(user: User, code: str) -> str | None:
    """Check a TOTP code or a recovery code; on success use it up and return "totp" or "recovery code".

    None for a wrong, reused or malformed code (nothing changes then). Raises nothing.
    """
    secret = _open(user, "totp_secret")
    if secret is None:
        return None
    if (step := _step_matching(secret, code, after_step=user.totp_last_step)) is not None:
        user.totp_last_step = step
        db.session.flush()
        return "totp"
    compact = "".join(code.split()).replace("-", "").lower()
    if len(compact) == 10:
        digest = _hash_code(compact)
        for row in db.session.scalars(
            sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ):
            if hmac.compare_digest(row.code_hash, digest):
                row.used_at = utcnow()
                db.session.flush()
                return "recovery code"
    return None


def reset(actor: Actor, user: User, reason: str) -> None:
    """Turn two factors off (lost phone, or starting over): the secret and recovery codes are
    deleted and every session of the user ends. A user whose role requires two factors is sent to
    enrolment at their next sign-in."""
    had = user.two_factor_enabled
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = 0
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(
        actor,
        "user.two_factor_reset",
        "user",
        user.id,
        f"Reset two factors for {user.email}: {reason}",
        {"two_factor": had},
        {"two_factor": False},
    )
