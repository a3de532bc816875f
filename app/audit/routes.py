"""The audit log: every change and reveal, newest first."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from app.forms import optional_int
from app.models.account import Account
from app.models.person import Department, Person
from app.models.platform import Platform
from app.models.profile import Profile
from app.models.user import Role, User
from app.security import current_actor, roles
from app.services import audit as service

bp = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates")

#: Object types whose records have a page: model, endpoint and the endpoint's id argument.
RECORD_PAGES: dict[str, tuple[type, str, str]] = {
    "account": (Account, "accounts.detail", "account_id"),
    "person": (Person, "people.detail", "person_id"),
    "profile": (Profile, "profiles.detail", "profile_id"),
    "department": (Department, "departments.detail", "department_id"),
    "platform": (Platform, "platforms.detail", "platform_id"),
}


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR)
def index() -> Any:
    filters = service.EventFilters(
        object_type=request.args.get("object_type", "")[:60],
        action=request.args.get("action", "")[:60],
        actor=request.args.get("actor", "")[:200],
    )
    page = service.list_events(
        current_actor(), filters, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"]
    )
    pages = dict(RECORD_PAGES)
    if current_actor().has_role(Role.ADMIN):
        pages["user"] = (User, "users.detail", "user_id")  # the users page is the admins' own
    existing = service.existing_records(page.items, {name: model for name, (model, _, _) in pages.items()})
    links = {
        e.id: url_for(pages[e.object_type][1], **{pages[e.object_type][2]: e.object_id})
        for e in page.items
        if (e.object_type, e.object_id) in existing
    }
    return render_template(
        "audit/index.html",
        page=page,
        filters=filters,
        links=links,
        object_types=service.recorded_object_types(),
        actions=service.recorded_actions(filters.object_type),
    )
