"""How a person is known to the identity provider that provisions them over SCIM (RFC 7643/7644)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned

if TYPE_CHECKING:
    from app.models.person import Person


class ScimIdentity(Timestamped, Versioned, Base):
    """The SCIM side of one person: what the identity provider calls them and last said about them.

    The person's own fields (name, work email, HR id, title, department, manager) live on
    ``Person``; this row keeps the SCIM attributes Handover has no column for, exactly as the
    provider sent them, so they read back unchanged (RFC 7644 §3.5.1), and the deprovisioning state.
    """

    __tablename__ = "scim_identities"

    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    #: SCIM userName as the provider spelled it.
    user_name: Mapped[str] = mapped_column(sa.String(254))
    #: userName compared the way SCIM compares it (caseExact false: NFC, lower case); unique.
    user_name_key: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: SCIM attributes without a person column (name, displayName, emails, employeeNumber), by their SCIM names.
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The person's name and work email as the last SCIM write left them: when HR has changed
    #: them since, Handover's values are what SCIM reads back.
    synced_name: Mapped[str] = mapped_column(sa.String(200), default="")
    synced_email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: The provider's last word on ``active``; None when it removed the attribute.
    active: Mapped[bool | None] = mapped_column()
    #: When the provider deprovisioned them (active false or DELETE); cleared when it sets active true again.
    #: Deprovisioning acts only when this is empty, so a repeated request starts nothing new.
    deprovisioned_at: Mapped[datetime | None] = mapped_column()
    #: When the provider deleted the user: SCIM no longer shows them; the person stays in Handover.
    deleted_at: Mapped[datetime | None] = mapped_column()

    person: Mapped[Person] = relationship()
