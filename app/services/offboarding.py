"""Offboarding: starting a case for a leaver and generating its checklist from their footprint.

Completing items lives in ``app.services.checklist``. Here: start, generate, refresh, cancel, the
fresh "what do they still hold" scan, the daily tick that makes leavers departed, and "my tasks".
Services never commit: the door (page, API, CLI) does, once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus
from app.models.base import utcnow
from app.models.credential import CredentialNote, CredentialReveal
from app.models.offboarding import (
    CaseStatus,
    ChecklistItem,
    ItemKind,
    ItemStatus,
    OffboardingCase,
    OffboardingTemplateItem,
)
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileKind
from app.models.user import Role, User
from app.services import audit, people, reviews, users
from app.services.context import Actor
from app.services.errors import DomainError, PermissionDenied, ValidationFailed
from app.services.pagination import Page

#: How a case may be started (OffboardingCase.started_via).
VIA = ("web", "api", "scim", "csv")
#: Who starts and cancels cases.
CASE_KEEPERS = (Role.ADMIN, Role.HR)
#: Who may refresh a case (pick up links added while it is open).
REFRESHERS = (Role.ADMIN, Role.HR, Role.IT)
#: Role queues an item can be assigned to when no person fits.
QUEUES = ("it", "hr", "admin")

#: Days before the last day that the registry changes are due (never before today).
CHANGES_BEFORE = 3
#: Connections and "add an admin" come a day earlier: a tool authorised through the leaver's
#: login breaks (scheduled posts fail) once their role is removed, and an account must never be
#: left without an admin.
FIRST_STEPS_BEFORE = 4
#: The exit declaration is due this many days before the last day (never before today).
DECLARATION_BEFORE = 5
#: Credentials are rotated the day after the last day (the leaver can no longer read the new value).
ROTATE_AFTER = 1

#: Order of kinds within one account's (or profile's) group of items.
KIND_ORDER = {
    kind: rank
    for rank, kind in enumerate(
        (
            ItemKind.ADD_ADMIN,
            ItemKind.REAUTHORISE_CONNECTION,
            ItemKind.TRANSFER_OWNERSHIP,
            ItemKind.REPLACE_RECOVERY,
            ItemKind.REMOVE_ADMIN,
            ItemKind.REASSIGN_CUSTODIAN,
            ItemKind.REASSIGN_STEWARD,
            ItemKind.ROTATE_CREDENTIAL,
            ItemKind.HAND_OVER_AUDIENCE,
            ItemKind.EXIT_DECLARATION,
            ItemKind.DEACTIVATE_SIGN_IN,
            ItemKind.CUSTOM,
        )
    )
}


class CaseAlreadyOpen(DomainError):
    """The person already has an open case; ``case`` is it, so the door can show it."""

    status = 409

    def __init__(self, case: OffboardingCase):
        super().__init__(
            f"{case.person.name} already has an open offboarding case (last day {case.last_day:%d %b %Y}); "
            "nothing new was started."
        )
        self.case = case


class CaseNotOpen(DomainError):
    """The case is closed or cancelled: it can no longer change."""

    status = 409

    def __init__(self, case: OffboardingCase):
        super().__init__(f"This offboarding case is {case.status.value}; it can no longer change.")
        self.case = case


# --- Reading ------------------------------------------------------------------------------


def open_case_of(person: Person) -> OffboardingCase | None:
    return db.session.scalar(
        sa.select(OffboardingCase).where(OffboardingCase.person_id == person.id, OffboardingCase.status == CaseStatus.OPEN)
    )


#: Checklist items on one page of a case, as many as every other list shows: a case's page costs
#: the same for a leaver who held 30 things as for one who held 2,000, and each item carries a form.
CHECKLIST_PAGE = 25


@dataclass(frozen=True, slots=True)
class ItemAccount:
    """The account a checklist item is about, as the case page shows it and its form needs it."""

    id: int
    name: str
    platform_id: int
    platform_name: str
    #: The platform's role names (the form that records a new admin offers them).
    role_names: list[str]


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    """A checklist item as the case page lists it: the item's own values under their names, and
    what it is about and who works it as plain values (read as rows: 25 items as objects, with
    their accounts, platforms and people, took four times as long, 1.5 ms against 0.38 at
    200,000 accounts)."""

    id: int
    version: int
    kind: ItemKind
    status: ItemStatus
    title: str
    due_on: date
    account_id: int | None
    profile_id: int | None
    note_id: int | None
    assignee_id: int | None
    assignee_role: str | None
    confirmer_id: int | None
    completed_at: datetime | None
    completed_by_name: str
    confirmed_at: datetime | None
    confirmed_by_name: str
    waived_reason: str
    outcome: dict[str, Any] | None
    account: ItemAccount | None
    profile: people.ProfileRef | None
    assignee: people.PersonRef | None
    confirmer: people.PersonRef | None


#: The item's own columns, in ChecklistLine's order.
_LINE_COLUMNS = (
    ChecklistItem.id,
    ChecklistItem.version,
    ChecklistItem.kind,
    ChecklistItem.status,
    ChecklistItem.title,
    ChecklistItem.due_on,
    ChecklistItem.account_id,
    ChecklistItem.profile_id,
    ChecklistItem.note_id,
    ChecklistItem.assignee_id,
    ChecklistItem.assignee_role,
    ChecklistItem.confirmer_id,
    ChecklistItem.completed_at,
    ChecklistItem.completed_by_name,
    ChecklistItem.confirmed_at,
    ChecklistItem.confirmed_by_name,
    ChecklistItem.waived_reason,
    ChecklistItem.outcome,
)
_Assignee, _Confirmer = aliased(Person, name="assignee"), aliased(Person, name="confirmer")

#: The case's items in checklist order, with what the case page shows of each (account and its
#: platform, profile, assignee, confirmer) joined into the items' statement: each is one row's
#: key, and more statements with IN lists cost more than the joins.
_CHECKLIST = (
    sa.select(
        *_LINE_COLUMNS,
        Account.name,
        Account.platform_id,
        Platform.name,
        Platform.role_names,
        Profile.name,
        Profile.handle,
        Profile.kind,
        _Assignee.name,
        _Assignee.status,
        _Confirmer.name,
        _Confirmer.status,
    )
    .select_from(ChecklistItem)
    .outerjoin(Account, Account.id == ChecklistItem.account_id)
    .outerjoin(Platform, Platform.id == Account.platform_id)
    .outerjoin(Profile, Profile.id == ChecklistItem.profile_id)
    .outerjoin(_Assignee, _Assignee.id == ChecklistItem.assignee_id)
    .outerjoin(_Confirmer, _Confirmer.id == ChecklistItem.confirmer_id)
    .where(ChecklistItem.case_id == sa.bindparam("case_id"))
    .order_by(ChecklistItem.position, ChecklistItem.id)
    .offset(sa.bindparam("skip"))
    .limit(sa.bindparam("rows"))
)


def _checklist_line(row: sa.Row[Any]) -> ChecklistLine:
    (
        account_name,
        platform_id,
        platform_name,
        role_names,
        profile_name,
        profile_handle,
        profile_kind,
        assignee_name,
        assignee_status,
        confirmer_name,
        confirmer_status,
    ) = row[len(_LINE_COLUMNS) :]
    return ChecklistLine(
        *row[: len(_LINE_COLUMNS)],
        account=ItemAccount(row.account_id, account_name, platform_id, platform_name, role_names or [])
        if account_name is not None
        else None,
        profile=people.ProfileRef(row.profile_id, profile_name, profile_handle, profile_kind)
        if profile_name is not None
        else None,
        assignee=people.PersonRef(row.assignee_id, assignee_name, assignee_status) if assignee_name is not None else None,
        confirmer=people.PersonRef(row.confirmer_id, confirmer_name, confirmer_status) if confirmer_name is not None else None,
    )


def checklist_page(case: OffboardingCase, page: int, total: int, per_page: int | None = None) -> Page[ChecklistLine]:
    """One page of the case's ``total`` items in checklist order (``per_page``, CHECKLIST_PAGE by
    default; a page past the end is the last one), as the case page shows them. The total is the
    caller's (the case page counts the items by status for its progress anyway)."""
    per_page = per_page or CHECKLIST_PAGE
    page = min(max(1, page), max(1, -(-total // per_page)))
    rows = db.session.execute(_CHECKLIST, {"case_id": case.id, "skip": (page - 1) * per_page, "rows": per_page})
    return Page(items=[_checklist_line(row) for row in rows], total=total, page=page, per_page=per_page)


def page_of_item(item: ChecklistItem, per_page: int | None = None) -> int:
    """The page of its case on which ``item`` is shown (pages of ``per_page``, CHECKLIST_PAGE by default)."""
    per_page = per_page or CHECKLIST_PAGE
    before = db.session.scalar(
        sa.select(sa.func.count()).where(
            ChecklistItem.case_id == item.case_id,
            sa.or_(
                ChecklistItem.position < item.position,
                sa.and_(ChecklistItem.position == item.position, ChecklistItem.id < item.id),
            ),
        )
    )
    return (before or 0) // per_page + 1


def item_counts(case: OffboardingCase) -> dict[ItemStatus, int]:
    """How many of the case's items are in each state."""
    return dict(
        db.session.execute(
            sa.select(ChecklistItem.status, sa.func.count())
            .where(ChecklistItem.case_id == case.id)
            .group_by(ChecklistItem.status)
        ).all()
    )


def finished_items(case: OffboardingCase) -> list[ChecklistItem]:
    """The case's items that were done, waived or confirmed (what its timeline tells), not the open ones."""
    return list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .where(
                ChecklistItem.case_id == case.id,
                sa.or_(ChecklistItem.completed_at.is_not(None), ChecklistItem.confirmed_at.is_not(None)),
            )
            .order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )


def involves(case: OffboardingCase, person_id: int) -> bool:
    """Whether the person is assigned an item of the case or confirms one."""
    return (
        db.session.scalar(
            sa.select(
                sa.select(ChecklistItem.id)
                .where(
                    ChecklistItem.case_id == case.id,
                    sa.or_(ChecklistItem.assignee_id == person_id, ChecklistItem.confirmer_id == person_id),
                )
                .exists()
            )
        )
        or False
    )


def _person_snapshot(person: Person) -> dict[str, object]:
    return audit.snapshot(person, ("status", "last_day", "left_on", "version"))


def _case_snapshot(case: OffboardingCase) -> dict[str, object]:
    return audit.snapshot(case, ("last_day", "reason", "status", "started_via", "version")) | {"person": case.person.name}


# --- Start, refresh, cancel ---------------------------------------------------------------


def start_case(
    actor: Actor, person: Person, last_day: date | None, reason: str = "", via: str = "web", *, today: date | None = None
) -> OffboardingCase:
    """Open an offboarding case for ``person`` and generate its checklist.

    Guarantees: the person is *leaving* with ``last_day`` (a person who has already departed —
    a late case — stays departed); their pending access reviews are passed on; every item of
    their footprint is on the case; each change has its audit event. Nothing is committed.

    Raises PermissionDenied (only HR and admins; API, SCIM and CSV callers pass a system actor),
    CaseAlreadyOpen (carrying the open case), or ValidationFailed (no last day; a past last day
    from the web, unless the person has already departed; an unknown ``via``).
    """
    if not actor.has_role(*CASE_KEEPERS):
        raise PermissionDenied("Only HR and admins start offboarding.")
    today = today or date.today()
    errors: dict[str, list[str]] = {}
    if via not in VIA:
        errors["via"] = [f"Unknown way of starting a case: {via!r}."]
    if last_day is None:
        errors["last_day"] = ["Give the last working day."]
    elif not isinstance(last_day, date):
        errors["last_day"] = ["Give the last working day as a date."]
    elif last_day < today and via == "web" and person.status is not PersonStatus.DEPARTED:
        errors["last_day"] = [
            f"The last day cannot be in the past (today is {today:%d %b %Y}). "
            "If they have already left, mark them departed first, then start a late case."
        ]
    if errors:
        raise ValidationFailed("The offboarding case was not started; nothing was saved.", errors)
    assert last_day is not None
    if (existing := open_case_of(person)) is not None:
        raise CaseAlreadyOpen(existing)

    case = OffboardingCase(
        person=person,
        last_day=last_day,
        reason=(reason or "").strip(),
        status=CaseStatus.OPEN,
        started_by_id=actor.user_id,
        started_by_name=actor.name,
        started_via=via,
    )
    db.session.add(case)
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding.start",
        "offboarding_case",
        case.id,
        f"Started offboarding {person.name} (last day {last_day:%d %b %Y}, via {via})",
        None,
        _case_snapshot(case),
    )

    if person.status is not PersonStatus.DEPARTED:
        before = _person_snapshot(person)
        person.status = PersonStatus.LEAVING
        person.last_day = last_day
        person.left_on = None
        db.session.flush()
        after = _person_snapshot(person)
        if before != after:
            audit.record_event(
                actor,
                "person.update",
                "person",
                person.id,
                f"Marked {person.name} as leaving (last day {last_day:%d %b %Y}): offboarding started",
                before,
                after,
            )
    reviews.reassign_tasks_of(person, actor)
    _generate(case, today=today, actor=actor)
    return case


def refresh_case(actor: Actor, case: OffboardingCase, *, today: date | None = None) -> list[ChecklistItem]:
    """Add items for links added to the registry since the checklist was generated.

    Returns only the new items (existing ones, done or not, are never duplicated or changed).
    Raises PermissionDenied (HR, admins and IT only) or CaseNotOpen.
    """
    if not actor.has_role(*REFRESHERS):
        raise PermissionDenied("Only HR, IT and admins refresh an offboarding case.")
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpen(case)
    return generate_items(case, today=today, actor=actor)


def cancel_case(actor: Actor, case: OffboardingCase, reason: str) -> OffboardingCase:
    """Cancel an open case: it is no longer open; its items stay as they are (for the record).

    A person who is leaving is active again (last day cleared). A person who has already departed
    stays departed: cancelling the case does not bring anyone back (edit the person for that).
    Raises PermissionDenied (HR and admins only), CaseNotOpen, or ValidationFailed (no reason).
    """
    if not actor.has_role(*CASE_KEEPERS):
        raise PermissionDenied("Only HR and admins cancel offboarding.")
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpen(case)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the case is cancelled; nothing was saved.", {"reason": ["Say why the case is cancelled."]}
        )
    before = _case_snapshot(case)
    case.status = CaseStatus.CANCELLED
    case.cancelled_at = utcnow()
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding.cancel",
        "offboarding_case",
        case.id,
        f"Cancelled offboarding {case.person.name}: {reason}",
        before,
        _case_snapshot(case) | {"reason": reason},
    )
    person = case.person
    if person.status is PersonStatus.LEAVING:
        person_before = _person_snapshot(person)
        person.status = PersonStatus.ACTIVE
        person.last_day = None
        person.left_on = None
        db.session.flush()
        audit.record_event(
            actor,
            "person.update",
            "person",
            person.id,
            f"Marked {person.name} as active again: offboarding cancelled",
            person_before,
            _person_snapshot(person),
        )
    return case


def change_last_day(actor: Actor, case: OffboardingCase, last_day: date, reason: str = "", *, today: date | None = None) -> bool:
    """Move an open case's last day (HR changed it). Returns False when it already is that day
    (nothing changes, nothing is recorded).

    Guarantees: every unfinished item's due date moves by the same number of days (never before
    today), so each keeps its place relative to the last day; a *leaving* person's last day moves
    too (a departed person stays departed); one ``offboarding.last_day`` audit event.
    Raises PermissionDenied (HR and admins only), CaseNotOpen, or ValidationFailed (no date).
    """
    if not actor.has_role(*CASE_KEEPERS):
        raise PermissionDenied("Only HR and admins change an offboarding case's last day.")
    if case.status is not CaseStatus.OPEN:
        raise CaseNotOpen(case)
    if not isinstance(last_day, date):
        raise ValidationFailed("Give the last working day as a date; nothing was saved.", {"last_day": ["Give a date."]})
    if last_day == case.last_day:
        return False
    today = today or date.today()
    before = _case_snapshot(case)
    shift = last_day - case.last_day
    case.last_day = last_day
    moved = 0
    for item in case.items:
        if not item.status.is_finished:
            item.due_on = max(item.due_on + shift, today)
            moved += 1
    db.session.flush()
    reason = (reason or "").strip()
    audit.record_event(
        actor,
        "offboarding.last_day",
        "offboarding_case",
        case.id,
        f"Moved {case.person.name}'s last day from {before['last_day']} to {last_day:%d %b %Y}"
        f" ({moved} open item{'s' if moved != 1 else ''} rescheduled)" + (f": {reason}" if reason else ""),
        before,
        _case_snapshot(case) | ({"reason_for_change": reason} if reason else {}),
    )
    person = case.person
    if person.status is PersonStatus.LEAVING and person.last_day != last_day:
        person_before = _person_snapshot(person)
        person.last_day = last_day
        db.session.flush()
        audit.record_event(
            actor,
            "person.update",
            "person",
            person.id,
            f"Moved {person.name}'s last day to {last_day:%d %b %Y}",
            person_before,
            _person_snapshot(person),
        )
    return True


# --- Generating the checklist -------------------------------------------------------------


@dataclass
class _Draft:
    #: The item's row (every column the checklist insert names).
    row: dict[str, object]
    #: Group (account or profile) sort key, then kind rank, then a tie-breaker.
    order: tuple


#: The record columns an item may point to; every row names them all (None where unused), so
#: the items go in as one multi-row insert.
_ITEM_LINKS = (
    "account_id",
    "profile_id",
    "admin_id",
    "recovery_contact_id",
    "connection_id",
    "note_id",
    "user_id",
    "template_item_id",
)


def _active_other(candidate: Person | None, leaver: Person) -> Person | None:
    return candidate if candidate is not None and candidate.is_active and candidate.id != leaver.id else None


def _head(department: Department | None, leaver: Person) -> Person | None:
    return _active_other(department.head, leaver) if department is not None else None


def _steward_rule(account: Account, leaver: Person) -> Person | str:
    """The account's steward (active, not the leaver), else its department head, else the
    leaver's department head, else HR's queue."""
    return _active_other(account.steward, leaver) or _head(account.department, leaver) or _head(leaver.department, leaver) or "hr"


def _head_rule(account: Account | None, leaver: Person) -> Person | str:
    """The department head (the account's, else the leaver's), else HR's queue."""
    return (_head(account.department, leaver) if account is not None else None) or _head(leaver.department, leaver) or "hr"


def _clamp(day: date, today: date) -> date:
    return max(day, today)


def _platform(obj: Account | Profile) -> str:
    return obj.platform.name if obj.platform is not None else "unknown platform"


def _acc(account: Account) -> str:
    return f"“{account.name}” ({_platform(account)})"


def _cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generate_items(case: OffboardingCase, *, today: date | None = None, actor: Actor | None = None) -> list[ChecklistItem]:
    """Add to ``case`` one item per thing in the person's footprint, plus the organisation's
    custom items; returns the items added (in position order). See ``_generate``."""
    start = _generate(case, today=today, actor=actor)
    if start is None:
        return []
    return list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .where(ChecklistItem.case_id == case.id, ChecklistItem.position >= start)
            .order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )


def _generate(case: OffboardingCase, *, today: date | None = None, actor: Actor | None = None) -> int | None:
    """Write the items ``generate_items`` adds; returns the position of the first one (None: nothing
    was added). Starting a case has no use for the items themselves, so it does not read them back.

    Guarantees: a stable ``source_key`` per item, never one already on the case (so it is safe
    to run again: a refresh adds only what is new); retired accounts are skipped; each item has
    a title, the ids of the records it concerns, an assignee (a person or a role queue) and a due
    date relative to the last day; positions continue after the case's existing items, grouped by
    account, then profile, then the person-level items. One audit event when anything was added.
    """
    today = today or date.today()
    actor = actor or Actor.system("offboarding")
    person = case.person
    last_day = case.last_day
    existing = set(db.session.scalars(sa.select(ChecklistItem.source_key).where(ChecklistItem.case_id == case.id)))
    fp = people.footprint(person)

    changes_due = _clamp(last_day - timedelta(days=CHANGES_BEFORE), today)
    first_due = _clamp(last_day - timedelta(days=FIRST_STEPS_BEFORE), today)

    # Every account involved, with what the assignee rules read (steward, department and its
    # head, platform). The footprint has loaded most of them already: only the others are read,
    # then the stewards and departments of all in one query each (a many-to-one link whose
    # target is in the session is then resolved without a query).
    accounts: dict[int, Account] = {a.id: a for a in fp.owned + fp.stewarded}
    accounts.update((r.account.id, r.account) for r in fp.admin_roles)
    accounts.update((c.account.id, c.account) for c in fp.recovery_contacts + fp.connections if c.account is not None)
    notes = _notes_to_rotate(person, fp)
    missing = {n.account_id for n in notes if n.account_id is not None} - accounts.keys()
    if missing:
        accounts.update(
            (a.id, a)
            for a in db.session.scalars(sa.select(Account).options(selectinload(Account.platform)).where(Account.id.in_(missing)))
        )
    steward_ids = {a.steward_id for a in accounts.values() if a.steward_id is not None}
    department_ids = {a.department_id for a in accounts.values() if a.department_id is not None}
    if steward_ids:
        db.session.scalars(sa.select(Person).where(Person.id.in_(steward_ids))).all()
    if department_ids:
        db.session.scalars(
            sa.select(Department).options(selectinload(Department.head)).where(Department.id.in_(department_ids))
        ).all()
    if person.department is not None:
        _ = person.department.head

    def live(account_id: int | None) -> Account | None:
        account = accounts.get(account_id) if account_id is not None else None
        return account if account is not None and account.status is not AccountStatus.RETIRED else None

    drafts: list[_Draft] = []

    def add(
        kind: ItemKind, key: str, title: str, assignee: Person | str, due_on: date, group: tuple, tie: tuple = (), **ids
    ) -> None:
        if key in existing:
            return
        existing.add(key)
        row: dict[str, object] = dict.fromkeys(_ITEM_LINKS)
        row.update(
            case_id=case.id,
            kind=kind,
            status=ItemStatus.OPEN,
            title=_cut(title),
            source_key=key,
            due_on=due_on,
            assignee_id=assignee.id if isinstance(assignee, Person) else None,
            assignee_role=assignee if isinstance(assignee, str) else None,
            **ids,
        )
        drafts.append(_Draft(row, (group, KIND_ORDER[kind], tie)))

    def account_group(account: Account) -> tuple:
        return (0, account.name.casefold(), account.id)

    name = person.name

    # Ownership through their own profiles.
    for owned in fp.owned:
        account = live(owned.id)
        if account is None:
            continue
        profile = owned.owner_profile
        add(
            ItemKind.TRANSFER_OWNERSHIP,
            f"owner:account:{account.id}",
            f"Transfer ownership of {_acc(account)} from {name}'s profile {profile.label} "
            "to an organisation or persona profile, or to another active person.",
            _steward_rule(account, person),
            changes_due,
            account_group(account),
            account_id=account.id,
            profile_id=profile.id if profile is not None else None,
        )

    # Accounts they declared on leaving: the registry did not know them, so someone must take them over.
    declared_ids = [
        account_id
        for item in case.items
        if item.kind is ItemKind.EXIT_DECLARATION and item.outcome
        for account_id in item.outcome.get("account_ids", [])
    ]
    for declared in db.session.scalars(sa.select(Account).where(Account.id.in_(declared_ids))) if declared_ids else []:
        if declared.status is AccountStatus.RETIRED:
            continue
        add(
            ItemKind.TRANSFER_OWNERSHIP,
            f"declared:account:{declared.id}",
            f"Take over {_acc(declared)}, which {name} declared they created: record its owner, admins and recovery "
            "contacts, and move its top role to an organisation or persona profile.",
            _steward_rule(declared, person),
            changes_due,
            account_group(declared),
            account_id=declared.id,
        )

    # Admin roles: remove each; add an admin first where theirs are the only ones.
    held_ids = {p.id for p in fp.profiles}
    role_accounts = {r.account_id for r in fp.admin_roles}
    admins_by_account: dict[int, set[int]] = defaultdict(set)
    if role_accounts:
        for account_id, profile_id in db.session.execute(
            sa.select(AccountAdmin.account_id, AccountAdmin.profile_id).where(AccountAdmin.account_id.in_(role_accounts))
        ):
            admins_by_account[account_id].add(profile_id)
    for role in fp.admin_roles:
        account = live(role.account_id)
        if account is None:
            continue
        if not (admins_by_account[account.id] - held_ids):
            add(
                ItemKind.ADD_ADMIN,
                f"add_admin:account:{account.id}",
                f"Add another admin to {_acc(account)} before {name}'s role is removed: {role.profile.label} is its only admin.",
                _steward_rule(account, person),
                first_due,
                account_group(account),
                account_id=account.id,
            )
        add(
            ItemKind.REMOVE_ADMIN,
            f"admin:account:{account.id}:profile:{role.profile_id}",
            f"Remove {name}'s profile {role.profile.label} ({role.role_name}) from the admins of {_acc(account)}.",
            _steward_rule(account, person),
            changes_due,
            account_group(account),
            (role.profile_id,),
            account_id=account.id,
            profile_id=role.profile_id,
            admin_id=role.id,
        )

    # Recovery contacts tied to them. The title names the kind, not the value (a personal
    # address or number is erased after departure and must not survive in a title).
    for contact in fp.recovery_contacts:
        account = live(contact.account_id)
        if account is None:
            continue
        add(
            ItemKind.REPLACE_RECOVERY,
            f"recovery:{contact.id}",
            f"Replace the recovery contact ({contact.kind.label.lower()}) tied to {name} on {_acc(account)} "
            "with an institutional one.",
            _steward_rule(account, person),
            changes_due,
            account_group(account),
            (contact.id,),
            account_id=account.id,
            recovery_contact_id=contact.id,
        )

    # Connections authorised through their profiles: re-authorise before the role goes.
    for connection in fp.connections:
        account = live(connection.account_id)
        if account is None:
            continue
        through = connection.profile.label if connection.profile is not None else "their profile"
        add(
            ItemKind.REAUTHORISE_CONNECTION,
            f"connection:{connection.id}",
            f"Re-authorise {connection.tool_name} on {_acc(account)} through an organisation profile: "
            f"it was authorised through {name}'s profile {through}.",
            "it",
            first_due,
            account_group(account),
            (connection.id,),
            account_id=account.id,
            profile_id=connection.profile_id,
            connection_id=connection.id,
        )

    # Accounts they steward.
    for stewarded in fp.stewarded:
        account = live(stewarded.id)
        if account is None:
            continue
        add(
            ItemKind.REASSIGN_STEWARD,
            f"steward:account:{account.id}",
            f"Choose a new steward for {_acc(account)} in place of {name}.",
            _head_rule(account, person),
            last_day,
            account_group(account),
            account_id=account.id,
        )

    # Persona and shared-login profiles they keep.
    kept = [p for p in fp.custodian_of if p.kind.has_custodians]
    for profile in kept:
        add(
            ItemKind.REASSIGN_CUSTODIAN,
            f"custodian:profile:{profile.id}",
            f"Give the {profile.kind.label.lower()} profile {profile.label} ({_platform(profile)}) "
            f"a new custodian in place of {name}.",
            _head_rule(None, person),
            last_day,
            (1, profile.name.casefold(), profile.id),
            profile_id=profile.id,
        )

    # Credentials they revealed (not rotated since) or keep through a profile.
    kept_ids = {p.id for p in kept}
    for note in notes:
        if note.account_id is not None:
            account = live(note.account_id)
            if account is None:
                continue
            group = account_group(account)
        else:
            account = None
            group = (1, note.profile.name.casefold(), note.profile.id)
        why = f"{name} keeps the profile it belongs to" if note.profile_id in kept_ids else f"{name} revealed it"
        add(
            ItemKind.ROTATE_CREDENTIAL,
            f"rotate:note:{note.id}",
            f"Rotate the credential “{note.label}” on {note.holder_label}: {why}.",
            "it",
            last_day + timedelta(days=ROTATE_AFTER),
            group,
            (note.id,),
            account_id=account.id if account is not None else None,
            profile_id=note.profile_id,
            note_id=note.id,
        )

    # Personal profiles they speak for the organisation from.
    for profile in fp.profiles:
        if profile.kind is not ProfileKind.PERSONAL or not profile.speaks_for_organisation:
            continue
        leaver_or_head: Person | str = person if person.status is not PersonStatus.DEPARTED else _head_rule(None, person)
        add(
            ItemKind.HAND_OVER_AUDIENCE,
            f"audience:profile:{profile.id}",
            f"Tell the followers of {profile.label} ({_platform(profile)}) where to find the organisation from now on.",
            leaver_or_head,
            last_day,
            (2,),
            (profile.name.casefold(), profile.id),
            profile_id=profile.id,
        )

    add(
        ItemKind.EXIT_DECLARATION,
        "exit_declaration",
        f"Fill in {name}'s exit declaration: any organisation accounts they created that the registry does not know.",
        "hr",
        _clamp(last_day - timedelta(days=DECLARATION_BEFORE), today),
        (2,),
    )

    for user in db.session.scalars(sa.select(User).where(User.person_id == person.id, User.active.is_(True)).order_by(User.id)):
        add(
            ItemKind.DEACTIVATE_SIGN_IN,
            f"signin:user:{user.id}",
            f"Deactivate {name}'s Handover sign-in ({user.email}) on their last day.",
            "admin",
            last_day,
            (2,),
            (user.id,),
            user_id=user.id,
        )

    templates = db.session.scalars(
        sa.select(OffboardingTemplateItem)
        .where(OffboardingTemplateItem.active.is_(True))
        .order_by(OffboardingTemplateItem.position, OffboardingTemplateItem.id)
    )
    for rank, template in enumerate(templates):
        role = template.assignee_role if template.assignee_role in QUEUES else "hr"
        add(
            ItemKind.CUSTOM,
            f"template:{template.id}",
            template.title,
            role,
            last_day + timedelta(days=template.due_offset_days),
            (2,),
            (rank,),
            template_item_id=template.id,
        )

    if not drafts:
        return None
    drafts.sort(key=lambda d: d.order)
    start = db.session.scalar(sa.select(sa.func.max(ChecklistItem.position)).where(ChecklistItem.case_id == case.id))
    start = 0 if start is None else start + 1
    now = utcnow()
    rows = []
    for offset, draft in enumerate(drafts):
        draft.row.update(position=start + offset, created_at=now, updated_at=now, version=1)
        rows.append(draft.row)
    # One multi-row insert (a leaver tied to thousands of records gets thousands of items).
    db.session.execute(sa.insert(ChecklistItem.__table__), rows)
    # The items were inserted by id: let the case load its list afresh.
    db.session.expire(case, ["items"])
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["kind"].value] += 1  # type: ignore[attr-defined]
    audit.record_event(
        actor,
        "offboarding.items",
        "offboarding_case",
        case.id,
        f"Added {len(rows)} checklist item{'s' if len(rows) != 1 else ''} to the offboarding of {name}",
        None,
        {"items": dict(sorted(counts.items())), "source_keys": [row["source_key"] for row in rows]},
    )
    return start


def _revealed_not_rotated(person: Person) -> sa.Select:
    return (
        sa.select(CredentialNote)
        .join(CredentialReveal, CredentialReveal.note_id == CredentialNote.id)
        .where(CredentialReveal.person_id == person.id, CredentialReveal.revealed_at >= CredentialNote.rotated_at)
    )


def _notes_to_rotate(person: Person, fp: people.Footprint) -> list[CredentialNote]:
    """Notes the person revealed since their last rotation, and notes on profiles they keep; each once."""
    kept_ids = [p.id for p in fp.custodian_of if p.kind.has_custodians]
    ids = set(db.session.scalars(_revealed_not_rotated(person).with_only_columns(CredentialNote.id)))
    if kept_ids:
        ids |= set(db.session.scalars(sa.select(CredentialNote.id).where(CredentialNote.profile_id.in_(kept_ids))))
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(CredentialNote)
            .options(selectinload(CredentialNote.account), selectinload(CredentialNote.profile).selectinload(Profile.platform))
            .where(CredentialNote.id.in_(ids))
            .order_by(CredentialNote.label, CredentialNote.id)
        )
    )


# --- The fresh scan -----------------------------------------------------------------------


def holds_nothing(person: Person) -> list[str]:
    """What the person still holds in the registry, in words; an empty list means nothing.

    A fresh scan (not the checklist): owner or admin roles through their profiles, recovery
    contacts, custodianships, stewardships, connections authorised through their profiles, and
    credential notes they revealed that have not been rotated since. Retired accounts are left out.
    """
    fp = people.footprint(person)
    held: list[str] = []

    def live(account: Account | None) -> bool:
        return account is not None and account.status is not AccountStatus.RETIRED

    for account in fp.owned:
        if live(account):
            held.append(f"Owner of {_acc(account)} through the profile {account.owner_profile.label}")
    for role in fp.admin_roles:
        if live(role.account):
            held.append(f"{role.role_name.capitalize()} of {_acc(role.account)} through the profile {role.profile.label}")
    for contact in fp.recovery_contacts:
        if live(contact.account):
            held.append(f"Recovery contact ({contact.kind.label.lower()}) on {_acc(contact.account)}")
    for profile in fp.custodian_of:
        held.append(f"Custodian of the {profile.kind.label.lower()} profile {profile.label} ({_platform(profile)})")
    for account in fp.stewarded:
        if live(account):
            held.append(f"Steward of {_acc(account)}")
    for connection in fp.connections:
        if live(connection.account):
            through = connection.profile.label if connection.profile is not None else "their profile"
            held.append(f"{connection.tool_name} on {_acc(connection.account)}, authorised through {through}")
    notes = db.session.scalars(
        _revealed_not_rotated(person).options(selectinload(CredentialNote.account)).distinct().order_by(CredentialNote.id)
    )
    for note in notes:
        if note.account is None or live(note.account):
            held.append(f"Revealed the credential “{note.label}” on {note.holder_label}, not rotated since")
    return held


# --- The daily tick -----------------------------------------------------------------------


@dataclass
class TickSummary:
    today: date
    departed: list[Person] = field(default_factory=list)
    deactivated: list[User] = field(default_factory=list)
    #: People whose personal email and phone were erased (DESIGN.md "Privacy").
    erased: list[Person] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.departed and not self.erased:
            return [f"Nobody's last day has passed as of {self.today:%d %b %Y}; nothing changed."]
        out = [f"{p.name} is now departed (last day {p.left_on:%d %b %Y})." for p in self.departed]
        out += [f"Deactivated the sign-in {u.email} and ended its sessions." for u in self.deactivated]
        out += [f"Erased {p.name}'s personal contact details (their case closed long enough ago)." for p in self.erased]
        return out


def tick(today: date | None = None, actor: Actor | None = None, *, erase_after_days: int | None = None) -> TickSummary:
    """The daily run: each person with an open case whose last day has passed (is before
    ``today``) becomes *departed* with ``left_on`` = the last day, and their Handover sign-ins
    are deactivated (which ends their sessions); then personal details are erased where due
    (see :func:`erase_personal_details`). Safe to run again. Nothing is committed."""
    today = today or date.today()
    actor = actor or Actor.system("flask handover tick")
    summary = TickSummary(today=today)
    cases = db.session.scalars(
        sa.select(OffboardingCase)
        .join(OffboardingCase.person)
        .options(selectinload(OffboardingCase.person))
        .where(OffboardingCase.status == CaseStatus.OPEN, OffboardingCase.last_day < today)
        .order_by(OffboardingCase.last_day, OffboardingCase.id)
    )
    for case in list(cases):
        person = case.person
        if person.status is not PersonStatus.DEPARTED:
            before = _person_snapshot(person)
            person.status = PersonStatus.DEPARTED
            person.left_on = case.last_day
            person.last_day = case.last_day
            db.session.flush()
            audit.record_event(
                actor,
                "person.update",
                "person",
                person.id,
                f"Marked {person.name} as departed: their last day ({case.last_day:%d %b %Y}) has passed",
                before,
                _person_snapshot(person),
            )
            reviews.reassign_tasks_of(person, actor)
            summary.departed.append(person)
        for user in db.session.scalars(sa.select(User).where(User.person_id == person.id, User.active.is_(True))):
            users.deactivate_user(actor, user, f"{person.name}'s last day ({case.last_day:%d %b %Y}) has passed")
            summary.deactivated.append(user)
    summary.erased = erase_personal_details(today, actor, after_days=erase_after_days)
    return summary


# --- Privacy ------------------------------------------------------------------------------

#: Personal details kept only to spot their use as recovery contacts (people.PRIVATE_FIELDS).
PERSONAL_FIELDS = people.PRIVATE_FIELDS
#: Default for ERASE_PERSONAL_AFTER_DAYS.
ERASE_AFTER_DAYS = 90


def _erase_after_days() -> int:
    from flask import current_app, has_app_context

    if has_app_context():
        return int(current_app.config.get("ERASE_PERSONAL_AFTER_DAYS", ERASE_AFTER_DAYS))
    return ERASE_AFTER_DAYS


def erase_personal_details(
    today: date | None = None, actor: Actor | None = None, *, after_days: int | None = None
) -> list[Person]:
    """Erase the personal email and phone of each departed person whose offboarding case closed at
    least ``after_days`` days before ``today`` (ERASE_PERSONAL_AFTER_DAYS, default 90) and who has
    no open case. One audit event ``person.erase_personal`` per person, naming the erased fields
    only (never their values). Returns the people erased; safe to run again. Nothing is committed.
    """
    today = today or date.today()
    actor = actor or Actor.system("flask handover tick")
    days = max(0, _erase_after_days() if after_days is None else int(after_days))
    # closed_at is a UTC timestamp: the case must have closed before the start of (today - days).
    cutoff = datetime.combine(today - timedelta(days=days), time.min, UTC) + timedelta(days=1)
    closed = (
        sa.select(OffboardingCase.person_id)
        .where(OffboardingCase.status == CaseStatus.CLOSED, OffboardingCase.closed_at < cutoff)
        .scalar_subquery()
    )
    still_open = sa.select(OffboardingCase.person_id).where(OffboardingCase.status == CaseStatus.OPEN).scalar_subquery()
    candidates = db.session.scalars(
        sa.select(Person)
        .where(
            Person.status == PersonStatus.DEPARTED,
            sa.or_(Person.personal_email.is_not(None), Person.personal_phone.is_not(None)),
            Person.id.in_(closed),
            Person.id.not_in(still_open),
        )
        .order_by(Person.id)
    )
    erased: list[Person] = []
    for person in list(candidates):
        fields = [name for name in PERSONAL_FIELDS if getattr(person, name)]
        if not fields:
            continue
        version_before = person.version
        for name in fields:
            setattr(person, name, None)
        db.session.flush()
        audit.record_event(
            actor,
            "person.erase_personal",
            "person",
            person.id,
            f"Erased {person.name}'s {' and '.join(f.replace('_', ' ') for f in fields)}: "
            f"their offboarding case closed more than {days} day{'s' if days != 1 else ''} ago",
            {"erased": fields, "version": version_before},
            {"erased": fields, "version": person.version},
        )
        erased.append(person)
    return erased


# --- My tasks -----------------------------------------------------------------------------


def my_tasks(actor: Actor, *, today: date | None = None) -> list[ChecklistItem]:
    """Open items of open cases assigned to the actor's person or to their role's queue, and
    transfers waiting for the actor to confirm control; overdue first, then by due date."""
    today = today or date.today()
    mine: list[sa.ColumnElement[bool]] = []
    if actor.person_id is not None:
        mine.append(sa.and_(ChecklistItem.status == ItemStatus.OPEN, ChecklistItem.assignee_id == actor.person_id))
        mine.append(
            sa.and_(ChecklistItem.status == ItemStatus.AWAITING_CONFIRMATION, ChecklistItem.confirmer_id == actor.person_id)
        )
    if actor.role is not None and actor.role.value in QUEUES:
        mine.append(sa.and_(ChecklistItem.status == ItemStatus.OPEN, ChecklistItem.assignee_role == actor.role.value))
    if not mine:
        return []
    items = list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .join(ChecklistItem.case)
            .options(selectinload(ChecklistItem.case).selectinload(OffboardingCase.person), selectinload(ChecklistItem.account))
            .where(OffboardingCase.status == CaseStatus.OPEN, sa.or_(*mine))
            .order_by(ChecklistItem.due_on, ChecklistItem.case_id, ChecklistItem.position, ChecklistItem.id)
        )
    )
    # Ordered by due date, the overdue ones (due before today) come first.
    items.sort(key=lambda item: (item.due_on >= today, item.due_on))
    return items
