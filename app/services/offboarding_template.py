"""The organisation's own offboarding items ("collect building keys"): an admin-edited template.

Every new case gets one CUSTOM item per active template item (``offboarding.generate_items``),
due relative to the leaver's last day. Services never commit: the door does, once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.offboarding import OffboardingTemplateItem
from app.models.user import Role
from app.services import audit
from app.services.context import Actor
from app.services.errors import PermissionDenied, ValidationFailed

#: Role queues a template item can be assigned to (as ``offboarding.QUEUES``).
ASSIGNEE_ROLES = ("hr", "it", "admin")
MAX_TITLE = 500
MAX_DESCRIPTION = 2000
#: How far before (negative) or after the last day an item may be due.
MAX_OFFSET = 60
OBJECT_TYPE = "offboarding_template_item"
FIELDS = ("title", "description", "due_offset_days", "assignee_role", "active", "position")


def list_template_items(*, active_only: bool = False) -> list[OffboardingTemplateItem]:
    stmt = sa.select(OffboardingTemplateItem).order_by(OffboardingTemplateItem.position, OffboardingTemplateItem.id)
    if active_only:
        stmt = stmt.where(OffboardingTemplateItem.active.is_(True))
    return list(db.session.scalars(stmt))


def _require_admin(actor: Actor) -> None:
    if not actor.has_role(Role.ADMIN):
        raise PermissionDenied("Only admins edit the offboarding template.")


def _clean(title: Any, description: Any, due_offset_days: Any, assignee_role: Any) -> tuple[str, str, int, str]:
    errors: dict[str, list[str]] = {}
    title = (title or "").strip() if isinstance(title, str) or title is None else str(title)
    description = (description or "").strip() if isinstance(description, str) or description is None else str(description)
    if not title:
        errors["title"] = ["Give the item a title, e.g. “Collect building keys”."]
    elif len(title) > MAX_TITLE:
        errors["title"] = [f"Keep the title to {MAX_TITLE} characters or fewer."]
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [f"Keep the description to {MAX_DESCRIPTION} characters or fewer."]
    offset = 0
    if due_offset_days is None or isinstance(due_offset_days, bool) or not isinstance(due_offset_days, int):
        errors["due_offset_days"] = ["Give the due day as a whole number of days (negative = before the last day)."]
    elif not -MAX_OFFSET <= due_offset_days <= MAX_OFFSET:
        errors["due_offset_days"] = [f"Give a number of days between −{MAX_OFFSET} and +{MAX_OFFSET}."]
    else:
        offset = due_offset_days
    if assignee_role not in ASSIGNEE_ROLES:
        errors["assignee_role"] = ["Choose HR, IT or admins."]
    if errors:
        raise ValidationFailed("The template item was not saved; nothing was changed.", errors)
    return title, description, offset, assignee_role


def _snapshot(item: OffboardingTemplateItem) -> dict[str, Any]:
    return audit.snapshot(item, FIELDS)


def create_template_item(
    actor: Actor, title: Any, description: Any, due_offset_days: Any, assignee_role: Any
) -> OffboardingTemplateItem:
    """Add an item to the template; every case started from now on gets it. Nothing is committed."""
    _require_admin(actor)
    title, description, offset, role = _clean(title, description, due_offset_days, assignee_role)
    last = db.session.scalar(sa.select(sa.func.max(OffboardingTemplateItem.position)))
    item = OffboardingTemplateItem(
        title=title,
        description=description,
        due_offset_days=offset,
        assignee_role=role,
        active=True,
        position=0 if last is None else last + 1,
    )
    db.session.add(item)
    db.session.flush()
    audit.record_event(
        actor,
        "offboarding_template.create",
        OBJECT_TYPE,
        item.id,
        f"Added “{title}” to the offboarding template",
        None,
        _snapshot(item),
    )
    return item


def update_template_item(
    actor: Actor, item: OffboardingTemplateItem, title: Any, description: Any, due_offset_days: Any, assignee_role: Any
) -> OffboardingTemplateItem:
    """Change a template item; cases already started keep the items they have. Nothing is committed."""
    _require_admin(actor)
    title, description, offset, role = _clean(title, description, due_offset_days, assignee_role)
    before = _snapshot(item)
    item.title, item.description, item.due_offset_days, item.assignee_role = title, description, offset, role
    db.session.flush()
    after = _snapshot(item)
    if before != after:
        audit.record_event(
            actor,
            "offboarding_template.update",
            OBJECT_TYPE,
            item.id,
            f"Edited offboarding template item “{title}”",
            before,
            after,
        )
    return item


def set_template_item_active(actor: Actor, item: OffboardingTemplateItem, active: bool) -> OffboardingTemplateItem:
    """Deactivate (new cases no longer get it) or reactivate a template item. Nothing is committed."""
    _require_admin(actor)
    if item.active is bool(active):
        return item
    before = _snapshot(item)
    item.active = bool(active)
    db.session.flush()
    verb = "Reactivated" if item.active else "Deactivated"
    audit.record_event(
        actor,
        "offboarding_template." + ("reactivate" if item.active else "deactivate"),
        OBJECT_TYPE,
        item.id,
        f"{verb} offboarding template item “{item.title}”",
        before,
        _snapshot(item),
    )
    return item


def deactivate_template_item(actor: Actor, item: OffboardingTemplateItem) -> OffboardingTemplateItem:
    return set_template_item_active(actor, item, False)


def reactivate_template_item(actor: Actor, item: OffboardingTemplateItem) -> OffboardingTemplateItem:
    return set_template_item_active(actor, item, True)
