"""Institutional pages and accounts, with the roles and contacts that control them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column, utcnow

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
        # accounts: 830 and 485 ms sorting every row; 0.1 ms).
        sa.Index("ix_accounts_status", "status"),
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


# --- The accounts' search index (SQLite) ------------------------------------------------------
#
# A trigram full-text index over name, handle and URL, kept by triggers: a search for any
# substring of three characters or more reads the matching rows from it instead of scanning every
# account. PostgreSQL searches the table itself. A migration that rebuilds the accounts table
# (batch mode copies it) drops the triggers: such a migration must run ACCOUNT_SEARCH_DDL again.

ACCOUNT_SEARCH_TABLE = "accounts_search"
ACCOUNT_SEARCH_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS accounts_search USING fts5(
    name, handle, url, content='accounts', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO accounts_search(rowid, name, handle, url) VALUES (new.id, new.name, new.handle, new.url);
END""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO accounts_search(accounts_search, rowid, name, handle, url)
    VALUES ('delete', old.id, old.name, old.handle, old.url);
END""",
    """CREATE TRIGGER IF NOT EXISTS accounts_search_update AFTER UPDATE OF name, handle, url ON accounts BEGIN
    INSERT INTO accounts_search(accounts_search, rowid, name, handle, url)
    VALUES ('delete', old.id, old.name, old.handle, old.url);
    INSERT INTO accounts_search(rowid, name, handle, url) VALUES (new.id, new.name, new.handle, new.url);
END""",
    # Whatever the accounts table already holds (a migration over an existing registry).
    "INSERT INTO accounts_search(accounts_search) VALUES ('rebuild')",
)
ACCOUNT_SEARCH_DROP = (
    "DROP TRIGGER IF EXISTS accounts_search_update",
    "DROP TRIGGER IF EXISTS accounts_search_delete",
    "DROP TRIGGER IF EXISTS accounts_search_insert",
    "DROP TABLE IF EXISTS accounts_search",
)

for _statement in ACCOUNT_SEARCH_DDL:
    sa.event.listen(Account.__table__, "after_create", sa.DDL(_statement).execute_if(dialect="sqlite"))
for _statement in ACCOUNT_SEARCH_DROP:
    sa.event.listen(Account.__table__, "before_drop", sa.DDL(_statement).execute_if(dialect="sqlite"))

# PostgreSQL: trigram indexes (pg_trgm) on the lowered name, handle and URL, which a search
# matches with ``lower(column) LIKE '%…%'``: a rare term reads its few matches instead of every
# account (170 ms at 200,000 accounts without them). The extension is trusted (PostgreSQL 13 and
# later: a database's owner may create it); where it cannot be created, search scans as before.

ACCOUNT_TRIGRAM_INDEXES = {"accounts_search_name": "name", "accounts_search_handle": "handle", "accounts_search_url": "url"}


def create_trigram_indexes(connection: sa.Connection) -> bool:
    """Create pg_trgm and the accounts' trigram indexes; False (nothing created) where the
    extension cannot be had, e.g. a role that may not create it."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return False
    for name, column in ACCOUNT_TRIGRAM_INDEXES.items():
        connection.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON accounts USING gin (lower({column}) gin_trgm_ops)")
    return True


@sa.event.listens_for(Account.__table__, "after_create")
def _trigram_indexes(target: sa.Table, connection: sa.Connection, **kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        create_trigram_indexes(connection)
