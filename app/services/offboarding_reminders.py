"""Offboarding reminders: one digest email per assignee of their open checklist items, overdue first.

``flask handover remind`` (run daily from cron) calls :func:`send_reminders` and commits; the
digests go out after the commit through ``app.services.mail`` (a rollback sends nothing).

Who gets what:

- an item assigned to a person goes to that person's work email;
- an item in a role's queue ("it", "hr", "admin") goes to every active sign-in with that role
  (to the work email of the person behind the sign-in, else to the sign-in's email);
- a transfer awaiting confirmation goes to its confirmer (they must confirm they have control).

Each recipient gets ONE digest, whatever mix of the above they have. People who have departed
get nothing (their items need a new assignee, which the case page shows). Digests name items by
their titles, which never carry a secret or a personal detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.offboarding import CaseStatus, ChecklistItem, ItemStatus, OffboardingCase
from app.models.person import Person, PersonStatus
from app.models.user import Role, User
from app.services import audit, mail
from app.services.context import Actor
from app.services.offboarding import QUEUES


@dataclass
class Digest:
    """One recipient's reminder: their items (overdue first) and the message queued for them."""

    to: str
    name: str
    items: list[ChecklistItem] = field(default_factory=list)
    #: Items among ``items`` that wait for this recipient to confirm control (not to do).
    to_confirm: set[int] = field(default_factory=set)
    message: mail.Message | None = None

    def overdue(self, today: date) -> list[ChecklistItem]:
        return [i for i in self.items if i.due_on < today]


def _open_items() -> list[ChecklistItem]:
    return list(
        db.session.scalars(
            sa.select(ChecklistItem)
            .join(ChecklistItem.case)
            .options(
                selectinload(ChecklistItem.case).selectinload(OffboardingCase.person),
                selectinload(ChecklistItem.assignee),
                selectinload(ChecklistItem.confirmer),
            )
            .where(
                OffboardingCase.status == CaseStatus.OPEN,
                ChecklistItem.status.in_((ItemStatus.OPEN, ItemStatus.AWAITING_CONFIRMATION)),
            )
            .order_by(ChecklistItem.due_on, ChecklistItem.case_id, ChecklistItem.position, ChecklistItem.id)
        )
    )


def _reachable(person: Person | None) -> bool:
    return person is not None and person.status is not PersonStatus.DEPARTED and "@" in (person.work_email or "")


def digests_due(today: date | None = None) -> list[Digest]:
    """Every recipient with open items of open cases, each with their items overdue first, then by due date."""
    today = today or date.today()
    digests: dict[tuple[str, int], Digest] = {}

    def digest_for(person: Person) -> Digest:
        return digests.setdefault(("person", person.id), Digest(to=person.work_email, name=person.name))

    queue_members: dict[str, list[Digest]] = {}
    users = db.session.scalars(
        sa.select(User)
        .options(selectinload(User.person))
        .where(User.active.is_(True), User.role.in_([Role(q) for q in QUEUES]))
        .order_by(User.id)
    )
    for user in users:
        if _reachable(user.person):
            assert user.person is not None
            target = digest_for(user.person)
        elif user.person is not None and user.person.status is PersonStatus.DEPARTED:
            continue
        else:
            target = digests.setdefault(("user", user.id), Digest(to=user.email, name=user.email))
        queue_members.setdefault(user.role.value, []).append(target)

    for item in _open_items():
        if item.status is ItemStatus.AWAITING_CONFIRMATION:
            if _reachable(item.confirmer):
                assert item.confirmer is not None
                target = digest_for(item.confirmer)
                target.items.append(item)
                target.to_confirm.add(item.id)
            continue
        if item.assignee_id is not None:
            if _reachable(item.assignee):
                assert item.assignee is not None
                digest_for(item.assignee).items.append(item)
        elif item.assignee_role:
            for target in queue_members.get(item.assignee_role, []):
                if item not in target.items:
                    target.items.append(item)

    result = [d for d in digests.values() if d.items]
    for digest in result:
        # Overdue first (earliest due first within each), then the rest by due date.
        digest.items.sort(key=lambda i: (i.due_on >= today, i.due_on, i.case_id, i.position, i.id))
    return sorted(result, key=lambda d: (d.name.casefold(), d.to))


def _when(item: ChecklistItem, today: date) -> str:
    due = item.due_on
    if due < today:
        days = (today - due).days
        return f"overdue by {days} day{'s' if days != 1 else ''} (due {due:%d %b %Y})"
    if due == today:
        return "due today"
    return f"due {due:%d %b %Y}"


def render(digest: Digest, today: date, base_url: str = "") -> tuple[str, str]:
    """The digest's subject and plain-text body."""
    base_url = base_url.rstrip("/")
    overdue = digest.overdue(today)
    rest = [i for i in digest.items if i.due_on >= today]

    def line(item: ChecklistItem) -> str:
        verb = "Confirm you have control: " if item.id in digest.to_confirm else ""
        return f"- {verb}{item.title} — offboarding of {item.case.person.name}, {_when(item, today)}"

    count = len(digest.items)
    body = [f"Hello {digest.name},", ""]
    body.append(
        f"{count} offboarding task{'s' if count != 1 else ''} still wait{'s' if count == 1 else ''} for you"
        + (f", {len(overdue)} overdue." if overdue else ".")
    )
    if overdue:
        body += ["", "Overdue:", *[line(i) for i in overdue]]
    if rest:
        body += ["", "Coming up:", *[line(i) for i in rest]]
    body += ["", f"Open “My tasks” in Handover{' at ' + base_url if base_url else ''} to do each one.", "", "— Handover"]
    subject = f"Reminder: {count} offboarding task{'s' if count != 1 else ''}" + (f", {len(overdue)} overdue" if overdue else "")
    return subject, "\n".join(body)


def send_reminders(actor: Actor, today: date | None = None, base_url: str = "") -> list[Digest]:
    """Queue one digest per recipient; they go out when the caller commits. One audit event when any was queued."""
    today = today or date.today()
    digests = digests_due(today)
    for digest in digests:
        subject, body = render(digest, today, base_url)
        digest.message = mail.queue(digest.to, subject, body)
    if digests:
        audit.record_event(
            actor,
            "offboarding.remind",
            "offboarding_case",
            None,
            f"Queued {len(digests)} offboarding reminder{'s' if len(digests) != 1 else ''} "
            f"covering {len({i.id for d in digests for i in d.items})} items",
        )
    return digests
