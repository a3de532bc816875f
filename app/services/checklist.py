"""Working an offboarding checklist: completing, confirming and waiving items, and closing cases.

Completing an item applies it (DESIGN.md "Offboarding"): the registry change goes through the
existing services (so their validation and audit events happen), the item is marked and its
``outcome`` records what changed by labels (never a secret), and an audit event names who did
it — all in the caller's transaction. Nothing here commits; the door commits on success and
rolls back on any exception, so a failure at any write step leaves the database as it was.
Everything that can be refused is checked before the first write.

Who may work an item: its assignee (a person), anyone holding its assignee role ("it", "hr",
"admin"), or an admin. The assignment is the authority for the registry change the item makes,
so the services are called as the same person with the inventory rights the change needs
(``_as_inventory_editor``): the audit log still names the real person. Secrets are the exception:
rotating goes through the vault's own rule (IT, admin or the profile's custodian), because
whoever types the new value knows it, and directors and HR must never know a secret.

Transfers of ownership and of admin roles end *awaiting confirmation* until the receiving side
(the successor, or the custodian of the receiving profile) confirms they have control.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.account import Account, RecoveryKind
from app.models.base import utcnow
from app.models.credential import CredentialNote
from app.models.offboarding import CaseStatus, ChecklistItem, ItemKind, ItemStatus, OffboardingCase
from app.models.person import Person
from app.models.platform import Platform
from app.models.profile import Profile, ProfileKind
from app.models.user import Role, User
from app.services import accounts, audit, credentials, permissions, profiles, users
from app.services.accounts import AccountData
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed

#: Roles that may waive an item (DESIGN.md: "only by a director or admin, with a reason").
WAIVERS = (Role.DIRECTOR, Role.ADMIN)
#: Roles that may close a case: HR runs offboarding; admins can do everything.
CLOSERS = (Role.HR, Role.ADMIN)
#: Receiving profiles a transfer prefers; a personal profile of an active person is also accepted.
PREFERRED_RECEIVERS = (ProfileKind.ORGANISATION, ProfileKind.PERSONA)
#: Profiles a connection may be re-authorised through (DESIGN.md: an organisation profile; a persona also survives a leaver).
CONNECTION_PROFILES = (ProfileKind.ORGANISATION, ProfileKind.PERSONA)
MIN_WAIVE_REASON = 5
#: Fields of an item recorded in its audit events; ``changes_since`` reads them for stale-edit messages.
ITEM_SNAPSHOT_FIELDS = ("status", "completed_by_name", "confirmed_by_name", "waived_reason", "version")
REPORT_HEADER = (
    "Item",
    "Kind",
    "Status",
    "Held before",
    "Held now",
    "Done by",
    "Done at",
    "Confirmed by",
    "Confirmed at",
    "Waived because",
)

_NOT_SAVED = "Some fields need attention; nothing was saved."


@dataclass
class Completion:
    """What completing an item did: the item, and any accounts an exit declaration created (for a refresh)."""

    item: ChecklistItem
    created_accounts: list[Account] = field(default_factory=list)


# --- Permissions and checks ---------------------------------------------------------------


def can_work(actor: Actor, item: ChecklistItem) -> bool:
    """The item's assignee, anyone holding its assignee role, or an admin."""
    if actor.has_role(Role.ADMIN):
        return True
    if item.assignee_id is not None and actor.person_id == item.assignee_id:
        return True
    return bool(item.assignee_role) and actor.role is not None and actor.role.value == item.assignee_role


def can_confirm(actor: Actor, item: ChecklistItem) -> bool:
    """The receiving side (the confirmer), or an admin."""
    if actor.has_role(Role.ADMIN):
        return True
    return item.confirmer_id is not None and actor.person_id == item.confirmer_id


def can_waive(actor: Actor) -> bool:
    return actor.has_role(*WAIVERS)


def can_close(actor: Actor) -> bool:
    return actor.has_role(*CLOSERS)


def _as_inventory_editor(actor: Actor) -> Actor:
    """The same person (same name and user id in the audit log), with the rights the item's change needs."""
    return dataclasses.replace(actor, role=Role.ADMIN) if not permissions.can_edit_inventory(actor) else actor


def _item_snapshot(item: ChecklistItem) -> dict[str, Any]:
    return audit.snapshot(item, ITEM_SNAPSHOT_FIELDS)


def _lock(item: ChecklistItem) -> None:
    """Take the item's row for this transaction and reload it if someone changed it meanwhile.

    Two people submitting the same item at once both pass a version check made on what they
    loaded; without the lock the second would apply its registry change on stale state before the
    version column refused the item's update. With it, the second waits for the first to commit,
    then sees the new version and gets StaleEdit naming who did it, before anything is written.
    PostgreSQL: SELECT … FOR UPDATE. SQLite: a no-op UPDATE takes the database's write lock.
    """
    if item.id is None:
        return
    table = ChecklistItem.__table__
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.text("UPDATE checklist_items SET version = version WHERE id = :id"), {"id": item.id})
        current = db.session.execute(sa.select(table.c.version).where(table.c.id == item.id)).scalar()
    else:
        current = db.session.execute(sa.select(table.c.version).where(table.c.id == item.id).with_for_update()).scalar()
    if current is not None and current != item.version:
        db.session.refresh(item)


def _check_version(item: ChecklistItem, expected_version: int) -> None:
    """StaleEdit if the item changed after the form was loaded, saying what happened and who did it."""
    _lock(item)
    if item.version != expected_version:
        changes = audit.changes_since("checklist_item", item.id, expected_version)
        raise StaleEdit(f"The checklist item “{item.title}”", changes)


def _check_workable(item: ChecklistItem) -> None:
    if item.case.status is not CaseStatus.OPEN:
        raise ValidationFailed(f"This case is {item.case.status.value}; its items can no longer be changed.")
    if item.status.is_finished:
        who = item.completed_by_name or "someone"
        when = item.completed_at.strftime("%Y-%m-%d %H:%M UTC") if item.completed_at else ""
        verb = "waived" if item.status is ItemStatus.WAIVED else "done"
        raise ValidationFailed(f"“{item.title}” was already {verb} by {who}{' on ' + when if when else ''}; nothing was changed.")


def _fail(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(_NOT_SAVED, {field_name: [message]})


def _int(data: Mapping[str, Any], name: str, what: str) -> int:
    value = data.get(name)
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise _fail(name, f"Choose {what}.")
    return number


def _text(data: Mapping[str, Any], name: str, message: str) -> str:
    value = str(data.get(name) or "").strip()
    if not value:
        raise _fail(name, message)
    return value


def _account(item: ChecklistItem) -> Account:
    if item.account is None:
        raise ValidationFailed(
            "The account this item is about no longer exists. Ask a director or admin to waive the item with a reason."
        )
    return item.account


def _account_data(account: Account, **changes: Any) -> AccountData:
    """The account as it is, as form data, with ``changes`` applied."""
    values = {f.name: getattr(account, f.name) for f in dataclasses.fields(AccountData)}
    values.update(changes)
    return AccountData(**values)


def _active_person(person_id: int, name: str, leaver: Person) -> Person:
    person = db.session.get(Person, person_id)
    if person is None:
        raise _fail(name, "That person no longer exists.")
    if person.id == leaver.id:
        raise _fail(name, f"{person.name} is the person leaving; choose someone staying.")
    if person.has_left:
        raise _fail(name, f"{person.name} is {person.status.value}; choose someone staying.")
    return person


def _successor(profile: Profile, account: Account) -> Person | None:
    """Who must confirm control of a receiving profile: its holder, its first active custodian, or the account's steward."""
    if profile.kind is ProfileKind.PERSONAL:
        return profile.holder
    if profile.kind.has_custodians:
        links = sorted(profile.custodian_links, key=lambda link: (link.since, link.id))
        return next((link.person for link in links if not link.person.has_left), None)
    steward = account.steward
    return steward if steward is not None and not steward.has_left else None


def _receiving_profile(data: Mapping[str, Any], name: str, account: Account, leaver: Person) -> Profile:
    profile = db.session.get(Profile, _int(data, name, "the profile that takes it over"))
    if profile is None:
        raise _fail(name, "That profile no longer exists.")
    if profile.platform_id != account.platform_id:
        raise _fail(name, f"Choose a {account.platform.name} profile; {profile.label} is on {profile.platform.name}.")
    if profile.kind is ProfileKind.PERSONAL:
        holder = profile.holder
        if holder is None or holder.id == leaver.id or holder.has_left:
            who = holder.name if holder else "nobody"
            raise _fail(
                name,
                f"{profile.label} is a personal profile of {who}, who is leaving or has left. "
                "Choose an organisation or persona profile (preferred), or a personal profile of someone staying.",
            )
    return profile


# --- Completing ---------------------------------------------------------------------------


def complete_item(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], expected_version: int) -> Completion:
    """Apply the item to the registry and mark it: DONE, or AWAITING_CONFIRMATION for a transfer.

    ``data`` is the item's small form (see each kind). Raises PermissionDenied, StaleEdit (with
    who changed the item since), ValidationFailed (field errors) or NotFound. Flushes only; the
    caller's transaction commits or rolls back the change, the item and the audit events together.
    """
    permissions.require(
        can_work(actor, item), "This item is assigned to someone else; only they, their team or an admin can do it."
    )
    _check_version(item, expected_version)
    _check_workable(item)
    if item.status is ItemStatus.AWAITING_CONFIRMATION:
        raise ValidationFailed(
            f"“{item.title}” was applied by {item.completed_by_name}; it is waiting for "
            f"{item.confirmer.name if item.confirmer else 'an admin'} to confirm they have control."
        )
    handler = _HANDLERS[item.kind]
    before = _item_snapshot(item)
    created: list[Account] = []
    outcome, awaiting = handler(actor, item, data, created)
    item.outcome = outcome
    item.completed_at = utcnow()
    item.completed_by_name = actor.name
    item.status = ItemStatus.AWAITING_CONFIRMATION if awaiting else ItemStatus.DONE
    db.session.flush()
    waiting = f"; awaiting confirmation by {item.confirmer.name if item.confirmer else 'an admin'}" if awaiting else ""
    audit.record_event(
        actor,
        "offboarding.item.complete",
        "checklist_item",
        item.id,
        f"Completed “{item.title}”{waiting}",
        before,
        {**_item_snapshot(item), "outcome": outcome},
    )
    return Completion(item=item, created_accounts=created)


Outcome = tuple[dict[str, Any], bool]


def _transfer_ownership(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: new_owner_profile_id. The successor (or the receiving profile's custodian) then confirms."""
    account = _account(item)
    leaver = item.case.person
    profile = _receiving_profile(data, "new_owner_profile_id", account, leaver)
    if account.owner_profile_id == profile.id:
        raise _fail("new_owner_profile_id", f"{profile.label} already owns {account.name}.")
    previous = account.owner_profile.label if account.owner_profile else None
    successor = _successor(profile, account)
    accounts.update_account(
        _as_inventory_editor(actor), account, _account_data(account, owner_profile_id=profile.id), account.version
    )
    item.confirmer_id = successor.id if successor else None
    item.confirmer = successor
    return {
        "account": account.name,
        "from": previous,
        "to": profile.label,
        "to_kind": profile.kind.label,
        "confirmer": successor.name if successor else None,
    }, True


def _add_admin(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: profile_id, role_name. The receiving side then confirms they have control."""
    account = _account(item)
    profile = _receiving_profile(data, "profile_id", account, item.case.person)
    role_name = _text(data, "role_name", "Name the role.")
    successor = _successor(profile, account)
    admin = accounts.add_admin(_as_inventory_editor(actor), account, profile.id, role_name)
    item.confirmer_id = successor.id if successor else None
    item.confirmer = successor
    return {
        "account": account.name,
        "from": None,
        "to": f"{profile.label} ({admin.role_name})",
        "role": admin.role_name,
        "confirmer": successor.name if successor else None,
    }, True


def _remove_admin(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    account = _account(item)
    admin = next((a for a in account.admins if a.id == item.admin_id), None) if item.admin_id else None
    if admin is None:
        raise NotFound("That role is no longer on this account; someone may have removed it already. Ask to waive this item.")
    pending = [
        other
        for other in item.case.items
        if other.kind is ItemKind.ADD_ADMIN
        and other.account_id == account.id
        and other.status not in (ItemStatus.DONE, ItemStatus.WAIVED)
    ]
    if pending:
        raise ValidationFailed(
            f"First complete “{pending[0].title}”: the new admin must confirm control of {account.name} "
            "before this role is removed."
        )
    if len(account.admins) <= 1:
        raise ValidationFailed(
            f"{admin.profile.label} is the only admin of {account.name}. Complete the “add an admin” item first, "
            "so the account is not left without an admin."
        )
    held = f"{admin.profile.label} ({admin.role_name})"
    accounts.remove_admin(_as_inventory_editor(actor), account, admin.id)
    remaining = sorted(f"{a.profile.label} ({a.role_name})" for a in account.admins)
    return {"account": account.name, "from": held, "to": ", ".join(remaining)}, False


def _replace_recovery(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: kind (email/phone/…), value, person_id (optional). Adds the new contact, then removes the old one."""
    account = _account(item)
    leaver = item.case.person
    raw_kind = data.get("kind")
    try:
        kind = raw_kind if isinstance(raw_kind, RecoveryKind) else RecoveryKind(str(raw_kind or ""))
    except ValueError:
        raise _fail("kind", "Choose what kind of contact it is.") from None
    value = _text(data, "value", "Give the address, number or name.")
    person_id = data.get("person_id") or None
    tied = (
        db.session.get(Person, _int(data, "person_id", "a person"))
        if person_id
        else accounts._match_person(kind, value)  # the same rule the service uses to tie a contact to a person
    )
    if person_id and tied is None:
        raise _fail("person_id", "That person no longer exists.")
    if tied is not None and (tied.id == leaver.id or tied.has_left):
        raise _fail("value", f"This contact belongs to {tied.name}, who is leaving or has left; give an institutional one.")
    old = next((c for c in account.recovery_contacts if c.id == item.recovery_contact_id), None)
    if old is None:
        raise NotFound(
            "That recovery contact is no longer on this account; someone may have replaced it. Ask to waive this item."
        )
    editor = _as_inventory_editor(actor)
    held = _contact_text(old)
    new = accounts.add_recovery_contact(editor, account, kind, value, person_id=tied.id if tied else None)
    accounts.remove_recovery_contact(editor, account, old.id)
    item.recovery_contact_id = new.id
    return {
        "account": account.name,
        "from": held,
        "to": _contact_text(new),
        "tied_to": tied.name if tied else None,
    }, False


def _contact_text(contact: Any) -> str:
    """A recovery contact for the handover report: a person's own email or phone by description only."""
    shown = accounts.recorded_value(contact.kind, contact.value, contact.person)
    return shown if shown != contact.value else f"{contact.kind.label} {contact.value}"


def _rotate_credential(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: new_secret, reason. Through the vault's rotate, under the vault's own rule (never elevated)."""
    note = db.session.get(CredentialNote, item.note_id) if item.note_id else None
    if note is None:
        raise ValidationFailed("The credential note this item is about no longer exists. Ask to waive the item.")
    reason = str(data.get("reason") or "").strip() or f"{item.case.person.name} is leaving"
    credentials.rotate_note(actor, note, str(data.get("new_secret") or ""), reason)
    return {
        "credential": note.label,
        "holder": note.holder_label,
        "from": None,
        "to": f"rotated {note.rotated_at.date().isoformat()}",
    }, False


def _reassign_custodian(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: new_person_id. Adds the new custodian (unless they already are one), then removes the leaver."""
    profile = item.profile
    if profile is None:
        raise ValidationFailed("The profile this item is about no longer exists. Ask to waive the item.")
    leaver = item.case.person
    person = _active_person(_int(data, "new_person_id", "who keeps the profile now"), "new_person_id", leaver)
    leaver_link = next((link for link in profile.custodian_links if link.person_id == leaver.id), None)
    editor = _as_inventory_editor(actor)
    if not any(link.person_id == person.id for link in profile.custodian_links):
        profiles.add_custodian(editor, profile, person.id)
    if leaver_link is not None:
        profiles.remove_custodian(editor, profile, leaver_link.id)
    return {"profile": profile.label, "from": leaver.name, "to": person.name}, False


def _reassign_steward(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: new_person_id."""
    account = _account(item)
    person = _active_person(_int(data, "new_person_id", "who stewards the account now"), "new_person_id", item.case.person)
    previous = account.steward.name if account.steward else None
    if account.steward_id != person.id:
        accounts.update_account(
            _as_inventory_editor(actor), account, _account_data(account, steward_id=person.id), account.version
        )
    return {"account": account.name, "from": previous, "to": person.name}, False


def _reauthorise_connection(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: profile_id (organisation or persona). The connection is removed and recorded again through it."""
    account = _account(item)
    connection = next((c for c in account.connections if c.id == item.connection_id), None) if item.connection_id else None
    if connection is None:
        raise NotFound("That connection is no longer on this account; someone may have removed it. Ask to waive this item.")
    profile = db.session.get(Profile, _int(data, "profile_id", "the profile to authorise it through"))
    if profile is None:
        raise _fail("profile_id", "That profile no longer exists.")
    if profile.kind not in CONNECTION_PROFILES:
        raise _fail(
            "profile_id",
            f"Authorise it through an organisation or persona profile; {profile.label} is {profile.kind.label.lower()}.",
        )
    if profile.platform_id != account.platform_id:
        raise _fail("profile_id", f"Choose a {account.platform.name} profile; {profile.label} is on {profile.platform.name}.")
    held = connection.profile.label if connection.profile else None
    tool, purpose = connection.tool_name, connection.purpose
    editor = _as_inventory_editor(actor)
    accounts.remove_connection(editor, account, connection.id)
    new = accounts.add_connection(editor, account, tool, profile.id, purpose)
    item.connection_id = new.id
    return {"account": account.name, "tool": tool, "from": held, "to": profile.label}, False


def _hand_over_audience(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: note (what followers were told, and where to go)."""
    note = _text(data, "note", "Say what followers were told and where they were sent.")
    return {"profile": item.profile.label if item.profile else None, "from": item.case.person.name, "to": note}, False


def _exit_declaration(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: declared — a list of {name, platform_id, url[, handle, purpose]}; may be empty ("nothing else").

    Each declared account becomes a registry account stewarded by the leaver's manager (or their
    department's head); the caller refreshes the case so it gets its own items.
    """
    leaver = item.case.person
    declared = list(data.get("declared") or [])
    errors: dict[str, list[str]] = {}
    entries: list[AccountData] = []
    steward = next(
        (
            p
            for p in (leaver.manager, leaver.department.head if leaver.department else None)
            if p is not None and not p.has_left and p.id != leaver.id
        ),
        None,
    )
    for n, entry in enumerate(declared):
        name = str(entry.get("name") or "").strip()
        try:
            platform_id = int(entry.get("platform_id"))
        except (TypeError, ValueError):
            platform_id = 0
        if not name:
            errors.setdefault(f"declared-{n}-name", []).append("Give the account's name.")
        if db.session.get(Platform, platform_id) is None:
            errors.setdefault(f"declared-{n}-platform_id", []).append("Choose a platform from the list.")
        entries.append(
            AccountData(
                platform_id=platform_id,
                name=name,
                handle=str(entry.get("handle") or ""),
                url=str(entry.get("url") or ""),
                purpose=str(entry.get("purpose") or f"Declared by {leaver.name} when leaving"),
                department_id=leaver.department_id,
                steward_id=steward.id if steward else None,
            )
        )
    if errors:
        raise ValidationFailed(_NOT_SAVED, errors)
    editor = _as_inventory_editor(actor)
    for entry_data in entries:
        created.append(accounts.create_account(editor, entry_data))
    return {
        "from": leaver.name,
        "to": steward.name if steward else None,
        "declared": [{"account": a.name, "platform": a.platform.name, "url": a.url} for a in created],
        #: Read by offboarding.generate_items: each declared account gets its own item on refresh.
        "account_ids": [a.id for a in created],
    }, False


def _deactivate_sign_in(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    user = db.session.get(User, item.user_id) if item.user_id else None
    if user is None:
        raise ValidationFailed("The sign-in this item is about no longer exists. Ask to waive the item.")
    if user.active:
        users.deactivate_user(actor, user, f"{item.case.person.name} is leaving (offboarding case {item.case_id})")
    return {"sign_in": user.email, "from": "active", "to": "deactivated"}, False


def _custom(actor: Actor, item: ChecklistItem, data: Mapping[str, Any], created: list[Account]) -> Outcome:
    """data: note (optional)."""
    return {"from": None, "to": str(data.get("note") or "").strip() or "done"}, False


_HANDLERS = {
    ItemKind.TRANSFER_OWNERSHIP: _transfer_ownership,
    ItemKind.ADD_ADMIN: _add_admin,
    ItemKind.REMOVE_ADMIN: _remove_admin,
    ItemKind.REPLACE_RECOVERY: _replace_recovery,
    ItemKind.ROTATE_CREDENTIAL: _rotate_credential,
    ItemKind.REASSIGN_CUSTODIAN: _reassign_custodian,
    ItemKind.REASSIGN_STEWARD: _reassign_steward,
    ItemKind.REAUTHORISE_CONNECTION: _reauthorise_connection,
    ItemKind.HAND_OVER_AUDIENCE: _hand_over_audience,
    ItemKind.EXIT_DECLARATION: _exit_declaration,
    ItemKind.DEACTIVATE_SIGN_IN: _deactivate_sign_in,
    ItemKind.CUSTOM: _custom,
}


# --- Confirming and waiving ---------------------------------------------------------------


def confirm_item(actor: Actor, item: ChecklistItem, expected_version: int) -> ChecklistItem:
    """The receiving side confirms they have control of a transfer: AWAITING_CONFIRMATION → DONE."""
    permissions.require(
        can_confirm(actor, item),
        f"Only {item.confirmer.name if item.confirmer else 'an admin'} (who receives it) or an admin can confirm this.",
    )
    _check_version(item, expected_version)
    _check_workable(item)
    if item.status is not ItemStatus.AWAITING_CONFIRMATION:
        raise ValidationFailed(f"“{item.title}” is not waiting for a confirmation; complete it first.")
    before = _item_snapshot(item)
    item.status = ItemStatus.DONE
    item.confirmed_at = utcnow()
    item.confirmed_by_name = actor.name
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding.item.confirm",
        "checklist_item",
        item.id,
        f"{actor.name} confirmed control: “{item.title}”",
        before,
        _item_snapshot(item),
    )
    return item


def waive_item(actor: Actor, item: ChecklistItem, reason: str, expected_version: int) -> ChecklistItem:
    """Mark an item not needed (director or admin only), with a reason kept on the item and in the audit log."""
    permissions.require(can_waive(actor), "Only a director or an admin can waive an item.")
    _check_version(item, expected_version)
    _check_workable(item)
    reason = (reason or "").strip()
    if len(reason) < MIN_WAIVE_REASON:
        raise _fail("reason", "Say why this item is not needed.")
    before = _item_snapshot(item)
    item.status = ItemStatus.WAIVED
    item.waived_reason = reason
    item.completed_at = utcnow()
    item.completed_by_name = actor.name
    item.outcome = {**(item.outcome or {}), "waived": True}
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding.item.waive",
        "checklist_item",
        item.id,
        f"Waived “{item.title}”: {reason}",
        before,
        _item_snapshot(item),
    )
    return item


# --- Closing ------------------------------------------------------------------------------


def _still_held(person: Person) -> list[str]:
    from app.services.offboarding import holds_nothing  # written alongside; imported late to avoid a cycle

    return list(holds_nothing(person))


def close_case(actor: Actor, case: OffboardingCase, expected_version: int | None = None) -> OffboardingCase:
    """Close a case whose items are all done or waived and whose person, on a fresh scan, holds nothing.

    Freezes ``case.report`` (the handover report). Raises PermissionDenied, StaleEdit or
    ValidationFailed listing what is left.
    """
    permissions.require(can_close(actor), "Only HR or an admin can close an offboarding case.")
    if expected_version is not None and case.version != expected_version:
        raise StaleEdit(
            f"The offboarding case of {case.person.name}", audit.changes_since("offboarding_case", case.id, expected_version)
        )
    if case.status is not CaseStatus.OPEN:
        raise ValidationFailed(f"This case is already {case.status.value}.")
    left = [
        f"Item not finished: {item.title} ({item.status.value.replace('_', ' ')})"
        for item in case.items
        if not item.status.is_finished
    ]
    left += [f"Still held: {what}" for what in _still_held(case.person)]
    if left:
        raise ValidationFailed(
            f"The case cannot close yet; {len(left)} thing{'s' if len(left) != 1 else ''} left: " + "; ".join(left),
            {"case": left},
        )
    before = audit.snapshot(case, ("status", "version"))
    case.status = CaseStatus.CLOSED
    case.closed_at = utcnow()
    case.report = handover_report(case, actor)
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding.case.close",
        "offboarding_case",
        case.id,
        f"Closed the offboarding case of {case.person.name}",
        before,
        audit.snapshot(case, ("status", "version")),
    )
    return case


def handover_report(case: OffboardingCase, actor: Actor) -> dict[str, Any]:
    """What the person held, who holds it now, who did each step and when — from the items' outcomes."""
    rows = []
    for item in case.items:
        outcome = item.outcome or {}
        rows.append(
            {
                "title": item.title,
                "kind": item.kind.value,
                "kind_label": item.kind.label,
                "status": item.status.value,
                "held": outcome.get("from"),
                "now": outcome.get("to"),
                "outcome": outcome,
                "done_by": item.completed_by_name or None,
                "done_at": audit.plain(item.completed_at),
                "confirmed_by": item.confirmed_by_name or None,
                "confirmed_at": audit.plain(item.confirmed_at),
                "waived_reason": item.waived_reason or None,
            }
        )
    return {
        "person": case.person.name,
        "last_day": audit.plain(case.last_day),
        "reason": case.reason,
        "started_by": case.started_by_name,
        "started_at": audit.plain(case.created_at),
        "closed_by": actor.name,
        "closed_at": audit.plain(case.closed_at),
        "items": rows,
    }


def handover_report_rows(case: OffboardingCase) -> list[list[Any]]:
    """The frozen report as CSV rows (write them with ``exports.to_csv(REPORT_HEADER, rows)``)."""
    report = case.report
    if report is None:
        raise NotFound("This case has no handover report yet; it is produced when the case closes.")
    rows: list[list[Any]] = []
    for row in report.get("items", []):
        rows.append(
            [
                row.get("title"),
                row.get("kind_label"),
                row.get("status"),
                row.get("held"),
                row.get("now"),
                row.get("done_by"),
                row.get("done_at"),
                row.get("confirmed_by"),
                row.get("confirmed_at"),
                row.get("waived_reason"),
            ]
        )
    return rows
