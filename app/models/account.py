"""Institutional pages and accounts, with the roles and contacts that control them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column, utcnow
from app.models.search_index import SearchIndex

if TYPE_CHECKING:
    from app.models.person import Department, Person
    from app.models.platform import Platform
    from app.models.profile import Profile


class AccountStatus(enum.Enum):
    ACTIVE = "active"
    DORMANT = "dormant"
    RETIRED = "retired"


class RecoveryKind(enum.Enum):
    EMAIL = "email"
    PHONE = "phone"
    BACKUP_CODES_HOLDER = "backup_codes_holder"
    TRUSTED_CONTACT = "trusted_contact"

    @property
    def label(self) -> str:
        return {
            "email": "Email",
            "phone": "Phone",
            "backup_codes_holder": "Backup-codes holder",
            "trusted_contact": "Trusted contact",
        }[self.value]


class Account(Timestamped, Versioned, Base):
    __tablename__ = "accounts"
    # The accounts list filtered by one of these, in name order (the default sort): the index
    # gives the page's rows in order, so the first page costs the same at any registry size.
    __table_args__ = (
        sa.Index("ix_accounts_status_name", "status", "name"),
        sa.Index("ix_accounts_platform_id_name", "platform_id", "name"),
        sa.Index("ix_accounts_department_id_name", "department_id", "name"),
        # A status filter's count reads this index alone, owner kind checked by the profile's key:
        # dormant accounts with a personal owner counted to 1,000 at 200,000 accounts in 0.4 ms, not 11.
        sa.Index("ix_accounts_status_owner", "status", "owner_profile_id"),
        # A platform's or a department's live accounts counted from these alone (platforms and
        # departments lists, their pages); they also serve every lookup by platform or department.
        sa.Index("ix_accounts_platform_id_status", "platform_id", "status"),
        sa.Index("ix_accounts_department_id_status", "department_id", "status"),
        # The list sorted by status or by last change: each read in order from its index (200,000
        # accounts: 830 and 485 ms sorting every row; 0.1 ms). The id is the status sort's tie
        # order: SQLite's index holds it anyway (the rowid), PostgreSQL's only when named (without
        # it, sorting by status sorted every account of the first status: 55 ms at 200,000).
        sa.Index("ix_accounts_status_id", "status", "id"),
        sa.Index("ix_accounts_updated_at", "updated_at"),
        # Sorted by platform: the platforms read in name order, each one's accounts in id order
        # from this (200,000 accounts: 546 ms sorting every row with what the list shows; 0.1 ms).
        sa.Index("ix_accounts_platform_id_id", "platform_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(sa.ForeignKey("platforms.id"))
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    #: Handle on the platform (e.g. @riversidelib); searched together with name and URL.
    handle: Mapped[str] = mapped_column(sa.String(200), default="", index=True)
    url: Mapped[str] = mapped_column(sa.String(500), default="")
    purpose: Mapped[str] = mapped_column(sa.Text, default="")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id", ondelete="SET NULL"))
    status: Mapped[AccountStatus] = enum_column(AccountStatus, default=AccountStatus.ACTIVE)
    #: The profile holding the platform's top role.
    owner_profile_id: Mapped[int | None] = mapped_column(sa.ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    #: The person accountable for the account.
    steward_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: The account is signed into with its own username and password (not only through profiles' roles).
    has_own_login: Mapped[bool] = mapped_column(default=False)
    #: Indexed: a new day's findings are caught up from the reviews that lapsed overnight alone.
    last_reviewed_at: Mapped[datetime | None] = mapped_column(index=True)
    retired_at: Mapped[datetime | None] = mapped_column()

    platform: Mapped[Platform] = relationship()
    department: Mapped[Department | None] = relationship()
    owner_profile: Mapped[Profile | None] = relationship()
    steward: Mapped[Person | None] = relationship()
    admins: Mapped[list[AccountAdmin]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountAdmin.id"
    )
    recovery_contacts: Mapped[list[RecoveryContact]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="RecoveryContact.id"
    )
    connections: Mapped[list[Connection]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="Connection.id"
    )

    @property
    def is_retired(self) -> bool:
        return self.status is AccountStatus.RETIRED

    def __str__(self) -> str:
        return self.name


class AccountAdmin(Base):
    """A profile holding a role on an account (NetBox's ContactAssignment: role assignments as rows)."""

    __tablename__ = "account_admins"
    __table_args__ = (sa.UniqueConstraint("account_id", "profile_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    role_name: Mapped[str] = mapped_column(sa.String(60))
    since: Mapped[date | None] = mapped_column(sa.Date)

    account: Mapped[Account] = relationship(back_populates="admins")
    profile: Mapped[Profile] = relationship()


class RecoveryContact(Base):
    """Where a password reset or a locked-out recovery would go."""

    __tablename__ = "recovery_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RecoveryKind] = enum_column(RecoveryKind)
    #: The address, number or description of the contact.
    value: Mapped[str] = mapped_column(sa.String(254))
    #: Set when the contact is tied to one person; empty means institutional.
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    last_verified_at: Mapped[datetime | None] = mapped_column()

    account: Mapped[Account] = relationship(back_populates="recovery_contacts")
    person: Mapped[Person | None] = relationship()

    @property
    def is_institutional(self) -> bool:
        return self.person_id is None


class Connection(Base):
    """A third-party tool authorised through a profile's login; breaks when that profile loses its role."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    tool_name: Mapped[str] = mapped_column(sa.String(120))
    purpose: Mapped[str] = mapped_column(sa.String(300), default="")
    #: The profile whose login authorised the tool.
    profile_id: Mapped[int | None] = mapped_column(sa.ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    authorised_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="connections")
    profile: Mapped[Profile | None] = relationship()


# --- The accounts' search index -----------------------------------------------------------------
#
# Name, handle and URL (app/models/search_index.py): on SQLite a trigram full-text table kept by
# triggers, on PostgreSQL trigram indexes (a rare term read its few matches instead of every
# account: 170 ms at 200,000 accounts without them).

ACCOUNT_SEARCH = SearchIndex("accounts", ("name", "handle", "url"))
ACCOUNT_SEARCH.attach(Account.__table__)
