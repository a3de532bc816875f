"""API tokens: made on the tokens page or with `flask tokens`, shown once, stored as a digest, revocable."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import ApiToken, AuditEvent, Role
from app.models.base import utcnow
from app.services import api_tokens
from app.services.context import Actor
from tests.integration.test_cli import assert_clean_failure, flask

TOKEN = re.compile(r"hov_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}")


def everything_stored() -> str:
    """Every token row and audit event as text: where a leaked token would show."""
    db.session.rollback()
    rows = [dict(vars(t)) for t in db.session.scalars(sa.select(ApiToken))]
    events = [(e.summary, e.before, e.after) for e in db.session.scalars(sa.select(AuditEvent))]
    return json.dumps([[{k: str(v) for k, v in r.items()} for r in rows], events], default=str)


def test_an_admin_creates_a_token_that_is_shown_once_and_stored_as_a_digest(client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    page = client.submit("/tokens/new", {"name": "Okta SCIM", "scopes": ["scim", "registry:read"], "days": "90"})

    assert page.status_code == 201
    assert page.headers["Cache-Control"] == "no-store"
    [token] = TOKEN.findall(page.text)
    assert "only time it is shown" in page.text
    assert token not in everything_stored()
    row = db.session.scalar(sa.select(ApiToken))
    assert (row.name, row.scopes, row.state) == ("Okta SCIM", ["registry:read", "scim"], "active")
    assert token.startswith(f"hov_{row.prefix}_")
    assert api_tokens.authenticate(token) is not None
    # The list shows the prefix only, never the token.
    listing = client.get("/tokens/").text
    assert f"hov_{row.prefix}_…" in listing and token not in listing


def test_a_token_needs_a_name_a_scope_and_a_sensible_life(client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    page = client.submit("/tokens/new", {"name": " ", "days": "5000"})
    assert page.status_code == 400
    assert "Name the token" in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0
    page = client.submit("/tokens/new", {"name": "HR system", "days": "30"})
    assert page.status_code == 400
    assert "Choose at least one scope." in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_only_a_matching_live_token_authenticates(app: Flask) -> None:
    row, token = api_tokens.create_token(Actor.system(), "HR system", ["offboarding:write"], 30)
    db.session.commit()

    assert api_tokens.authenticate(token, "10.0.0.9") is row
    assert (row.last_used_addr, row.last_used_at is not None) == ("10.0.0.9", True)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert api_tokens.authenticate(altered) is None
    assert api_tokens.authenticate(token.replace(row.prefix, "00000000")) is None
    assert api_tokens.authenticate("") is None
    assert api_tokens.authenticate("Bearer " + token) is None

    row.expires_at = utcnow() - timedelta(seconds=1)
    assert api_tokens.authenticate(token) is None
    row.expires_at = utcnow() + timedelta(days=1)
    api_tokens.revoke_token(Actor.system(), row)
    assert api_tokens.authenticate(token) is None
    assert row.state == "revoked"


def test_revoking_from_the_page_asks_first_and_is_audited(client: Any, login_as: Any) -> None:
    row, token = api_tokens.create_token(Actor.system(), "Old script", ["registry:read"], 30)
    db.session.commit()
    login_as(Role.ADMIN)

    confirm = client.get(f"/tokens/{row.id}/revoke")
    assert "Every call with it is refused" in confirm.text
    assert api_tokens.authenticate(token) is not None  # asking changes nothing
    response = client.submit(f"/tokens/{row.id}/revoke")
    assert response.status_code == 302
    db.session.rollback()
    assert api_tokens.authenticate(token) is None
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "api_token")))
    assert actions == ["api_token.create", "api_token.revoke"]


def test_the_cli_creates_lists_and_revokes(app: Flask) -> None:
    created = flask(app, "tokens", "create", "--name", "Entra SCIM", "--scope", "scim", "--days", "30")
    assert created.exit_code == 0, created.output
    [token] = TOKEN.findall(created.output)
    db.session.rollback()
    assert api_tokens.authenticate(token) is not None

    listing = flask(app, "tokens", "list")
    assert "Entra SCIM" in listing.output and "active" in listing.output and token not in listing.output

    prefix = token.split("_")[1]
    assert flask(app, "tokens", "revoke", prefix).exit_code == 0
    db.session.rollback()
    assert api_tokens.authenticate(token) is None
    assert_clean_failure(flask(app, "tokens", "revoke", "ffffffff"), "No token starts with hov_ffffffff_")
    assert_clean_failure(flask(app, "tokens", "create", "--name", "x", "--scope", "admin"), "Invalid value")
