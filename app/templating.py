"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request
from flask_login import current_user

from app.models.user import Role
from app.security import access_rule
from app.services.lookup import person_token


def fmt_datetime(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else "—"


def fmt_timestamp(value: float | None) -> str:
    """Seconds since the epoch (as kept in the session) in the pages' date style."""
    return fmt_datetime(datetime.fromtimestamp(value, UTC)) if isinstance(value, (int, float)) else "—"


def fmt_date(value: date | datetime | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"


def url_with(**changes: Any) -> str:
    """The current URL with some query arguments changed (for filters, sorting and pages)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = value
    return f"{request.path}?{urlencode(args)}" if args else request.path


def site_root() -> str:
    """Where links that leave this request point (emails, SSO redirects, SCIM locations):
    HANDOVER_BASE_URL when set (behind a proxy), else the address this request came to."""
    return current_app.config.get("BASE_URL") or request.host_url.rstrip("/")


def can_visit(endpoint: str) -> bool:
    """Whether the signed-in user's role passes the view's access rule (for navigation links)."""
    rule = access_rule(endpoint)
    if rule == "public":
        return True
    if rule is None or not current_user.is_authenticated:
        return False
    return rule == "signed_in" or current_user.role in rule


def init_app(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.filters["date"] = fmt_date
    app.jinja_env.filters["timestamp"] = fmt_timestamp
    app.jinja_env.filters["person_token"] = person_token
    app.jinja_env.globals.update(url_with=url_with, can_visit=can_visit, Role=Role)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
