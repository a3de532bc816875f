"""Deny by default, enforced by the suite (GOV.UK Notify's test_route_authentication, SecureDrop's
``_insecure_views``): every endpoint declares who may use it, only a short list is public, and
every endpoint has a row in the access matrix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app import create_app
from app.models import Role, Scope
from app.security import ACCESS_ATTR, TokenRule, access_rule
from tests.integration.test_access_matrix import MATRIX

#: The only endpoints anyone may use without signing in. Growing this list is a security decision.
#: Signing in happens before anyone is signed in: the password and code steps, forgotten
#: password, invitation links and single sign-on. Each checks its own token or step.
PUBLIC = {
    "auth.login",
    "auth.two_factor",
    "auth.forgot_password",
    "auth.reset_password",
    "auth.accept_invitation",
    "auth.sso_start",
    "auth.sso_callback",
    "main.healthz",
    "static",
    # The API's generated description (no data in it).
    "api.openapi",
    "api.docs",
    # HR events are webhooks: the HMAC-SHA256 signature with the shared HANDOVER_HR_EVENTS_SECRET
    # is their authentication (checked before anything is read; stale timestamps and replayed ids
    # refused), and no cookie is read. Unsigned requests get 401.
    "hr.events",
}


@pytest.fixture(scope="module")
def routes_app() -> Iterator[Flask]:
    """The routes do not depend on the database, so one app serves the whole module."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        yield app


def endpoints(app: Flask) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()})


def test_every_endpoint_declares_an_access_rule(routes_app: Flask) -> None:
    missing = [e for e in endpoints(routes_app) if e != "static" and access_rule(e) is None]
    assert not missing, (
        "These endpoints declare no access rule, so everyone is refused: mark each view with "
        f"@public, @signed_in or @roles(...) from app.security: {', '.join(missing)}"
    )


def test_access_rules_are_well_formed(routes_app: Flask) -> None:
    bad = []
    for endpoint in endpoints(routes_app):
        rule = access_rule(endpoint)
        if rule in ("public", "signed_in") or (isinstance(rule, TokenRule) and isinstance(rule.scope, Scope)):
            continue
        if not (isinstance(rule, tuple) and rule and all(isinstance(role, Role) for role in rule)):
            bad.append(f"{endpoint}: {rule!r}")
    assert not bad, "Access rules must be 'public', 'signed_in' or a non-empty tuple of Roles:\n" + "\n".join(bad)


def test_only_the_allowlist_is_public(routes_app: Flask) -> None:
    public = {e for e in endpoints(routes_app) if access_rule(e) == "public"}
    assert public == PUBLIC, (
        f"Public endpoints changed. Newly public: {sorted(public - PUBLIC) or 'none'}; "
        f"no longer public: {sorted(PUBLIC - public) or 'none'}. Update PUBLIC only after a security review."
    )


def test_every_endpoint_has_a_row_in_the_access_matrix(routes_app: Flask) -> None:
    covered = {row.endpoint for row in MATRIX}
    missing = [e for e in endpoints(routes_app) if e not in covered]
    assert not missing, (
        "These endpoints have no row in MATRIX (tests/integration/test_access_matrix.py); add one line "
        f"each saying which roles may use them: {', '.join(missing)}"
    )


def test_matrix_rows_match_real_routes(routes_app: Flask) -> None:
    """No stale rows, and each row uses a method its route accepts."""
    methods: dict[str, set[str]] = {}
    for rule in routes_app.url_map.iter_rules():
        methods.setdefault(rule.endpoint, set()).update(rule.methods or ())
    bad = [
        f"{row.label()}: {'no such endpoint' if row.endpoint not in methods else f'{row.method} not accepted'}"
        for row in MATRIX
        if row.method not in methods.get(row.endpoint, set())
    ]
    assert not bad, "Access matrix rows that do not match url_map:\n" + "\n".join(bad)


def test_post_only_endpoints_are_tried_with_post(routes_app: Flask) -> None:
    """A POST-only endpoint's row must POST (a GET would only show 405 for everyone)."""
    rows = {(row.endpoint, row.method) for row in MATRIX}
    posts_only = {
        rule.endpoint
        for rule in routes_app.url_map.iter_rules()
        if "GET" not in (rule.methods or ()) and "POST" in (rule.methods or ())
    }
    missing = sorted(e for e in posts_only if (e, "POST") not in rows)
    assert not missing, f"POST-only endpoints need a POST row in the matrix: {', '.join(missing)}"


def test_a_view_without_a_rule_is_refused(routes_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deny by default: strip the mark from a view and even the sign-in redirect goes away."""
    assert routes_app.test_client().get("/").status_code == 302  # marked: anonymous is sent to sign in
    monkeypatch.delattr(routes_app.view_functions["main.home"], ACCESS_ATTR)
    response = routes_app.test_client().get("/")
    assert response.status_code == 403
    assert "You do not have access" in response.text
