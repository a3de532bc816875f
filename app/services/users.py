"""Handover sign-ins: creating them, checking passwords, ending sessions."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.extensions import db
from app.models.base import utcnow
from app.models.person import Person
from app.models.user import Role, User, new_session_epoch
from app.services import audit
from app.services.context import Actor
from app.services.errors import ValidationFailed

#: argon2id with the library's defaults (RFC 9106 second recommended option).
_hasher = PasswordHasher()
#: Hash compared against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("handover-timing-equaliser")

MIN_PASSWORD_LENGTH = 12


def any_users() -> bool:
    """Whether anyone can sign in yet (a fresh installation has no sign-ins)."""
    return db.session.scalar(sa.select(User.id).limit(1)) is not None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters; a few words strung together work well.")
    if len(password) > 256:
        problems.append("Use at most 256 characters.")
    return problems


def create_user(actor: Actor, email: str, password: str, role: Role, person_id: int | None = None) -> User:
    """Create a sign-in. Raises ValidationFailed for a taken email, a weak password or an unknown person."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not email or "@" not in email:
        errors["email"] = ["Give an email address."]
    elif db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        errors["email"] = [f"{email} already has a sign-in."]
    if problems := check_password_strength(password):
        errors["password"] = problems
    if person_id is not None and db.session.get(Person, person_id) is None:
        errors["person_id"] = ["That person does not exist."]
    if errors:
        raise ValidationFailed("The sign-in was not created.", errors)
    user = User(email=email, password_hash=hash_password(password), role=role, person_id=person_id)
    db.session.add(user)
    db.session.flush()
    audit.record_event(
        actor,
        "user.create",
        "user",
        user.id,
        f"Created sign-in {email} ({role.label})",
        None,
        {"email": email, "role": role.value},
    )
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Rehashes outdated argon2 parameters."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def confirm_password(user_id: int, password: str) -> bool:
    """Whether ``password`` is the current password of this active sign-in (re-authentication before a reveal).

    Costs one argon2 verification whatever the outcome, like ``authenticate``; changes nothing.
    """
    user = db.session.get(User, user_id)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return user is not None and user.active


def deactivate_user(actor: Actor, user: User, reason: str) -> None:
    """Stop a sign-in and end its sessions at once."""
    user.active = False
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(
        actor, "user.deactivate", "user", user.id, f"Deactivated {user.email}: {reason}", {"active": True}, {"active": False}
    )
