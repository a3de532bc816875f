"""Bearer tokens for the machine doors (JSON API, SCIM, HR events).

The token comes only in the ``Authorization: Bearer`` header (RFC 6750 §2.1): a token in a query
string ends up in proxy and server logs, so one there is refused outright. Session cookies are
ignored: a browser that happens to be signed in gets no access through these doors.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, request

from app.extensions import db
from app.models.api_token import ApiToken, Scope
from app.services import api_tokens
from app.services.context import Actor
from app.services.errors import DomainError


class TokenProblem(DomainError):
    """400, 401 or 403 for a token in the URL, a missing or bad token, or a missing scope."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        #: RFC 6750 §3: a 401 says which scheme is expected.
        self.challenge = 'Bearer realm="handover"' if status == 401 else None


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def rate_limit_key() -> str:
    """Limits are counted per token (by its public prefix), or per address without one."""
    presented = presented_token() or ""
    if presented.startswith(api_tokens.TOKEN_PREFIX) and presented.count("_") >= 2:
        return "token:" + presented.split("_")[1][:8]
    return "address:" + (request.remote_addr or "")


def check(scope: Scope) -> Any:
    """Authenticate the request's token and require ``scope``; sets ``g.api_token``."""
    if any(name in request.args for name in ("access_token", "token", "api_key")):
        raise TokenProblem(400, "Send the token in the Authorization header (Bearer), never in the URL.")
    presented = presented_token()
    if presented is None:
        raise TokenProblem(401, "This needs an API token: send `Authorization: Bearer <token>`.")
    found = api_tokens.authenticate(presented, request.remote_addr or "")
    if found is None:
        raise TokenProblem(401, "The API token is not valid: it is unknown, expired or revoked.")
    if not found.has_scope(scope):
        raise TokenProblem(403, f"The token “{found.name}” lacks the scope {scope.value}.")
    if db.session.is_modified(found):
        db.session.commit()  # record the last use even when the call itself only reads
    g.api_token = found
    return None


def current_token() -> ApiToken:
    token = g.get("api_token")
    if token is None:  # a view marked with @token always has one; anything else is a programming error
        abort(500)
    return token


def api_actor() -> Actor:
    return api_tokens.actor_for(current_token(), g.get("request_id", ""), request.remote_addr or "")
