"""Deny by default: every view declares who may use it, or nobody can.

A view is marked with ``@public``, ``@signed_in`` or ``@roles(...)``. The check runs before
every request; a view with no mark is refused (and the route-registry test fails the suite).
Object-level rules (staff see only what they steward) live in ``app.services.permissions``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from app.models.api_token import Scope
from app.models.user import Role
from app.services.context import Actor

F = TypeVar("F", bound=Callable[..., Any])

#: Attribute a view carries to say who may call it: "public", "signed_in" or a tuple of roles.
ACCESS_ATTR = "handover_access"


def public(view: F) -> F:
    setattr(view, ACCESS_ATTR, "public")
    return view


def signed_in(view: F) -> F:
    setattr(view, ACCESS_ATTR, "signed_in")
    return view


def roles(*allowed: Role) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTR, tuple(allowed))
        return view

    return mark


@dataclass(frozen=True)
class TokenRule:
    """A machine door (JSON API, SCIM, HR events): a bearer token with this scope, never a session."""

    scope: Scope


def token(scope: Scope) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTR, TokenRule(scope))
        return view

    return mark


def access_rule(endpoint: str) -> Any:
    view = current_app.view_functions.get(endpoint)
    if endpoint == "static":
        return "public"
    return getattr(view, ACCESS_ATTR, None)


def current_actor() -> Actor:
    return Actor.for_user(current_user, request_id=g.get("request_id", ""), remote_addr=request.remote_addr or "")


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/scim/"))


def _check_access() -> Any:
    g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
    if request.endpoint is None:
        return None  # 404/405 are answered by the router
    rule = access_rule(request.endpoint)
    if isinstance(rule, TokenRule):
        from app.api import auth

        auth.check(rule.scope)  # the session cookie is never read on these doors
    if _carries_nul():
        abort(400, "The request contains a NUL character, which no field can hold. Remove it and try again.")
    if isinstance(rule, TokenRule):
        return None
    from app.auth import sessions

    if (detour := sessions.enforce()) is not None:
        return detour
    if rule == "public":
        return None
    if rule is None:
        current_app.logger.error("view %s declares no access rule; refusing", request.endpoint)
        abort(403)
    if not current_user.is_authenticated:
        if wants_json():
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    if rule != "signed_in" and current_user.role not in rule:
        abort(403)
    return None


def _carries_nul() -> bool:
    """A NUL in a query or form value would reach the database, where PostgreSQL refuses it (a 500)."""
    values = list(request.args.values())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += list(request.form.values())
    return any("\x00" in value for value in values)


#: Browser features no page of Handover uses: refused for the page and anything it embeds.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "web-share",
        "xr-spatial-tracking",
        "interest-cohort",
    )
)


def _security_headers(response: Any) -> Any:
    """Runs on every response, error pages and JSON problems included (after_request sees them too)."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if hsts := current_app.config.get("STRICT_TRANSPORT_SECURITY"):
        # Production only: a browser that once saw it refuses plain HTTP to this host for a year.
        response.headers.setdefault("Strict-Transport-Security", hsts)
    if g.get("request_id"):
        response.headers.setdefault("X-Request-ID", g.request_id)
    if current_user and getattr(current_user, "is_authenticated", False):
        # Signed-in pages may show who holds what: never keep them in shared caches.
        response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_check_access)
    app.after_request(_security_headers)


def safe_next(target: str | None) -> str | None:
    r"""Only same-site relative paths are followed after sign-in (no open redirects).

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash (WHATWG URL
    standard), so "/<TAB>/evil.example" and "/\evil.example" both mean "//evil.example": refuse any
    control character and any backslash, then anything with a scheme or a host.
    """
    if not target or "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
