"""API tokens: how the JSON API, SCIM and HR systems prove who they are."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Scope(enum.Enum):
    REGISTRY_READ = "registry:read"
    REGISTRY_WRITE = "registry:write"
    PEOPLE_WRITE = "people:write"
    OFFBOARDING_WRITE = "offboarding:write"
    SCIM = "scim"

    @property
    def description(self) -> str:
        return {
            "registry:read": "Read people, departments, profiles, accounts, findings and offboarding cases",
            "registry:write": "Create and change profiles and accounts, their admins, recovery contacts and connections",
            "people:write": "Create and change people and departments",
            "offboarding:write": "Start offboarding cases and complete checklist items that need no secret",
            "scim": "Provision and deprovision people from an identity provider (SCIM 2.0)",
        }[self.value]


class ApiToken(Base):
    """A bearer token. Only a digest of its secret is kept; the prefix finds the row without a scan."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: The token's public part ("hov_<prefix>_…"): shown in lists, and how a presented token is looked up.
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    #: sha256 of the whole token (the token is 256 random bits: a slow hash adds nothing).
    digest: Mapped[str] = mapped_column(sa.String(64))
    #: Scope values, e.g. ["registry:read", "scim"].
    scopes: Mapped[list[Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str] = mapped_column(sa.String(254))
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    last_used_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column()

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in (self.scopes or [])

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= utcnow():
            return "expired"
        return "active"
