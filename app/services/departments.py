"""Departments: the org units people and accounts belong to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account, AccountStatus
from app.models.person import Department, Person, PersonStatus
from app.models.profile import Profile
from app.services import audit, permissions
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import Page, paginate

SNAPSHOT_FIELDS = ("name", "description", "head", "version")

_NOT_SAVED = "Some fields need attention; nothing was saved."


@dataclass
class DepartmentData:
    """What a person types to create or edit a department."""

    name: str
    description: str = ""
    head_id: int | None = None


@dataclass
class DepartmentRow:
    """A department on the list, with how many current people and live accounts it has."""

    department: Department
    people: int = 0
    accounts: int = 0


@dataclass
class DepartmentContents:
    people: list[Person] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)


def _snapshot(department: Department) -> dict[str, Any]:
    return audit.snapshot(department, SNAPSHOT_FIELDS)


def get_department(actor: Actor, department_id: int) -> Department:
    """The department, if the actor reads the registry. Raises NotFound or PermissionDenied."""
    permissions.require(permissions.can_read_registry(actor))
    department = db.session.get(Department, department_id)
    if department is None:
        raise NotFound(f"There is no department with id {department_id}. It may have been typed wrongly.")
    return department


def list_departments(actor: Actor, page: int = 1, per_page: int = 25) -> Page[DepartmentRow]:
    """A page of departments by name, each with its count of current people (not departed) and live accounts (not retired)."""
    permissions.require(permissions.can_read_registry(actor))
    stmt = sa.select(Department).options(selectinload(Department.head)).order_by(sa.func.lower(Department.name), Department.id)
    result = paginate(stmt, page, per_page)
    ids = [d.id for d in result.items]
    people: dict[int, int] = {}
    accounts: dict[int, int] = {}
    if ids:
        people = dict(
            db.session.execute(
                sa.select(Person.department_id, sa.func.count())
                .where(Person.department_id.in_(ids), Person.status != PersonStatus.DEPARTED)
                .group_by(Person.department_id)
            ).all()
        )
        accounts = dict(
            db.session.execute(
                sa.select(Account.department_id, sa.func.count())
                .where(Account.department_id.in_(ids), Account.status != AccountStatus.RETIRED)
                .group_by(Account.department_id)
            ).all()
        )
    rows = [DepartmentRow(d, people.get(d.id, 0), accounts.get(d.id, 0)) for d in result.items]
    return Page(items=rows, total=result.total, page=result.page, per_page=result.per_page)


def contents(department: Department) -> DepartmentContents:
    """Everyone and every account in the department (departed people and retired accounts included, last)."""
    people = db.session.scalars(
        sa.select(Person)
        .where(Person.department_id == department.id)
        .order_by(sa.case((Person.status == PersonStatus.DEPARTED, 1), else_=0), Person.name, Person.id)
    )
    accounts = db.session.scalars(
        sa.select(Account)
        .options(
            selectinload(Account.platform),
            selectinload(Account.owner_profile).selectinload(Profile.holder),
            selectinload(Account.steward),
        )
        .where(Account.department_id == department.id)
        .order_by(sa.case((Account.status == AccountStatus.RETIRED, 1), else_=0), Account.name, Account.id)
    )
    return DepartmentContents(people=list(people), accounts=list(accounts))


def _validate(data: DepartmentData, department: Department | None = None) -> None:
    errors: dict[str, list[str]] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = ["Give the department a name."]
    elif len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    else:
        clash = sa.select(Department.id).where(sa.func.lower(Department.name) == name.lower())
        if department is not None:
            clash = clash.where(Department.id != department.id)
        if db.session.scalar(clash) is not None:
            errors["name"] = [f"There is already a department called {name}."]
    if data.head_id is not None:
        head = db.session.get(Person, data.head_id)
        if head is None:
            errors["head_id"] = ["That person no longer exists."]
        elif head.status is PersonStatus.DEPARTED and (department is None or department.head_id != head.id):
            errors["head_id"] = [f"{head.name} has left the organisation; choose someone still here."]
    if errors:
        raise ValidationFailed(_NOT_SAVED, errors)


def _apply(department: Department, data: DepartmentData) -> None:
    department.name = data.name.strip()
    department.description = data.description.strip()
    department.head_id = data.head_id


def create_department(actor: Actor, data: DepartmentData) -> Department:
    """Add a department. Raises PermissionDenied or ValidationFailed (a taken name, an unknown head)."""
    permissions.require(permissions.can_edit_departments(actor), "Only HR and admins keep the departments.")
    _validate(data)
    department = Department()
    _apply(department, data)
    db.session.add(department)
    db.session.flush()
    db.session.expire(department, ["head"])  # head_id was set directly; reload the person for the snapshot
    audit.record_event(
        actor,
        "department.create",
        "department",
        department.id,
        f"Added department {department.name}",
        None,
        _snapshot(department),
    )
    return department


def update_department(actor: Actor, department: Department, data: DepartmentData, expected_version: int) -> Department:
    """Edit a department made from ``expected_version``. Raises PermissionDenied, StaleEdit or ValidationFailed."""
    permissions.require(permissions.can_edit_departments(actor), "Only HR and admins keep the departments.")
    if department.version != expected_version:
        raise StaleEdit(f"The department “{department.name}”", audit.changes_since("department", department.id, expected_version))
    _validate(data, department)
    before = _snapshot(department)
    _apply(department, data)
    db.session.flush()
    db.session.expire(department, ["head"])  # head_id was set directly; reload the person for the snapshot
    after = _snapshot(department)
    if {k: v for k, v in before.items() if k != "version"} != {k: v for k, v in after.items() if k != "version"}:
        audit.record_event(
            actor, "department.update", "department", department.id, f"Edited department {department.name}", before, after
        )
    return department
