"""Access review campaigns: a director asks every steward to confirm their accounts by a date."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, enum_column, utcnow

if TYPE_CHECKING:
    from app.models.account import Account
    from app.models.person import Person


class ReviewTaskStatus(enum.Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"

    @property
    def label(self) -> str:
        return {"pending": "Waiting", "confirmed": "Confirmed", "corrected": "Corrected"}[self.value]


class ReviewCampaign(Base):
    __tablename__ = "review_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    due_on: Mapped[date] = mapped_column(sa.Date)
    #: Department ids in scope; empty means the whole organisation.
    department_ids: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_by_name: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when every task is done (or the director closes it early).
    closed_at: Mapped[datetime | None] = mapped_column()

    tasks: Mapped[list[ReviewTask]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="ReviewTask.id"
    )


class ReviewTask(Base):
    """One account for one steward to confirm (owner, admins, recovery contacts, credential notes)."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "account_id"),
        # A campaign's progress by department counted from this alone.
        sa.Index("ix_review_tasks_progress", "campaign_id", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    #: The account's department when the campaign opened: its progress is told by department.
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id", ondelete="SET NULL"))
    #: Who must review: the steward when the campaign opened; the department head if they leave.
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    status: Mapped[ReviewTaskStatus] = enum_column(ReviewTaskStatus, default=ReviewTaskStatus.PENDING, index=True)
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by_name: Mapped[str] = mapped_column(sa.String(254), default="")
    #: What the steward said or corrected.
    note: Mapped[str] = mapped_column(sa.Text, default="")
    reminded_at: Mapped[datetime | None] = mapped_column()

    campaign: Mapped[ReviewCampaign] = relationship(back_populates="tasks")
    account: Mapped[Account] = relationship()
    assignee: Mapped[Person | None] = relationship()
