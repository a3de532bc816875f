"""Identities on platforms: who or what actually signs in."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column, utcnow
from app.models.search_index import SearchIndex

if TYPE_CHECKING:
    from app.models.person import Person
    from app.models.platform import Platform


class ProfileKind(enum.Enum):
    PERSONAL = "personal"
    PERSONA = "persona"
    SHARED_LOGIN = "shared_login"
    ORGANISATION = "organisation"

    @property
    def label(self) -> str:
        return {
            "personal": "Personal",
            "persona": "Persona",
            "shared_login": "Shared login",
            "organisation": "Organisation",
        }[self.value]

    @property
    def has_custodians(self) -> bool:
        return self in (ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN)


def profile_label(name: str, handle: str) -> str:
    """How a profile is named on the pages: its name, and its handle when that says more."""
    return f"{name} ({handle})" if handle and handle != name else name


class ProfileCustodian(Base):
    """A person who keeps a persona or shared-login profile (knows how to sign in as it)."""

    __tablename__ = "profile_custodians"
    __table_args__ = (sa.UniqueConstraint("profile_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)

    profile: Mapped[Profile] = relationship(back_populates="custodian_links")
    person: Mapped[Person] = relationship()


class Profile(Timestamped, Versioned, Base):
    __tablename__ = "profiles"
    # The profiles list in name order: its first page read from the index, not all profiles sorted.
    __table_args__ = (sa.Index("ix_profiles_name_id", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(sa.ForeignKey("platforms.id"), index=True)
    kind: Mapped[ProfileKind] = enum_column(ProfileKind, index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Handle or sign-in name on the platform (e.g. @jo_reads, reference@riverside.example).
    handle: Mapped[str] = mapped_column(sa.String(200), default="")
    #: For a personal profile: the one person it belongs to.
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: The address the profile signed up with (a team mailbox, a personal inbox...).
    signup_email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: The person speaks for the organisation from this personal profile (followers attach to them).
    speaks_for_organisation: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    platform: Mapped[Platform] = relationship()
    holder: Mapped[Person | None] = relationship(back_populates="profiles", foreign_keys=[holder_id])
    custodian_links: Mapped[list[ProfileCustodian]] = relationship(
        back_populates="profile", cascade="all, delete-orphan", order_by="ProfileCustodian.id"
    )

    @property
    def custodians(self) -> list[Person]:
        return [link.person for link in self.custodian_links]

    @property
    def label(self) -> str:
        return profile_label(self.name, self.handle)

    def __str__(self) -> str:
        return self.label


# The profiles' search index (app/models/search_index.py): name and handle, as the profiles list
# and the global search search them (a scan of 32,000 profiles: 8 ms).
PROFILE_SEARCH = SearchIndex("profiles", ("name", "handle"))
PROFILE_SEARCH.attach(Profile.__table__)
