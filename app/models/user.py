"""Handover sign-ins and their roles."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, enum_column

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
    #: argon2id PHC string.
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = enum_column(Role)
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: Part of the session id: changing it ends every session of this user (deactivation, password change).
    session_epoch: Mapped[str] = mapped_column(sa.String(32), default=new_session_epoch)
    last_login_at: Mapped[datetime | None] = mapped_column()

    person: Mapped[Person | None] = relationship()

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
