"""Offboarding: a case per leaver, with checklist items generated from their footprint."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column, utcnow

if TYPE_CHECKING:
    from app.models.account import Account
    from app.models.person import Person
    from app.models.profile import Profile


class CaseStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ItemKind(enum.Enum):
    TRANSFER_OWNERSHIP = "transfer_ownership"
    ADD_ADMIN = "add_admin"
    REMOVE_ADMIN = "remove_admin"
    REPLACE_RECOVERY = "replace_recovery"
    ROTATE_CREDENTIAL = "rotate_credential"
    REASSIGN_CUSTODIAN = "reassign_custodian"
    REASSIGN_STEWARD = "reassign_steward"
    REAUTHORISE_CONNECTION = "reauthorise_connection"
    HAND_OVER_AUDIENCE = "hand_over_audience"
    EXIT_DECLARATION = "exit_declaration"
    DEACTIVATE_SIGN_IN = "deactivate_sign_in"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ItemStatus(enum.Enum):
    OPEN = "open"
    #: A transfer was made; the receiving side has not yet confirmed they have control.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    DONE = "done"
    WAIVED = "waived"

    @property
    def is_finished(self) -> bool:
        return self in (ItemStatus.DONE, ItemStatus.WAIVED)


class OffboardingCase(Timestamped, Versioned, Base):
    __tablename__ = "offboarding_cases"
    # One open case per person (a partial unique index, on SQLite and PostgreSQL alike).
    __table_args__ = (
        sa.Index(
            "uq_offboarding_cases_open_person",
            "person_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    last_day: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[CaseStatus] = enum_column(CaseStatus, default=CaseStatus.OPEN, index=True)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_by_name: Mapped[str] = mapped_column(sa.String(254))
    #: How it was started: "web", "api", "scim", "csv".
    started_via: Mapped[str] = mapped_column(sa.String(20), default="web")
    closed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    #: The handover report, frozen when the case closes: what they held, who holds it now, who did each step.
    report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    person: Mapped[Person] = relationship()
    items: Mapped[list[ChecklistItem]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="ChecklistItem.position, ChecklistItem.id"
    )


class ChecklistItem(Timestamped, Versioned, Base):
    """One thing to do so nothing leaves with the person. Completing it applies it to the registry."""

    __tablename__ = "checklist_items"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "source_key"),
        # The case page's checklist, read in order a page at a time (and every look-up by case).
        sa.Index("ix_checklist_items_case_order", "case_id", "position", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("offboarding_cases.id", ondelete="CASCADE"))
    kind: Mapped[ItemKind] = enum_column(ItemKind)
    status: Mapped[ItemStatus] = enum_column(ItemStatus, default=ItemStatus.OPEN, index=True)
    #: What to do, as a sentence: "Transfer ownership of “Riverside Public Library” (Facebook)".
    title: Mapped[str] = mapped_column(sa.String(500))
    #: Identifies what the item came from ("owner:account:12"), so a refresh adds only new items.
    source_key: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)
    # What the item is about (set as the kind needs; the record may have gone since).
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    profile_id: Mapped[int | None] = mapped_column(sa.ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    admin_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account_admins.id", ondelete="SET NULL"))
    recovery_contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recovery_contacts.id", ondelete="SET NULL"))
    connection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("connections.id", ondelete="SET NULL"))
    note_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credential_notes.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    template_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offboarding_template_items.id", ondelete="SET NULL"))
    #: Who must do it: a person, or a role's queue ("it", "hr", "admin") when no person fits.
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    assignee_role: Mapped[str | None] = mapped_column(sa.String(20))
    due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    #: For a transfer awaiting confirmation: who must confirm they have control.
    confirmer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by_name: Mapped[str] = mapped_column(sa.String(254), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_by_name: Mapped[str] = mapped_column(sa.String(254), default="")
    waived_reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: What completing it did, for the handover report: {"from": ..., "to": ...}. Never a secret.
    outcome: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    case: Mapped[OffboardingCase] = relationship(back_populates="items")
    account: Mapped[Account | None] = relationship()
    profile: Mapped[Profile | None] = relationship()
    assignee: Mapped[Person | None] = relationship(foreign_keys=[assignee_id])
    confirmer: Mapped[Person | None] = relationship(foreign_keys=[confirmer_id])


class OffboardingTemplateItem(Base):
    """An item the organisation adds to every case ("collect building keys"), due relative to the last day."""

    __tablename__ = "offboarding_template_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: Days relative to the last day (negative: before it).
    due_offset_days: Mapped[int] = mapped_column(default=0)
    assignee_role: Mapped[str] = mapped_column(sa.String(20), default="hr")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
