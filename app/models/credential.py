"""Credential notes: secrets kept encrypted, with their versions and every reveal."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column, utcnow

if TYPE_CHECKING:
    from app.models.account import Account
    from app.models.person import Person
    from app.models.profile import Profile


class CredentialKind(enum.Enum):
    PASSWORD = "password"  # noqa: S105 (an enum value, not a secret)
    BACKUP_CODES = "backup_codes"
    API_KEY = "api_key"
    NOTE = "note"

    @property
    def label(self) -> str:
        return {"password": "Password", "backup_codes": "2FA backup codes", "api_key": "API key", "note": "Free note"}[self.value]


class CredentialNote(Timestamped, Versioned, Base):
    """A secret on an account, or on a persona or shared-login profile (exactly one of the two)."""

    __tablename__ = "credential_notes"
    # AUTOINCREMENT: SQLite must never reuse a deleted row's id, or an old ciphertext (bound to
    # its row id) would open on the new row.
    __table_args__ = (
        sa.CheckConstraint("(account_id IS NULL) <> (profile_id IS NULL)", name="one_holder"),
        # One platform's rotation queue in due order, however many notes the others have.
        sa.Index("ix_credential_notes_platform_due", "platform_id", "due_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int | None] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[CredentialKind] = enum_column(CredentialKind)
    #: AES-GCM envelope ``hv1:<key id>:<nonce ‖ ciphertext ‖ tag>``, bound to this row and column.
    secret: Mapped[str] = mapped_column(sa.Text)
    #: The master key that sealed ``secret`` (also inside the envelope; kept here to query by key).
    key_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Days between rotations; empty means the platform's default.
    rotation_days: Mapped[int | None] = mapped_column()
    #: ``rotated_at`` plus the interval in force: kept so "due" and "overdue" are simple queries.
    due_at: Mapped[datetime] = mapped_column(index=True)
    #: The platform of its account, or of its profile: kept (app.services.credentials.follow_platform)
    #: so the rotation queue of one platform reads that platform's notes in due order.
    platform_id: Mapped[int | None] = mapped_column()

    account: Mapped[Account | None] = relationship()
    profile: Mapped[Profile | None] = relationship()
    versions: Mapped[list[CredentialVersion]] = relationship(
        back_populates="note", cascade="all, delete-orphan", order_by="CredentialVersion.id.desc()"
    )
    reveals: Mapped[list[CredentialReveal]] = relationship(
        back_populates="note", cascade="all, delete-orphan", order_by="CredentialReveal.id.desc()"
    )

    @property
    def holder_label(self) -> str:
        return self.account.name if self.account is not None else (self.profile.label if self.profile else "—")


class CredentialVersion(Base):
    """A previous value, kept encrypted and read-only until ``expires_at`` so a failed change can be undone."""

    __tablename__ = "credential_versions"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (see CredentialNote)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(sa.ForeignKey("credential_notes.id", ondelete="CASCADE"), index=True)
    #: Envelope bound to this row of credential_versions.
    secret: Mapped[str] = mapped_column(sa.Text)
    key_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: When this value stopped being the current one.
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_by: Mapped[str] = mapped_column(sa.String(254), default="")
    expires_at: Mapped[datetime] = mapped_column(index=True)

    note: Mapped[CredentialNote] = relationship(back_populates="versions")


class CredentialReveal(Base):
    """One reveal: who saw the secret, when, why and from where. Written before the value is shown."""

    __tablename__ = "credential_reveals"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(sa.ForeignKey("credential_notes.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: The person behind the sign-in: if they leave, the note must be rotated.
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    actor_name: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[str] = mapped_column(sa.Text)
    remote_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    revealed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    note: Mapped[CredentialNote] = relationship(back_populates="reveals")
    person: Mapped[Person | None] = relationship()


class MasterKeyCheck(Base):
    """A known value sealed under each master key: proves at start-up that the key configured under
    an id is the key that sealed the data (a wrong key is refused before anything is read)."""

    __tablename__ = "master_key_checks"

    key_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    check: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
