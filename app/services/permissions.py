"""Who may do what. Object-level rules live here so every door applies the same ones.

Role summary (DESIGN.md): director and hr read the registry; hr keeps the staff list; it and
admin keep the inventory; staff see and edit only the accounts they steward.
"""

from __future__ import annotations

from app.models.account import Account
from app.models.user import Role
from app.services.context import Actor
from app.services.errors import NotFound, PermissionDenied

#: Roles that read the whole registry.
READERS = (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
#: Roles that edit accounts, profiles and platforms.
INVENTORY_EDITORS = (Role.ADMIN, Role.IT)
#: Roles that keep the staff list and departments.
STAFF_LIST_EDITORS = (Role.ADMIN, Role.HR)
#: Roles that read the audit log.
AUDITORS = (Role.ADMIN, Role.DIRECTOR)


def can_read_registry(actor: Actor) -> bool:
    return actor.has_role(*READERS)


def can_edit_inventory(actor: Actor) -> bool:
    return actor.has_role(*INVENTORY_EDITORS)


def can_edit_people(actor: Actor) -> bool:
    return actor.has_role(*STAFF_LIST_EDITORS)


def can_edit_departments(actor: Actor) -> bool:
    """Departments are part of the staff list: HR keeps them."""
    return actor.has_role(*STAFF_LIST_EDITORS)


def can_read_audit(actor: Actor) -> bool:
    return actor.has_role(*AUDITORS)


def stewards(actor: Actor, account: Account) -> bool:
    return actor.person_id is not None and account.steward_id == actor.person_id


def can_view_account(actor: Actor, account: Account) -> bool:
    return can_read_registry(actor) or stewards(actor, account)


def can_edit_account(actor: Actor, account: Account) -> bool:
    return can_edit_inventory(actor) or (actor.has_role(Role.STAFF) and stewards(actor, account))


def can_view_person(actor: Actor, person_id: int) -> bool:
    return can_read_registry(actor) or actor.person_id == person_id


def require_visible(visible: bool, missing: NotFound) -> None:
    """Raise ``missing`` (the very error a missing id gets) unless the actor may see the object.

    A role that may use a page but not see this one object is answered as if the id did not exist:
    same status (404), same words, so ids cannot be probed. A role that can never use the page is
    refused with ``require`` (403) instead.
    """
    if not visible:
        raise missing


def require(allowed: bool, message: str = "Your role does not allow this.") -> None:
    """Raise PermissionDenied unless ``allowed``."""
    if not allowed:
        raise PermissionDenied(message)
