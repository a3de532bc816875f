"""What the registry keeps about findings. Findings themselves are derived, never stored by hand;
only a director's risk acceptance and the daily counts (for the trend) are kept."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class FindingAcceptance(Base):
    """A director accepted the risk of one finding, with a reason, until a date. The finding
    still shows, marked accepted, and comes back when the acceptance expires."""

    __tablename__ = "finding_acceptances"
    __table_args__ = (sa.UniqueConstraint("rule_id", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable rule id from app.services.findings.RULES (e.g. "owner-personal").
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    #: What the finding is about: "account" or "credential".
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    accepted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    accepted_by_name: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[str] = mapped_column(sa.Text)
    expires_on: Mapped[date] = mapped_column(sa.Date, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FindingSnapshot(Base):
    """Open findings counted once a day, for the dashboard's trend."""

    __tablename__ = "finding_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_on: Mapped[date] = mapped_column(sa.Date, unique=True)
    total: Mapped[int] = mapped_column(default=0)
    #: {"critical": 3, "high": 5, ...} — open (not accepted) findings by severity.
    by_severity: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: {"owner-personal": 4, ...}
    by_rule: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: {"<department id or 'none'>": 7, ...}
    by_department: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
