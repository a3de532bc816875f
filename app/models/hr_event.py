"""Signed events from the HR system (terminations and changes of last day), kept to refuse replays."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class HrEventReceipt(Base):
    """One HR event Handover acted on. Its id is unique: the same event id is never acted on twice."""

    __tablename__ = "hr_event_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The HR system's id for the event.
    event_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: "termination" or "last_day_changed".
    event_type: Mapped[str] = mapped_column(sa.String(40))
    #: The time the HR system signed it (the signature's timestamp).
    signed_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offboarding_cases.id", ondelete="SET NULL"))
    #: What it did: "started", "updated" (the last day moved) or "unchanged".
    outcome: Mapped[str] = mapped_column(sa.String(20))
