"""The audit log: every change and reveal, newest first."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context, url_for

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
    filters, errors = service.parse_filters(request.args)
    if errors:
        return render_template(
            "audit/index.html",
            page=None,
            filters=filters,
            errors=errors,
            links={},
            object_types=service.recorded_object_types(),
            actions=service.recorded_actions(filters.object_type),
            csv_args={},
        ), 400
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
        errors={},
        links=links,
        object_types=service.recorded_object_types(),
        actions=service.recorded_actions(filters.object_type),
        csv_args=_filter_args(),
    )


def _filter_args() -> dict[str, str]:
    names = ("object_type", "object_id", "action", "actor", "date_from", "date_to")
    return {name: request.args[name] for name in names if request.args.get(name)}


@bp.route("/export.csv")
@roles(Role.ADMIN, Role.DIRECTOR)
def export_csv() -> Any:
    """The events the page's filters select, as CSV (every page, newest first)."""
    filters, errors = service.parse_filters(request.args)
    if errors:
        return Response(" ".join(errors.values()) + "\n", status=400, mimetype="text/plain")
    chunks = service.export_csv(current_actor(), filters)
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-log-{date.today().isoformat()}.csv"'},
    )
