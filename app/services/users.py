"""Handover sign-ins: creating and inviting them, passwords and reset links, roles, ending sessions.

Every change here is audited in the same transaction and ends the sessions it must (the user's
``session_epoch`` is part of every session id, so a new epoch refuses every earlier cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.models.person import Person, PersonStatus
from app.models.user import LinkPurpose, Role, SignInLink, User, new_session_epoch
from app.services import audit, mail
from app.services.context import Actor
from app.services.errors import DomainError, NotFound, ValidationFailed
from app.services.pagination import Page, paginate

#: Enough of an email address to send to; the mail server has the last word.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: argon2id at RFC 9106's second recommended option (the library's default): 64 MiB, three passes.
PASSWORD_HASHING = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_HASHING)
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
    user = User(email=email, password_hash=hash_password(password), role=role, person_id=person_id, password_changed_at=utcnow())
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


def _password_matches(user: User | None, password: str) -> bool:
    """One argon2 verification whatever the outcome (against a dummy hash when there is no user or
    no password), so a wrong email costs as long as a wrong password."""
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Rehashes outdated argon2 parameters."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if not _password_matches(user, password) or user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def confirm_password(user_id: int, password: str) -> bool:
    """Whether ``password`` is the current password of this active sign-in (re-authentication before a reveal).

    Costs one argon2 verification whatever the outcome, like ``authenticate``; changes nothing.
    """
    user = db.session.get(User, user_id)
    return _password_matches(user, password) and user is not None and user.active


# --- Ending sessions, roles, deactivation ---------------------------------------------------


def end_sessions(actor: Actor, user: User, reason: str) -> None:
    """End every session of ``user`` at once: the next request with any old cookie is refused."""
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(actor, "user.sessions_end", "user", user.id, f"Ended every session of {user.email}: {reason}")


def _active_admins_besides(user: User) -> int:
    return (
        db.session.scalar(sa.select(sa.func.count()).where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
        or 0
    )


def _keep_an_admin(user: User, what: str) -> None:
    if user.role is Role.ADMIN and user.active and _active_admins_besides(user) == 0:
        raise ValidationFailed(
            f"{user.email} is the last active admin: {what} would leave nobody able to manage sign-ins. "
            "Make someone else an admin first."
        )


def change_role(actor: Actor, user: User, role: Role) -> None:
    """Give ``user`` another role and end their sessions (their rights changed under them).

    Raises ValidationFailed when the role is the same or when it would demote the last active admin.
    """
    if role is user.role:
        raise ValidationFailed(f"{user.email} is already {role.label}; nothing changed.", {"role": ["Choose a different role."]})
    if role is not Role.ADMIN:
        _keep_an_admin(user, "taking away their admin role")
    before = user.role
    user.role = role
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(
        actor,
        "user.role_change",
        "user",
        user.id,
        f"Changed the role of {user.email} from {before.label} to {role.label}",
        {"role": before.value},
        {"role": role.value},
    )


def deactivate_user(actor: Actor, user: User, reason: str) -> None:
    """Stop a sign-in and end its sessions at once. Raises ValidationFailed for the last active admin."""
    if not user.active:
        raise ValidationFailed(f"{user.email} is already deactivated.")
    _keep_an_admin(user, "deactivating them")
    user.active = False
    user.session_epoch = new_session_epoch()
    for link in _open_links(user):
        link.cancelled_at = utcnow()
    db.session.flush()
    audit.record_event(
        actor, "user.deactivate", "user", user.id, f"Deactivated {user.email}: {reason}", {"active": True}, {"active": False}
    )


def reactivate_user(actor: Actor, user: User, reason: str) -> None:
    """Let a deactivated sign-in in again. Raises ValidationFailed when the person has departed
    (offboarding stopped this sign-in; an admin must not undo it by accident) or it is active."""
    if user.active:
        raise ValidationFailed(f"{user.email} is already active.")
    if user.person is not None and user.person.status is PersonStatus.DEPARTED:
        raise ValidationFailed(
            f"{user.person.name} has departed: their sign-in was stopped by offboarding. "
            "Invite them again under a new email if they come back."
        )
    user.active = True
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(
        actor, "user.reactivate", "user", user.id, f"Reactivated {user.email}: {reason}", {"active": False}, {"active": True}
    )


# --- Passwords ------------------------------------------------------------------------------


def _set_password(user: User, password: str) -> None:
    if problems := check_password_strength(password):
        raise ValidationFailed("The password was not changed.", {"password": problems})
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.session_epoch = new_session_epoch()


def change_password(actor: Actor, user: User, current: str, new: str) -> None:
    """Change one's own password; every session of the user ends (the caller signs the current one in again).

    Raises ValidationFailed for a wrong current password or a weak new one; nothing changes then.
    """
    if user.has_password and not confirm_password(user.id, current):
        raise ValidationFailed("The password was not changed.", {"current_password": ["That is not your current password."]})
    if user.has_password and current == new:
        raise ValidationFailed("The password was not changed.", {"password": ["Choose a password you have not been using."]})
    _set_password(user, new)
    db.session.flush()
    audit.record_event(actor, "user.password_change", "user", user.id, f"{user.email} changed their password")


# --- Invitation and reset links ---------------------------------------------------------------


class LinkInvalid(DomainError):
    """A link that cannot be used: altered, expired, used, cancelled, or for a stopped sign-in."""

    status = 400


def _serializer(purpose: LinkPurpose) -> URLSafeSerializer:
    from flask import current_app

    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"handover-sign-in-link-{purpose.value}")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _open_links(user: User, purpose: LinkPurpose | None = None) -> list[SignInLink]:
    stmt = sa.select(SignInLink).where(
        SignInLink.user_id == user.id, SignInLink.used_at.is_(None), SignInLink.cancelled_at.is_(None)
    )
    if purpose is not None:
        stmt = stmt.where(SignInLink.purpose == purpose)
    return list(db.session.scalars(stmt))


def _new_link(user: User, purpose: LinkPurpose, lifetime: timedelta) -> str:
    """Cancel the user's earlier links of this purpose and make a new one; returns the token for the URL."""
    for old in _open_links(user, purpose):
        old.cancelled_at = utcnow()
    secret = secrets.token_urlsafe(32)
    link = SignInLink(user_id=user.id, purpose=purpose, digest=_digest(secret), expires_at=utcnow() + lifetime)
    db.session.add(link)
    db.session.flush()
    # Signed, so a link altered by one character is told apart from an unknown one without a lookup.
    return _serializer(purpose).dumps([link.id, secret])


def open_link(token: str, purpose: LinkPurpose) -> SignInLink:
    """The link a token stands for, if it can still be used. Changes nothing.

    Raises LinkInvalid with a message that says what to do.
    """
    ask = (
        "Ask an admin to send a new invitation."
        if purpose is LinkPurpose.INVITE
        else "Ask for a new link on the “Forgotten password” page."
    )
    try:
        link_id, secret = _serializer(purpose).loads(token)
        link = db.session.get(SignInLink, int(link_id))
    except (BadSignature, ValueError, TypeError):
        link = None
        secret = ""
    if link is None or link.purpose is not purpose or not hmac.compare_digest(link.digest, _digest(str(secret))):
        raise LinkInvalid(f"This link is not valid: it may have been copied incompletely or changed. {ask}")
    # Before "cancelled": deactivating a sign-in also cancels its links, and asking for a new link would not help.
    if not link.user.active:
        if purpose is LinkPurpose.INVITE and link.user.invitation_pending:
            raise LinkInvalid(f"This invitation was cancelled. {ask}")
        raise LinkInvalid("This sign-in has been deactivated, so its links no longer work. If that is a mistake, ask an admin.")
    if link.used_at is not None:
        raise LinkInvalid(f"This link has already been used; each link works once. {ask}")
    if link.cancelled_at is not None:
        raise LinkInvalid(f"This link was replaced or cancelled. Use the newest email you received, or: {ask}")
    if link.expires_at <= utcnow():
        raise LinkInvalid(f"This link has expired. {ask}")
    return link


def _link_url(base_url: str, endpoint_path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{endpoint_path}/{token}"


def invite_user(actor: Actor, email: str, role: Role, person_id: int | None, base_url: str, hours: int = 72) -> tuple[User, str]:
    """Create a sign-in without a password and email its holder a single-use link to set one.

    Returns the user and the link (for the CLI when email is switched off). The email goes out
    only if the transaction commits. Raises ValidationFailed for a bad or taken email, an unknown
    person, or a person who already has a sign-in.
    """
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL.match(email):
        errors["email"] = ["Give an email address, like name@example.org."]
    elif (existing := db.session.scalar(sa.select(User).where(User.email == email))) is not None:
        hint = " Resend the invitation from the users page instead." if existing.invitation_pending else ""
        errors["email"] = [f"{email} already has a sign-in.{hint}"]
    person = None
    if person_id is not None:
        person = db.session.get(Person, person_id)
        if person is None:
            errors["person_id"] = ["That person does not exist."]
        elif person.status is PersonStatus.DEPARTED:
            errors["person_id"] = [f"{person.name} has departed."]
        elif db.session.scalar(sa.select(User.email).where(User.person_id == person_id, User.active.is_(True))):
            errors["person_id"] = [f"{person.name} already has an active sign-in."]
    if errors:
        raise ValidationFailed("Nobody was invited.", errors)
    user = User(email=email, password_hash=None, role=role, person=person, invited_at=utcnow())
    db.session.add(user)
    db.session.flush()
    link = _send_invitation(actor, user, base_url, hours)
    audit.record_event(
        actor,
        "user.invite",
        "user",
        user.id,
        f"Invited {email} as {role.label}",
        None,
        {"email": email, "role": role.value, "person_id": person_id},
    )
    return user, link


def _send_invitation(actor: Actor, user: User, base_url: str, hours: int) -> str:
    token = _new_link(user, LinkPurpose.INVITE, timedelta(hours=hours))
    url = _link_url(base_url, "invite", token)
    mail.queue(
        user.email,
        "You are invited to Handover",
        f"{actor.name} invited you to Handover, the register of which online accounts the organisation "
        f"depends on and who controls them. You will sign in as {user.role.label}.\n\n"
        f"Open this link to choose your password (it works once, for {hours} hours):\n\n{url}\n\n"
        "If you were not expecting this, ignore this email: nothing happens unless the link is used.\n",
    )
    return url


def resend_invitation(actor: Actor, user: User, base_url: str, hours: int = 72) -> str:
    """Send a new invitation link; earlier links stop working. Raises ValidationFailed once accepted."""
    if not user.invitation_pending or not user.active:
        raise ValidationFailed(f"{user.email} has no pending invitation to resend.")
    url = _send_invitation(actor, user, base_url, hours)
    audit.record_event(actor, "user.invite_resend", "user", user.id, f"Sent {user.email} a new invitation link")
    return url


def cancel_invitation(actor: Actor, user: User) -> None:
    """Withdraw a pending invitation: its links stop working and the sign-in is deactivated."""
    if not user.invitation_pending or not user.active:
        raise ValidationFailed(f"{user.email} has no pending invitation to cancel.")
    user.active = False
    user.session_epoch = new_session_epoch()
    for link in _open_links(user):
        link.cancelled_at = utcnow()
    db.session.flush()
    audit.record_event(
        actor,
        "user.invite_cancel",
        "user",
        user.id,
        f"Cancelled the invitation of {user.email}",
        {"active": True},
        {"active": False},
    )


def use_up_invitation(user: User) -> None:
    """Mark the invitation accepted and its links used (a password set, or a first single sign-on)."""
    user.accepted_at = user.accepted_at or utcnow()
    for link in _open_links(user, LinkPurpose.INVITE):
        link.used_at = utcnow()
    db.session.flush()


def accept_invitation(link: SignInLink, password: str, remote_addr: str = "") -> User:
    """Use an invitation link (from :func:`open_link`): set the password, use the link up.
    Raises ValidationFailed for a weak password (nothing changes then)."""
    user = link.user
    _set_password(user, password)
    use_up_invitation(user)
    audit.record_event(
        Actor.for_user(user, remote_addr=remote_addr),
        "user.invite_accept",
        "user",
        user.id,
        f"{user.email} accepted their invitation and set a password",
    )
    return user


def request_password_reset(email: str, base_url: str, minutes: int = 30, remote_addr: str = "") -> None:
    """Email a reset link if ``email`` belongs to an active sign-in that may use a password.

    Says nothing either way (the caller answers the same whatever happened), raises nothing.
    """
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        return
    token = _new_link(user, LinkPurpose.RESET, timedelta(minutes=minutes))
    url = _link_url(base_url, "login/reset", token)
    mail.queue(
        user.email,
        "Reset your Handover password",
        "Someone (we hope you) asked to reset the password of your Handover sign-in.\n\n"
        f"Open this link to choose a new password (it works once, for {minutes} minutes):\n\n{url}\n\n"
        "Using it signs you out everywhere. If you did not ask for this, ignore this email: "
        "your password stays as it is.\n",
    )
    audit.record_event(
        Actor(user_id=None, name="password reset form", role=None, remote_addr=remote_addr),
        "user.password_reset_request",
        "user",
        user.id,
        f"A password reset link was sent to {user.email}",
    )


def reset_password(link: SignInLink, password: str, remote_addr: str = "") -> User:
    """Use a reset link (from :func:`open_link`): set the new password, end every session, use the
    link up (and any other reset link of the user). Raises ValidationFailed (nothing changes then)."""
    user = link.user
    _set_password(user, password)
    link.used_at = utcnow()
    for other in _open_links(user, LinkPurpose.RESET):
        other.cancelled_at = utcnow()
    db.session.flush()
    audit.record_event(
        Actor.for_user(user, remote_addr=remote_addr),
        "user.password_reset",
        "user",
        user.id,
        f"{user.email} set a new password with a reset link; every session ended",
    )
    return user


# --- Sign-in events -----------------------------------------------------------------------


def record_sign_in(user: User, method: str, remote_addr: str, request_id: str = "") -> None:
    """Note a successful sign-in (audit event, last sign-in time and address)."""
    user.last_login_at = utcnow()
    user.last_login_addr = remote_addr[:64]
    db.session.flush()
    audit.record_event(
        Actor.for_user(user, request_id=request_id, remote_addr=remote_addr),
        "auth.sign_in",
        "user",
        user.id,
        f"{user.email} signed in ({method})",
        None,
        {"method": method},
    )


def record_failed_sign_in(email: str, reason: str, remote_addr: str, request_id: str = "") -> None:
    """Note a refused sign-in (never with the password typed)."""
    email = email.strip().lower()[:254]
    user = db.session.scalar(sa.select(User).where(User.email == email))
    audit.record_event(
        Actor(user_id=None, name=email or "unknown", role=None, request_id=request_id, remote_addr=remote_addr),
        "auth.sign_in_failed",
        "user",
        user.id if user else None,
        f"Refused a sign-in as {email or '(no email)'}: {reason}",
    )


def record_sign_out(user: User, remote_addr: str, request_id: str = "") -> None:
    user.session_epoch = new_session_epoch()
    db.session.flush()
    audit.record_event(
        Actor.for_user(user, request_id=request_id, remote_addr=remote_addr),
        "auth.sign_out",
        "user",
        user.id,
        f"{user.email} signed out",
    )


def recent_sign_ins(user: User, limit: int = 10) -> list[AuditEvent]:
    """The newest successful sign-ins of ``user``, newest first (when, from which address, how)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == user.id, AuditEvent.action == "auth.sign_in")
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


# --- The users page -------------------------------------------------------------------------


@dataclass
class UserFilters:
    q: str = ""
    role: Role | None = None
    #: "active", "invited", "deactivated" or "" for all.
    status: str = ""

    @property
    def active(self) -> bool:
        return bool(self.q or self.role or self.status)


def list_users(filters: UserFilters, page: int = 1, per_page: int = 25) -> Page[User]:
    """A page of sign-ins, by email, with their person loaded."""
    stmt = sa.select(User).outerjoin(Person, User.person_id == Person.id).options(joinedload(User.person))
    if text := filters.q.strip().lower():
        stmt = stmt.where(
            sa.or_(User.email.contains(text, autoescape=True), sa.func.lower(Person.name).contains(text, autoescape=True))
        )
    if filters.role is not None:
        stmt = stmt.where(User.role == filters.role)
    if filters.status == "active":
        stmt = stmt.where(User.active.is_(True), sa.or_(User.invited_at.is_(None), User.accepted_at.is_not(None)))
    elif filters.status == "invited":
        stmt = stmt.where(User.active.is_(True), User.invited_at.is_not(None), User.accepted_at.is_(None))
    elif filters.status == "deactivated":
        stmt = stmt.where(User.active.is_(False))
    return paginate(stmt.order_by(User.email), page, per_page)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such sign-in.")
    return user
