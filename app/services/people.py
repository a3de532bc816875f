"""People: the staff list, and each person's footprint in the registry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, Connection, RecoveryContact, RecoveryKind
from app.models.base import utcnow
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind, profile_label
from app.services import audit, findings, permissions, reviews
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import COUNT_LIMIT, Page, paginate
from app.services.search import person_matches

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
    """Everything in the registry tied to one person: what would leave with them (as objects, for
    the offboarding; their page lists ``FootprintLines``)."""

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


def _snapshot(person: Person) -> dict[str, Any]:
    data = audit.snapshot(person, SNAPSHOT_FIELDS)
    for name in PRIVATE_FIELDS:
        data[name] = "recorded" if getattr(person, name) else None
    return data


def get_person(actor: Actor, person_id: int) -> Person:
    """The person (with their department and manager); NotFound also for someone else's page when
    the actor sees only their own."""
    person = db.session.get(Person, person_id, options=[joinedload(Person.department), joinedload(Person.manager)])
    missing = NotFound(f"There is no person with id {person_id}.")
    if person is None:
        raise missing
    permissions.require_visible(permissions.can_view_person(actor, person_id), missing)
    return person


def list_people(actor: Actor, filters: PeopleFilters, page: int = 1, per_page: int = 25) -> Page[Person]:
    permissions.require(permissions.can_read_registry(actor))
    stmt = sa.select(Person).options(selectinload(Person.department)).order_by(Person.name, Person.id)
    if filters.q.strip():
        stmt = stmt.where(person_matches(filters.q))
    if filters.department_id:
        stmt = stmt.where(Person.department_id == filters.department_id)
    if filters.status:
        stmt = stmt.where(Person.status == filters.status)
    return paginate(stmt, page, per_page, count_limit=COUNT_LIMIT)


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


#: PersonData's fields, in order (``dataclasses.fields`` is slow for a loop over a whole staff list).
DATA_FIELDS = tuple(f.name for f in fields(PersonData))
_OPTIONAL_TEXT = ("hr_id", "personal_email", "personal_phone")


def normalise(data: PersonData) -> PersonData:
    """The data as it is stored: text trimmed, empty optional text as None, the work email in lower
    case, and the dates the status does not use cleared. Saving a person's stored values again
    changes nothing (the CSV import compares rows with people this way)."""
    values: dict[str, Any] = {}
    for name in DATA_FIELDS:
        value = getattr(data, name)
        if isinstance(value, str):
            value = value.strip() or (None if name in _OPTIONAL_TEXT else "")
        values[name] = value
    values["work_email"] = values["work_email"].lower()
    if values["status"] is PersonStatus.ACTIVE:
        values["last_day"] = values["left_on"] = None
    elif values["status"] is PersonStatus.LEAVING:
        values["left_on"] = None
    return PersonData(**values)


def _apply(person: Person, data: PersonData) -> None:
    stored = normalise(data)
    for name in DATA_FIELDS:
        setattr(person, name, getattr(stored, name))


def data_of(person: Person) -> PersonData:
    """A person's stored values as PersonData."""
    return PersonData(**{name: getattr(person, name) for name in DATA_FIELDS})


def _snapshot_of(data: PersonData, version: int, department: str | None, manager: str | None) -> dict[str, Any]:
    """What ``_snapshot`` records for a person whose stored values are ``data``, given the names
    of their department and manager: the batch writes below record the same events as the forms
    without loading each person's relationships."""
    values = {
        "name": data.name,
        "work_email": data.work_email,
        "job_title": data.job_title,
        "department": department,
        "manager": manager,
        "hr_id": data.hr_id,
        "status": data.status,
        "last_day": data.last_day,
        "left_on": data.left_on,
        "version": version,
    }
    snapshot = {name: audit.plain(values[name]) for name in SNAPSHOT_FIELDS}
    for name in PRIVATE_FIELDS:
        snapshot[name] = "recorded" if getattr(data, name) else None
    return snapshot


def _names(model: Any, ids: set[int]) -> dict[int, str]:
    """id -> name of the given departments or people, a few thousand per query."""
    wanted = sorted(ids)
    names: dict[int, str] = {}
    for first in range(0, len(wanted), _CHUNK):
        names.update(
            db.session.execute(sa.select(model.id, model.name).where(model.id.in_(wanted[first : first + _CHUNK]))).all()
        )
    return names


def _holders() -> tuple[dict[str, int], dict[str, int]]:
    """Who holds each work email (in lower case) and each HR id: a batch's uniqueness checks."""
    emails = dict(db.session.execute(sa.select(sa.func.lower(Person.work_email), Person.id)).all())
    hr_ids = dict(db.session.execute(sa.select(Person.hr_id, Person.id).where(Person.hr_id.is_not(None))).all())
    return emails, hr_ids


def _batch_errors(
    data: PersonData,
    person_id: int | None,
    emails: dict[str, int],
    hr_ids: dict[str, int],
    departments: dict[int, str],
    managers: dict[int, str],
) -> dict[str, list[str]]:
    """``_validate``'s checks for one normalised row of a batch (``person_id`` None for a new
    person), against lookups read once for the whole batch instead of a query per check."""
    found = field_errors(data)
    if "work_email" not in found and emails.get(data.work_email, person_id) != person_id:
        found["work_email"] = [f"{data.work_email} already belongs to someone on the staff list."]
    if data.hr_id and hr_ids.get(data.hr_id, person_id) != person_id:
        found["hr_id"] = ["Another person already has this HR id."]
    if data.department_id is not None and data.department_id not in departments:
        found["department_id"] = ["That department no longer exists."]
    if data.manager_id is not None:
        if data.manager_id == person_id:
            found["manager_id"] = ["A person cannot be their own manager."]
        elif data.manager_id not in managers:
            found["manager_id"] = ["That person no longer exists."]
    return found


#: Ids per ``IN`` list (well under SQLite's and PostgreSQL's limits on bound parameters).
_CHUNK = 5_000


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


def create_people(actor: Actor, batch: list[PersonData]) -> list[int]:
    """Add many people at once (the CSV import): what ``create_person`` does for each, with the
    uniqueness and reference checks made for the whole batch in a few queries, one multi-row insert
    and the same audit events appended in one go. Managers must already exist (create a batch per
    level). Returns the new people's ids, in the batch's order.

    Raises PermissionDenied, or ValidationFailed keyed ``"<index>.<field>"`` (the index in
    ``batch``); adds nobody on error.
    """
    permissions.require(permissions.can_edit_people(actor), "Only HR and admins keep the staff list.")
    stored = [normalise(data) for data in batch]
    emails, hr_ids = _holders()
    departments = _names(Department, {d.department_id for d in stored if d.department_id is not None})
    managers = _names(Person, {d.manager_id for d in stored if d.manager_id is not None})
    errors: dict[str, list[str]] = {}
    for index, data in enumerate(stored):
        found = _batch_errors(data, None, emails, hr_ids, departments, managers)
        errors.update({f"{index}.{name}": messages for name, messages in found.items()})
        # Later rows see this one as added (0: a person of this batch, not yet numbered).
        emails[data.work_email] = 0
        if data.hr_id:
            hr_ids[data.hr_id] = 0
    if errors:
        raise ValidationFailed("Some people need attention; nobody was added.", errors)
    if not stored:
        return []
    now = utcnow()
    last_id = db.session.scalar(sa.select(sa.func.max(Person.id))) or 0
    db.session.execute(
        sa.insert(Person.__table__),
        [
            {name: getattr(data, name) for name in DATA_FIELDS} | {"created_at": now, "updated_at": now, "version": 1}
            for data in stored
        ],
    )
    # The new ids, by work email (unique): only rows this batch added have these addresses.
    wanted = {data.work_email for data in stored}
    by_email = {
        email: person_id
        for person_id, email in db.session.execute(sa.select(Person.id, Person.work_email).where(Person.id > last_id))
        if email in wanted
    }
    ids = [by_email[data.work_email] for data in stored]
    audit.record_many(
        actor,
        [
            audit.EventData(
                "person.create",
                "person",
                person_id,
                f"Added {data.name} to the staff list",
                None,
                _snapshot_of(data, 1, departments.get(data.department_id or 0), managers.get(data.manager_id or 0)),
            )
            for person_id, data in zip(ids, stored, strict=True)
        ],
    )
    return ids


def update_people(actor: Actor, changes: list[tuple[Person, PersonData]]) -> None:
    """Edit many people at once (the CSV import): what ``update_person`` does for each, in order,
    from each person's current version: the same checks (made for the whole batch in a few
    queries, each row seeing the rows before it as done), one multi-row update, the same audit
    events, and access reviews passed on for those now leaving or departed. A row that changes
    nothing writes nothing.

    Raises PermissionDenied, ValidationFailed keyed ``"<index>.<field>"`` (the index in
    ``changes``; nothing is written), or StaleEdit if one of them changed meanwhile.
    """
    permissions.require(permissions.can_edit_people(actor), "Only HR and admins keep the staff list.")
    # Written past the ORM: the finding index refreshes what these people hold before the commit.
    findings.mark_changed(people=[person.id for person, _ in changes])
    emails, hr_ids = _holders()
    before_data = [data_of(person) for person, _ in changes]
    stored = [normalise(data) for _, data in changes]
    department_ids = {d.department_id for d in stored + before_data if d.department_id is not None}
    departments = _names(Department, department_ids)
    managers = _names(Person, {d.manager_id for d in stored + before_data if d.manager_id is not None})
    errors: dict[str, list[str]] = {}
    writes: list[int] = []
    for index, ((person, _), data) in enumerate(zip(changes, stored, strict=True)):
        found = _batch_errors(data, person.id, emails, hr_ids, departments, managers)
        if found:
            errors.update({f"{index}.{name}": messages for name, messages in found.items()})
            continue
        # Later rows see this one as done (as one update_person after another would).
        old = before_data[index]
        if emails.get(old.work_email.strip().lower()) == person.id:
            del emails[old.work_email.strip().lower()]
        emails[data.work_email] = person.id
        if old.hr_id and hr_ids.get(old.hr_id) == person.id:
            del hr_ids[old.hr_id]
        if data.hr_id:
            hr_ids[data.hr_id] = person.id
        if any(getattr(old, name) != getattr(data, name) for name in DATA_FIELDS):
            writes.append(index)
    if errors:
        raise ValidationFailed("Some people need attention; nobody was changed.", errors)
    if not writes:
        return
    now = utcnow()
    table = Person.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("person_id"), table.c.version == sa.bindparam("old_version"))
        .values(
            {name: sa.bindparam(f"new_{name}") for name in DATA_FIELDS}
            | {"version": sa.bindparam("new_version"), "updated_at": now}
        ),
        [
            {f"new_{name}": getattr(stored[i], name) for name in DATA_FIELDS}
            | {"person_id": changes[i][0].id, "old_version": changes[i][0].version, "new_version": changes[i][0].version + 1}
            for i in writes
        ],
    )
    if db.session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount != len(writes):
        raise StaleEdit("Someone on the staff list")
    events = []
    passed_on = []
    for i in writes:
        person, data, old = changes[i][0], stored[i], before_data[i]
        before = _snapshot_of(old, person.version, departments.get(old.department_id or 0), managers.get(old.manager_id or 0))
        after = _snapshot_of(
            data, person.version + 1, departments.get(data.department_id or 0), managers.get(data.manager_id or 0)
        )
        # The person in this session now holds what was written (as after update_person's flush).
        for name in DATA_FIELDS:
            set_committed_value(person, name, getattr(data, name))
        set_committed_value(person, "version", person.version + 1)
        set_committed_value(person, "updated_at", now)
        db.session.expire(person, ["department", "manager"])
        replaced = [
            name.replace("_", " ")
            for name in PRIVATE_FIELDS
            if getattr(old, name) != getattr(data, name) and before[name] == after[name]
        ]
        if replaced or {k: v for k, v in before.items() if k != "version"} != {k: v for k, v in after.items() if k != "version"}:
            summary = f"Edited {data.name}" + (f" (replaced {' and '.join(replaced)})" if replaced else "")
            events.append(audit.EventData("person.update", "person", person.id, summary, before, after))
        if data.status is not old.status and person.has_left:
            passed_on.append(person)
    audit.record_many(actor, events)
    for person in passed_on:
        reviews.reassign_tasks_of(person, actor)


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


def _the_person_and_profiles() -> tuple[sa.BindParameter[Any], sa.ScalarSelect[Any], sa.ScalarSelect[Any]]:
    """The footprint statements' parameter (the person) and the profiles they reach through:
    those the person holds, and those they keep as a custodian."""
    person_id = sa.bindparam("person_id")
    held = sa.select(Profile.id).where(Profile.holder_id == person_id).scalar_subquery()
    kept = sa.select(ProfileCustodian.profile_id).where(ProfileCustodian.person_id == person_id).scalar_subquery()
    return person_id, held, kept


@functools.cache
def _footprint_statements() -> tuple[dict[str, sa.Select], tuple[sa.Select, sa.Select]]:
    """The footprint's nine statements as objects, built once with the person as a parameter."""
    person_id, held, kept = _the_person_and_profiles()
    # What the offboarding reads of an account beside itself: its platform's name (not the whole
    # platform, whose role names were decoded from JSON for every row) and its owner profile.
    account_opts = (joinedload(Account.platform).load_only(Platform.name), joinedload(Account.owner_profile))

    def admin_roles(profiles: Any) -> sa.Select:
        return (
            sa.select(AccountAdmin)
            .join(AccountAdmin.account)
            .options(
                contains_eager(AccountAdmin.account).joinedload(Account.platform).load_only(Platform.name),
                joinedload(AccountAdmin.profile).joinedload(Profile.platform).load_only(Platform.name),
            )
            .where(AccountAdmin.profile_id.in_(profiles))
            .order_by(Account.name, AccountAdmin.id)
        )

    def owned_through(profiles: Any) -> sa.Select:
        return (
            sa.select(Account)
            .options(*account_opts)
            .where(Account.owner_profile_id.in_(profiles))
            .order_by(Account.name, Account.id)
        )

    profiles = (
        sa.select(Profile).options(joinedload(Profile.platform).load_only(Platform.name)).order_by(Profile.name, Profile.id)
    )
    lists = {
        "profiles": profiles.where(Profile.holder_id == person_id),
        "custodian_of": profiles.where(Profile.id.in_(kept)),
        "owned": owned_through(held),
        "admin_roles": admin_roles(held),
        "connections": sa.select(Connection)
        .options(
            joinedload(Connection.account).joinedload(Account.platform).load_only(Platform.name), joinedload(Connection.profile)
        )
        .where(Connection.profile_id.in_(held))
        .order_by(Connection.tool_name, Connection.id),
        "recovery_contacts": sa.select(RecoveryContact)
        .options(joinedload(RecoveryContact.account).joinedload(Account.platform).load_only(Platform.name))
        .where(RecoveryContact.person_id == person_id)
        .order_by(RecoveryContact.id),
        "stewarded": sa.select(Account)
        .options(*account_opts)
        .where(Account.steward_id == person_id)
        .order_by(Account.name, Account.id),
    }
    return lists, (owned_through(kept), admin_roles(kept))


def footprint(person: Person) -> Footprint:
    """Everything tied to the person, as objects (what offboarding works from), each kind in one
    query: nine queries whatever the person holds (many-to-one links are joined; profiles are
    matched by subquery, so no query waits on another's result). Their page lists the same from
    ``footprint_lines``."""
    lists, reach = _footprint_statements()
    result = Footprint(person=person)
    params = {"person_id": person.id}
    for name, stmt in lists.items():
        setattr(result, name, list(db.session.scalars(stmt, params)))
    result.through_custody = [*db.session.scalars(reach[0], params), *db.session.scalars(reach[1], params)]
    return result


# --- A person's footprint as their page lists it ---------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLine:
    """An account as a person's page and map show it."""

    id: int
    name: str
    status: AccountStatus
    platform_name: str


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as a link to them shows them (``person_link``)."""

    id: int
    name: str
    status: PersonStatus


@dataclass(frozen=True, slots=True)
class ProfileRef:
    """A profile as a link to it shows it (``profile_link``)."""

    id: int
    name: str
    handle: str
    kind: ProfileKind

    @property
    def label(self) -> str:
        return profile_label(self.name, self.handle)


@dataclass(frozen=True, slots=True)
class ProfileLine(ProfileRef):
    """A profile as a person's page and map show it."""

    platform_name: str
    speaks_for_organisation: bool
    #: Its holder is leaving or has left.
    holder_left: bool


@dataclass(frozen=True, slots=True)
class HeldLine:
    """A hold on an account through one of the person's profiles: its ``role`` is "owner" or the
    name of an admin role."""

    account: AccountLine
    role: str
    profile_id: int
    profile_label: str


@dataclass(frozen=True, slots=True)
class ConnectionLine:
    """A tool connected to an account through one of the person's profiles."""

    account: AccountLine
    tool_name: str
    profile_id: int
    profile_label: str


@dataclass(frozen=True, slots=True)
class ContactLine:
    """A recovery contact of an account tied to the person."""

    account: AccountLine
    kind: RecoveryKind
    value: str


@dataclass
class FootprintLines:
    """What ``footprint`` holds, as plain values for the person's page (read as rows: the same
    lists as objects cost three times as much, 4.1 ms against 1.5 for the busiest person at
    200,000 accounts), each list cut to its first rows where a limit is given."""

    person: Person
    profiles: list[ProfileLine] = field(default_factory=list)
    custodian_of: list[ProfileLine] = field(default_factory=list)
    owned: list[HeldLine] = field(default_factory=list)
    admin_roles: list[HeldLine] = field(default_factory=list)
    recovery_contacts: list[ContactLine] = field(default_factory=list)
    stewarded: list[AccountLine] = field(default_factory=list)
    connections: list[ConnectionLine] = field(default_factory=list)
    #: Accounts owned or administered through a persona/shared login the person keeps.
    through_custody: list[HeldLine] = field(default_factory=list)
    #: How many of each there are, when the lists hold only the first few.
    totals: dict[str, int] = field(default_factory=dict)

    def total(self, section: str) -> int:
        """How many there are of ``section`` (more than listed when the lists are cut short)."""
        return self.totals.get(section, len(getattr(self, section)))

    def more(self, section: str) -> int:
        """How many of ``section`` are not listed."""
        return self.total(section) - len(getattr(self, section))

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


def _account_line(row: sa.Row[Any]) -> AccountLine:
    return AccountLine(*row[:4])


def _held_line(row: sa.Row[Any]) -> HeldLine:
    return HeldLine(_account_line(row), row[4], row[5], profile_label(row[6], row[7]))


def _connection_line(row: sa.Row[Any]) -> ConnectionLine:
    return ConnectionLine(_account_line(row), row[4], row[5], profile_label(row[6], row[7]))


def _contact_line(row: sa.Row[Any]) -> ContactLine:
    return ContactLine(_account_line(row), row[4], row[5])


def _profile_line(row: sa.Row[Any]) -> ProfileLine:
    return ProfileLine(*row[:6], holder_left=row[6] in findings.LEFT)


@dataclass(frozen=True)
class _LineStatements:
    #: Each list's statement, with the function that makes its rows into lines.
    lists: dict[str, tuple[sa.Select, Callable[[sa.Row[Any]], Any]]]
    #: Owned and administered through the profiles the person keeps.
    reach: tuple[sa.Select, sa.Select]
    #: Every list's rows, and the two of ``reach``, counted in one statement.
    counted: sa.Select


@functools.cache
def _line_statements(limit: bool) -> _LineStatements:
    """The footprint's statements as ``footprint``'s, each reading only the columns the page shows
    (the many-to-one links joined as the objects' were, so SQLite reads them in the same order),
    built once with the person (and, when ``limit``, the lists' length) as parameters."""
    person_id, held, kept = _the_person_and_profiles()
    holder = aliased(Person, name="holder")
    # Read by position in the functions below: an account's four columns first, then the rest.
    account_columns = (Account.id, Account.name, Account.status, Platform.name)
    profile_columns = (Profile.id, Profile.name, Profile.handle)

    def with_platform(stmt: sa.Select) -> sa.Select:
        return stmt.outerjoin(Platform, Platform.id == Account.platform_id)

    def admin_roles(profiles: Any) -> sa.Select:
        return (
            with_platform(
                sa.select(*account_columns, AccountAdmin.role_name, *profile_columns)
                .select_from(AccountAdmin)
                .join(Account, Account.id == AccountAdmin.account_id)
            )
            .outerjoin(Profile, Profile.id == AccountAdmin.profile_id)
            .where(AccountAdmin.profile_id.in_(profiles))
            .order_by(Account.name, AccountAdmin.id)
        )

    def owned_through(profiles: Any) -> sa.Select:
        return (
            with_platform(sa.select(*account_columns, sa.literal("owner"), *profile_columns).select_from(Account))
            .outerjoin(Profile, Profile.id == Account.owner_profile_id)
            .where(Account.owner_profile_id.in_(profiles))
            .order_by(Account.name, Account.id)
        )

    profiles = (
        sa.select(*profile_columns, Profile.kind, Platform.name, Profile.speaks_for_organisation, holder.status)
        .outerjoin(Platform, Platform.id == Profile.platform_id)
        .outerjoin(holder, holder.id == Profile.holder_id)
        .order_by(Profile.name, Profile.id)
    )
    lists: dict[str, tuple[sa.Select, Callable[[sa.Row[Any]], Any]]] = {
        "profiles": (profiles.where(Profile.holder_id == person_id), _profile_line),
        "custodian_of": (profiles.where(Profile.id.in_(kept)), _profile_line),
        "owned": (owned_through(held), _held_line),
        "admin_roles": (admin_roles(held), _held_line),
        "connections": (
            with_platform(
                sa.select(*account_columns, Connection.tool_name, *profile_columns)
                .select_from(Connection)
                .outerjoin(Account, Account.id == Connection.account_id)
            )
            .outerjoin(Profile, Profile.id == Connection.profile_id)
            .where(Connection.profile_id.in_(held))
            .order_by(Connection.tool_name, Connection.id),
            _connection_line,
        ),
        "recovery_contacts": (
            with_platform(
                sa.select(*account_columns, RecoveryContact.kind, RecoveryContact.value)
                .select_from(RecoveryContact)
                .outerjoin(Account, Account.id == RecoveryContact.account_id)
            )
            .where(RecoveryContact.person_id == person_id)
            .order_by(RecoveryContact.id),
            _contact_line,
        ),
        "stewarded": (
            with_platform(sa.select(*account_columns).select_from(Account))
            .where(Account.steward_id == person_id)
            .order_by(Account.name, Account.id),
            _account_line,
        ),
    }
    reach = (owned_through(kept), admin_roles(kept))
    counted = sa.select(
        *(
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()).scalar_subquery()
            for stmt in (*(stmt for stmt, _ in lists.values()), *reach)
        )
    )
    if limit:
        first = sa.bindparam("limit")
        lists = {name: (stmt.limit(first), line) for name, (stmt, line) in lists.items()}
        reach = (reach[0].limit(first), reach[1].limit(first))
    return _LineStatements(lists, reach, counted)


def footprint_lines(person: Person, limit: int | None = None) -> FootprintLines:
    """What ``footprint`` finds, as the person's page lists it: nine queries whatever the person
    holds, and a tenth that counts them when they are cut short.

    ``limit``: each list holds its first ``limit`` rows only, and one more query counts them all
    (``FootprintLines.totals``): the page then costs the same for someone who holds 20 things as
    for someone who holds 2,000.
    """
    cut = limit is not None
    statements = _line_statements(cut)
    params = {"person_id": person.id, "limit": limit}
    result = FootprintLines(person=person)
    for name, (stmt, line) in statements.lists.items():
        setattr(result, name, [line(row) for row in db.session.execute(stmt, params)])
    owned_kept, roles_kept = (db.session.execute(stmt, params).all() for stmt in statements.reach)
    result.through_custody = [_held_line(row) for row in (*owned_kept, *roles_kept)][:limit]
    if cut:
        *totals, owned_count, roles_count = db.session.execute(statements.counted, params).one()
        result.totals = dict(zip(statements.lists, totals, strict=True)) | {"through_custody": owned_count + roles_count}
    return result
