"""People: the staff list, and each person's footprint in the registry."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account, AccountAdmin, Connection, RecoveryContact
from app.models.person import Department, Person, PersonStatus
from app.models.profile import Profile, ProfileCustodian
from app.services import audit, permissions, reviews
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import Page, paginate
from app.services.search import contains

SNAPSHOT_FIELDS = (
    "name",
    "work_email",
    "job_title",
    "department",
    "manager",
    "hr_id",
    "status",
    "last_day",
    "left_on",
    "version",
)
#: Personal details are recorded as present/absent only: the audit trail never keeps them.
PRIVATE_FIELDS = ("personal_email", "personal_phone")


@dataclass
class PersonData:
    name: str
    work_email: str
    job_title: str = ""
    department_id: int | None = None
    manager_id: int | None = None
    hr_id: str | None = None
    personal_email: str | None = None
    personal_phone: str | None = None
    status: PersonStatus = PersonStatus.ACTIVE
    last_day: date | None = None
    left_on: date | None = None


@dataclass
class PeopleFilters:
    q: str = ""
    department_id: int | None = None
    status: PersonStatus | None = None


@dataclass
class Footprint:
    """Everything in the registry tied to one person: what would leave with them."""

    person: Person
    profiles: list[Profile] = field(default_factory=list)
    custodian_of: list[Profile] = field(default_factory=list)
    owned: list[Account] = field(default_factory=list)
    admin_roles: list[AccountAdmin] = field(default_factory=list)
    recovery_contacts: list[RecoveryContact] = field(default_factory=list)
    stewarded: list[Account] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    #: Accounts owned or administered through a persona/shared login the person keeps.
    through_custody: list[AccountAdmin | Account] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.profiles,
                self.custodian_of,
                self.owned,
                self.admin_roles,
                self.recovery_contacts,
                self.stewarded,
                self.connections,
            )
        )

    @property
    def count(self) -> int:
        return sum(
            len(x)
            for x in (self.owned, self.admin_roles, self.recovery_contacts, self.stewarded, self.connections, self.custodian_of)
        )


def _snapshot(person: Person) -> dict[str, Any]:
    data = audit.snapshot(person, SNAPSHOT_FIELDS)
    for name in PRIVATE_FIELDS:
        data[name] = "recorded" if getattr(person, name) else None
    return data


def get_person(actor: Actor, person_id: int) -> Person:
    """The person; NotFound also for someone else's page when the actor sees only their own."""
    person = db.session.get(Person, person_id)
    missing = NotFound(f"There is no person with id {person_id}.")
    if person is None:
        raise missing
    permissions.require_visible(permissions.can_view_person(actor, person_id), missing)
    return person


def list_people(actor: Actor, filters: PeopleFilters, page: int = 1, per_page: int = 25) -> Page[Person]:
    permissions.require(permissions.can_read_registry(actor))
    stmt = sa.select(Person).options(selectinload(Person.department)).order_by(Person.name, Person.id)
    if filters.q.strip():
        stmt = stmt.where(sa.or_(contains(Person.name, filters.q), contains(Person.work_email, filters.q)))
    if filters.department_id:
        stmt = stmt.where(Person.department_id == filters.department_id)
    if filters.status:
        stmt = stmt.where(Person.status == filters.status)
    return paginate(stmt, page, per_page)


def field_errors(data: PersonData) -> dict[str, list[str]]:
    """The rules one person's own fields must meet, checked without looking anyone up.

    Shared by the form (through ``_validate``) and the CSV import, which checks uniqueness and
    references for a whole file at once.
    """
    errors: dict[str, list[str]] = {}
    if not data.name.strip():
        errors["name"] = ["Give the person's name."]
    email = data.work_email.strip().lower()
    if not email or "@" not in email:
        errors["work_email"] = ["Give a work email address."]
    if data.status is PersonStatus.LEAVING and data.last_day is None:
        errors["last_day"] = ["Give the last working day of someone who is leaving."]
    if data.status is PersonStatus.DEPARTED and data.left_on is None:
        errors["left_on"] = ["Give the day they left."]
    return errors


def _validate(data: PersonData, person: Person | None = None) -> None:
    errors = field_errors(data)
    email = data.work_email.strip().lower()
    if "work_email" not in errors:
        clash = sa.select(Person.id).where(sa.func.lower(Person.work_email) == email)
        if person is not None:
            clash = clash.where(Person.id != person.id)
        if db.session.scalar(clash) is not None:
            errors["work_email"] = [f"{email} already belongs to someone on the staff list."]
    if data.hr_id:
        clash = sa.select(Person.id).where(Person.hr_id == data.hr_id.strip())
        if person is not None:
            clash = clash.where(Person.id != person.id)
        if db.session.scalar(clash) is not None:
            errors["hr_id"] = ["Another person already has this HR id."]
    if data.department_id is not None and db.session.get(Department, data.department_id) is None:
        errors["department_id"] = ["That department no longer exists."]
    if data.manager_id is not None:
        if person is not None and data.manager_id == person.id:
            errors["manager_id"] = ["A person cannot be their own manager."]
        elif db.session.get(Person, data.manager_id) is None:
            errors["manager_id"] = ["That person no longer exists."]
    if errors:
        raise ValidationFailed("Some fields need attention; nothing was saved.", errors)


def normalise(data: PersonData) -> PersonData:
    """The data as it is stored: text trimmed, empty optional text as None, the work email in lower
    case, and the dates the status does not use cleared. Saving a person's stored values again
    changes nothing (the CSV import compares rows with people this way)."""
    values: dict[str, Any] = {}
    for f in fields(PersonData):
        value = getattr(data, f.name)
        if isinstance(value, str):
            value = value.strip() or (None if f.name in ("hr_id", "personal_email", "personal_phone") else "")
        values[f.name] = value
    values["work_email"] = values["work_email"].lower()
    if values["status"] is PersonStatus.ACTIVE:
        values["last_day"] = values["left_on"] = None
    elif values["status"] is PersonStatus.LEAVING:
        values["left_on"] = None
    return PersonData(**values)


def _apply(person: Person, data: PersonData) -> None:
    stored = normalise(data)
    for f in fields(PersonData):
        setattr(person, f.name, getattr(stored, f.name))


def create_person(actor: Actor, data: PersonData) -> Person:
    """Add someone to the staff list. Raises PermissionDenied or ValidationFailed."""
    permissions.require(permissions.can_edit_people(actor), "Only HR and admins keep the staff list.")
    _validate(data)
    person = Person()
    _apply(person, data)
    db.session.add(person)
    db.session.flush()
    audit.record_event(
        actor, "person.create", "person", person.id, f"Added {person.name} to the staff list", None, _snapshot(person)
    )
    return person


def create_people(actor: Actor, batch: list[PersonData]) -> list[Person]:
    """Add many people at once (the CSV import): what ``create_person`` does for each, with the
    uniqueness and reference checks made for the whole batch in a few queries, one insert and one
    batch of the same audit events. Managers must already exist (create a batch per level).

    Raises PermissionDenied, or ValidationFailed keyed ``"<index>.<field>"`` (the index in
    ``batch``); adds nobody on error.
    """
    permissions.require(permissions.can_edit_people(actor), "Only HR and admins keep the staff list.")
    stored = [normalise(data) for data in batch]
    taken_emails = set(db.session.scalars(sa.select(sa.func.lower(Person.work_email))))
    taken_hr_ids = set(db.session.scalars(sa.select(Person.hr_id).where(Person.hr_id.is_not(None))))
    wanted_departments = {d.department_id for d in stored if d.department_id is not None}
    wanted_managers = {d.manager_id for d in stored if d.manager_id is not None}
    departments = set(db.session.scalars(sa.select(Department.id).where(Department.id.in_(wanted_departments))))
    managers = set(db.session.scalars(sa.select(Person.id).where(Person.id.in_(wanted_managers))))
    errors: dict[str, list[str]] = {}
    for index, data in enumerate(stored):
        found = field_errors(data)
        if "work_email" not in found and data.work_email in taken_emails:
            found["work_email"] = [f"{data.work_email} already belongs to someone on the staff list."]
        if data.hr_id and data.hr_id in taken_hr_ids:
            found["hr_id"] = ["Another person already has this HR id."]
        if data.department_id is not None and data.department_id not in departments:
            found["department_id"] = ["That department no longer exists."]
        if data.manager_id is not None and data.manager_id not in managers:
            found["manager_id"] = ["That person no longer exists."]
        errors.update({f"{index}.{name}": messages for name, messages in found.items()})
        taken_emails.add(data.work_email)
        if data.hr_id:
            taken_hr_ids.add(data.hr_id)
    if errors:
        raise ValidationFailed("Some people need attention; nobody was added.", errors)
    created = []
    for data in stored:
        person = Person()
        _apply(person, data)
        created.append(person)
    db.session.add_all(created)
    db.session.flush()
    audit.record_events(
        actor,
        [
            audit.EventData("person.create", "person", p.id, f"Added {p.name} to the staff list", None, _snapshot(p))
            for p in created
        ],
    )
    return created


def update_person(actor: Actor, person: Person, data: PersonData, expected_version: int) -> Person:
    """Edit a person made from ``expected_version``. Raises PermissionDenied, StaleEdit or ValidationFailed."""
    permissions.require(permissions.can_edit_people(actor), "Only HR and admins keep the staff list.")
    if person.version != expected_version:
        raise StaleEdit(f"{person.name}'s record", audit.changes_since("person", person.id, expected_version))
    _validate(data, person)
    before = _snapshot(person)
    private_before = {name: getattr(person, name) for name in PRIVATE_FIELDS}
    status_before = person.status
    _apply(person, data)
    db.session.flush()
    # The relationships still hold the objects loaded before the edit; reload them from the new ids.
    db.session.expire(person, ["department", "manager"])
    after = _snapshot(person)
    # A replaced personal detail looks the same in the snapshot ("recorded" both times), yet is a change.
    replaced = [
        name.replace("_", " ")
        for name in PRIVATE_FIELDS
        if private_before[name] != getattr(person, name) and before[name] == after[name]
    ]
    if replaced or {k: v for k, v in before.items() if k != "version"} != {k: v for k, v in after.items() if k != "version"}:
        summary = f"Edited {person.name}" + (f" (replaced {' and '.join(replaced)})" if replaced else "")
        audit.record_event(actor, "person.update", "person", person.id, summary, before, after)
    if person.status is not status_before and person.has_left:
        # Their access reviews must not wait for someone who is going: pass them on now.
        reviews.reassign_tasks_of(person, actor)
    return person


def footprint(person: Person) -> Footprint:
    """Everything tied to the person, each kind in one query."""
    result = Footprint(person=person)
    result.profiles = list(
        db.session.scalars(
            sa.select(Profile)
            .options(selectinload(Profile.platform))
            .where(Profile.holder_id == person.id)
            .order_by(Profile.name)
        )
    )
    result.custodian_of = list(
        db.session.scalars(
            sa.select(Profile)
            .join(ProfileCustodian, ProfileCustodian.profile_id == Profile.id)
            .options(selectinload(Profile.platform))
            .where(ProfileCustodian.person_id == person.id)
            .order_by(Profile.name)
        )
    )
    held_ids = [p.id for p in result.profiles]
    kept_ids = [p.id for p in result.custodian_of]
    account_opts = (selectinload(Account.platform), selectinload(Account.owner_profile))
    if held_ids:
        result.owned = list(
            db.session.scalars(
                sa.select(Account).options(*account_opts).where(Account.owner_profile_id.in_(held_ids)).order_by(Account.name)
            )
        )
        result.admin_roles = list(
            db.session.scalars(
                sa.select(AccountAdmin)
                .join(AccountAdmin.account)
                .options(selectinload(AccountAdmin.account).selectinload(Account.platform), selectinload(AccountAdmin.profile))
                .where(AccountAdmin.profile_id.in_(held_ids))
                .order_by(Account.name)
            )
        )
        result.connections = list(
            db.session.scalars(
                sa.select(Connection)
                .options(selectinload(Connection.account), selectinload(Connection.profile))
                .where(Connection.profile_id.in_(held_ids))
                .order_by(Connection.tool_name)
            )
        )
    if kept_ids:
        result.through_custody = list(
            db.session.scalars(
                sa.select(Account).options(*account_opts).where(Account.owner_profile_id.in_(kept_ids)).order_by(Account.name)
            )
        ) + list(
            db.session.scalars(
                sa.select(AccountAdmin)
                .join(AccountAdmin.account)
                .options(selectinload(AccountAdmin.account), selectinload(AccountAdmin.profile))
                .where(AccountAdmin.profile_id.in_(kept_ids))
                .order_by(Account.name)
            )
        )
    result.recovery_contacts = list(
        db.session.scalars(
            sa.select(RecoveryContact)
            .options(selectinload(RecoveryContact.account))
            .where(RecoveryContact.person_id == person.id)
            .order_by(RecoveryContact.id)
        )
    )
    result.stewarded = list(
        db.session.scalars(
            sa.select(Account).options(*account_opts).where(Account.steward_id == person.id).order_by(Account.name)
        )
    )
    return result
