"""People and the departments they belong to."""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, enum_column
from app.models.search_index import SearchIndex

if TYPE_CHECKING:
    from app.models.profile import Profile


class PersonStatus(enum.Enum):
    ACTIVE = "active"
    LEAVING = "leaving"
    DEPARTED = "departed"


class Department(Timestamped, Versioned, Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: The person accountable for the department; receives work nobody else can take.
    head_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL", use_alter=True), index=True)

    head: Mapped[Person | None] = relationship(foreign_keys=[head_id], post_update=True)
    people: Mapped[list[Person]] = relationship(back_populates="department", foreign_keys="Person.department_id")

    def __str__(self) -> str:
        return self.name


class Person(Timestamped, Versioned, Base):
    __tablename__ = "people"
    __table_args__ = (
        # The people leaving by last day, then name (the landing page's and the dashboard's first
        # ten) read in order from the index instead of sorting all of them; a status alone reads
        # its prefix.
        sa.Index("ix_people_status_last_day", "status", "last_day", "name", "id"),
        # A department's current people counted from this alone (departments list, its page).
        sa.Index("ix_people_department_id_status", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    work_email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: Kept only to spot its use as a recovery contact; erased after departure (privacy).
    personal_email: Mapped[str | None] = mapped_column(sa.String(254))
    #: Kept only to spot its use as a recovery contact; erased after departure (privacy).
    personal_phone: Mapped[str | None] = mapped_column(sa.String(40))
    job_title: Mapped[str] = mapped_column(sa.String(200), default="")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id", ondelete="SET NULL"))
    manager_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: External id from the HR system or identity provider (SCIM externalId).
    hr_id: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    status: Mapped[PersonStatus] = enum_column(PersonStatus, default=PersonStatus.ACTIVE)
    #: Set while leaving: the last working day.
    last_day: Mapped[date | None] = mapped_column(sa.Date)
    #: Set once departed: the day they left.
    left_on: Mapped[date | None] = mapped_column(sa.Date)

    department: Mapped[Department | None] = relationship(back_populates="people", foreign_keys=[department_id])
    manager: Mapped[Person | None] = relationship(remote_side=[id], foreign_keys=[manager_id])
    profiles: Mapped[list[Profile]] = relationship(back_populates="holder", foreign_keys="Profile.holder_id")

    @property
    def is_active(self) -> bool:
        return self.status is PersonStatus.ACTIVE

    @property
    def has_left(self) -> bool:
        """Leaving or departed: what they hold is at risk."""
        return self.status in (PersonStatus.LEAVING, PersonStatus.DEPARTED)

    def __str__(self) -> str:
        return self.name


# The people's search index (app/models/search_index.py): name and work email, as the people list,
# the global search and the person pickers search them (a scan of 20,000 people: 15 ms).
PEOPLE_SEARCH = SearchIndex("people", ("name", "work_email"))
PEOPLE_SEARCH.attach(Person.__table__)
