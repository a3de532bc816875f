"""The catalogue of platforms an organisation has pages and accounts on."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, Versioned


class Platform(Timestamped, Versioned, Base):
    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    #: Role names on this platform, top role first (e.g. YouTube: owner, manager, editor).
    role_names: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: Whether the platform lets each person have their own role instead of sharing one login.
    delegated_access: Mapped[bool] = mapped_column(default=False)
    #: What "owner" means on this platform, shown beside the owner field.
    owner_hint: Mapped[str] = mapped_column(sa.Text, default="")
    #: Default number of days between credential rotations for accounts on this platform.
    rotation_days: Mapped[int] = mapped_column(default=365)

    @property
    def top_role(self) -> str:
        return self.role_names[0] if self.role_names else "owner"

    def __str__(self) -> str:
        return self.name
