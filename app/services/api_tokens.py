"""API tokens: made by an admin, shown once, kept only as a digest, looked up by a short prefix.

A token reads ``hov_<prefix>_<secret>``. The prefix (public) finds the row; the sha256 digest of
the whole token is compared in constant time. The API never accepts a token in a query string
(it would end up in proxy and server logs) and never reads the session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models.api_token import ApiToken, Scope
from app.models.base import utcnow
from app.services import audit
from app.services.context import Actor
from app.services.errors import NotFound, ValidationFailed
from app.services.pagination import Page, paginate

TOKEN_PREFIX = "hov_"  # noqa: S105  (the public start of every token, not a secret)
#: Longest life a token may be given; a token for a system must be renewed at least this often.
MAX_DAYS = 730


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(actor: Actor, name: str, scopes: list[str], days: int) -> tuple[ApiToken, str]:
    """Make a token; returns the row and the token itself, which is never shown again.

    Raises ValidationFailed for an empty name, no or unknown scopes, or a lifetime outside 1–730 days.
    """
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Name the token after the system that will use it, e.g. “Okta SCIM”."]
    elif len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    known = {s.value for s in Scope}
    chosen = sorted(set(scopes))
    if not chosen:
        errors["scopes"] = ["Choose at least one scope."]
    elif unknown := [s for s in chosen if s not in known]:
        errors["scopes"] = [f"Unknown scope: {', '.join(unknown)}. Use {', '.join(sorted(known))}."]
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"A token lives between 1 and {MAX_DAYS} days."]
    if errors:
        raise ValidationFailed("The token was not created.", errors)
    prefix = secrets.token_hex(4)
    while db.session.scalar(sa.select(ApiToken.id).where(ApiToken.prefix == prefix)) is not None:
        prefix = secrets.token_hex(4)  # pragma: no cover - 1 in 4 billion
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        name=name,
        prefix=prefix,
        digest=_digest(token),
        scopes=chosen,
        created_by_id=actor.user_id,
        created_by_name=actor.name,
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(row)
    db.session.flush()
    audit.record_event(
        actor,
        "api_token.create",
        "api_token",
        row.id,
        f"Created API token “{name}” ({', '.join(chosen)}), valid {days} days",
        None,
        {"name": name, "prefix": prefix, "scopes": chosen, "expires_at": row.expires_at.isoformat()},
    )
    return row, token


def authenticate(presented: str, remote_addr: str = "", now: datetime | None = None) -> ApiToken | None:
    """The active token matching ``presented``, with its last use recorded; None otherwise."""
    now = now or utcnow()
    if not presented.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, _ = presented[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8:
        return None
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == prefix))
    if row is None or not hmac.compare_digest(row.digest, _digest(presented)):
        return None
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    # Last use to the minute: enough to tell a live integration from a dead one, and it spares a write per request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1) or row.last_used_addr != remote_addr[:64]:
        row.last_used_at = now
        row.last_used_addr = remote_addr[:64]
    return row


def actor_for(token: ApiToken, request_id: str = "", remote_addr: str = "") -> Actor:
    """Who acts when a token calls: the system, recorded under the token's name."""
    return Actor(
        user_id=None,
        name=f"API token “{token.name}”",
        role=Actor.system().role,
        request_id=request_id,
        remote_addr=remote_addr,
    )


def revoke_token(actor: Actor, token: ApiToken) -> None:
    """Stop a token at once. Raises ValidationFailed if it is already revoked."""
    if token.revoked_at is not None:
        raise ValidationFailed(f"The token “{token.name}” is already revoked.")
    token.revoked_at = utcnow()
    db.session.flush()
    audit.record_event(
        actor,
        "api_token.revoke",
        "api_token",
        token.id,
        f"Revoked API token “{token.name}”",
        {"revoked": False},
        {"revoked": True},
    )


def get_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("There is no such API token.")
    return token


def list_tokens(page: int = 1, per_page: int = 25) -> Page[ApiToken]:
    """Every token, active ones first, newest first."""
    return paginate(
        sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc()),
        page,
        per_page,
    )
