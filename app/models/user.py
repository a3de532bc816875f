"""Handover sign-ins and their roles."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, enum_column, utcnow

if TYPE_CHECKING:
    from app.models.person import Person


class Role(enum.Enum):
    ADMIN = "admin"
    DIRECTOR = "director"
    HR = "hr"
    IT = "it"
    STAFF = "staff"

    @property
    def label(self) -> str:
        return {"admin": "Admin", "director": "Director", "hr": "HR", "it": "IT", "staff": "Staff"}[self.value]


def new_session_epoch() -> str:
    return secrets.token_hex(8)


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: argon2id PHC string; None until an invited person sets a password (or for single sign-on only).
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[Role] = enum_column(Role)
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: Part of the session id: changing it ends every session of this user (deactivation, password change).
    session_epoch: Mapped[str] = mapped_column(sa.String(32), default=new_session_epoch)
    last_login_at: Mapped[datetime | None] = mapped_column()
    #: Address of the last successful sign-in (for the users page).
    last_login_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    password_changed_at: Mapped[datetime | None] = mapped_column()
    #: When an admin invited this sign-in (None for the first admin and the demo).
    invited_at: Mapped[datetime | None] = mapped_column()
    #: When the invitation was accepted (a password set, or a first single sign-on).
    accepted_at: Mapped[datetime | None] = mapped_column()
    #: The identity provider's ``iss`` and ``sub`` ("<issuer> <subject>") once this sign-in used single sign-on.
    sso_subject: Mapped[str | None] = mapped_column(sa.String(512), unique=True)
    #: The TOTP secret, sealed under the master key like a credential note (AES-GCM bound to this row).
    totp_secret: Mapped[str | None] = mapped_column(sa.Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column()
    #: The TOTP time step of the last accepted code: a code of that step or earlier is refused (RFC 6238 §5.2).
    totp_last_step: Mapped[int] = mapped_column(default=0)

    person: Mapped[Person | None] = relationship()
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Flask-Login's user protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def display_name(self) -> str:
        return self.person.name if self.person else self.email

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_secret is not None

    @property
    def invitation_pending(self) -> bool:
        """Invited, and has neither set a password nor signed in with single sign-on yet."""
        return self.invited_at is not None and self.accepted_at is None

    @property
    def sign_in_method(self) -> str:
        if self.sso_subject and self.password_hash:
            return "SSO and password"
        if self.sso_subject:
            return "SSO"
        return "Password" if self.password_hash else "Not set up"


class RecoveryCode(Base):
    """One of the ten single-use codes that stand in for a lost authenticator."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: sha256 of the code (the codes are random, 50 bits each: a slow hash adds nothing but cost).
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class LinkPurpose(enum.Enum):
    INVITE = "invite"
    RESET = "reset"


class SignInLink(Base):
    """A single-use link sent by email: an invitation (72 h) or a password reset (30 min).

    Only a digest of the link's secret is kept: the database alone cannot make a working link.
    """

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[LinkPurpose] = enum_column(LinkPurpose)
    #: sha256 of the secret part of the link.
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()


class AuthAttempt(Base):
    """A counted attempt (a failed sign-in, a reset request, a wrong code), kept in the database so
    every worker process sees the same count. Rows older than the longest window are pruned."""

    __tablename__ = "auth_attempts"
    __table_args__ = (sa.Index("ix_auth_attempts_key_at", "key", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What is counted: "sign-in:account:<email>", "sign-in:address:<ip>", "totp:user:<id>", …
    key: Mapped[str] = mapped_column(sa.String(300))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
