"""Hardening of the HTTP layer: headers on every answer, body limits, proxies, 404 for unseen
objects, http(s)-only links, GET never writes, and the map of security requirements to tests."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import AuditEvent, AuthAttempt, Role
from app.security import public
from app.services import api_tokens
from app.services.context import Actor
from tests import factories
from tests.conftest import CSRF_RE

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BROWSER_FEATURES = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")


def bearer(*scopes: str) -> dict[str, str]:
    _, token = api_tokens.create_token(Actor.system(), f"Hardening {'+'.join(scopes)}", list(scopes), 30)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def assert_hardened(response: Any) -> None:
    policy = response.headers.get("Permissions-Policy", "")
    assert all(feature in policy for feature in BROWSER_FEATURES), (response.status_code, policy)
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


# --- 1. Headers on every response -------------------------------------------------------------


def _boom_route(app: Flask) -> None:
    @public
    def boom() -> Any:
        raise RuntimeError("a bug in a view")

    app.add_url_rule("/__boom", "hardening_boom", boom)
    app.add_url_rule("/api/v1/__boom", "hardening_api_boom", boom)


def test_every_answer_carries_the_permissions_policy(app: Flask, client: Any, login_as: Any) -> None:
    _boom_route(app)
    sign_in = client.get("/login")
    assert sign_in.status_code == 200
    assert_hardened(sign_in)

    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert_hardened(missing)
    not_allowed = client.delete("/login")
    assert not_allowed.status_code == 405
    assert_hardened(not_allowed)
    crashed = client.get("/__boom")
    assert crashed.status_code == 500 and "Something went wrong" in crashed.text
    assert_hardened(crashed)

    api_missing = client.get("/api/v1/people/999999", headers=bearer("registry:read"))
    assert api_missing.status_code == 404 and api_missing.mimetype == "application/problem+json"
    assert_hardened(api_missing)
    api_unauthorised = client.get("/api/v1/people")
    assert api_unauthorised.status_code == 401 and api_unauthorised.mimetype == "application/problem+json"
    assert_hardened(api_unauthorised)
    api_crashed = client.get("/api/v1/__boom")
    assert api_crashed.status_code == 500 and api_crashed.mimetype == "application/problem+json"
    assert_hardened(api_crashed)

    scim_missing = client.get("/scim/v2/Users/no-such-id", headers=bearer("scim"))
    assert scim_missing.status_code == 404 and scim_missing.json["schemas"] == [SCIM_ERROR]
    assert_hardened(scim_missing)
    scim_unauthorised = client.get("/scim/v2/Users")
    assert scim_unauthorised.status_code == 401
    assert_hardened(scim_unauthorised)

    login_as(Role.STAFF)
    forbidden = client.get("/users/")
    assert forbidden.status_code == 403
    assert_hardened(forbidden)
    # Development and testing are served over plain HTTP: no HSTS there.
    assert "Strict-Transport-Security" not in forbidden.headers


def test_a_throttled_sign_in_and_a_rate_limit_carry_the_headers(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    page = client.get("/login")
    answers = [
        client.post("/login", data={"email": user.email, "password": "wrong-password-x", "csrf_token": client.token()})
        for _ in range(app.config["THROTTLE_PER_ACCOUNT"] + 1)
    ]
    assert page.status_code == 200
    assert answers[-1].status_code == 429
    assert_hardened(answers[-1])


def test_the_api_rate_limit_answer_carries_the_headers(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "limited.sqlite3"
    shutil.copy(sqlite_template, path)
    limited_app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute"
    )
    with limited_app.app_context():
        headers = bearer("registry:read")
        api = limited_app.test_client()
        assert api.get("/api/v1/departments", headers=headers).status_code == 200
        limited = api.get("/api/v1/departments", headers=headers)
        assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
        assert_hardened(limited)
        db.session.remove()
        db.engine.dispose()


PRODUCTION = {
    "SECRET_KEY": "production-secret-key-long-enough-for-the-check-0123456789",
    "MASTER_KEYS": "prod-1:cHJvZHVjdGlvbi1vbmx5LW1hc3Rlci1rZXktMzJieXQ",
    "AUDIT_KEY": "audit-1:" + "B" * 43,
}


def test_production_tells_browsers_to_use_https_only(database_url: str) -> None:
    production = create_app("production", SQLALCHEMY_DATABASE_URI=database_url, **PRODUCTION)
    with production.app_context():
        response = production.test_client().get("/login", base_url="https://handover.example.org")
        missing = production.test_client().get("/no-such-page", base_url="https://handover.example.org")
        db.session.remove()
        db.engine.dispose()
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert missing.status_code == 404
    assert missing.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_hardened(missing)


# --- 2. Request body limit --------------------------------------------------------------------


def test_the_default_body_limit_leaves_room_for_the_csv_import(app: Flask) -> None:
    from app.imports import staging
    from app.imports.routes import ENVELOPE

    largest_import_body = staging.token_limit(app.config["IMPORT_MAX_BYTES"]) + ENVELOPE
    assert app.config["MAX_CONTENT_LENGTH"] >= largest_import_body


def test_the_body_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from config import ConfigError

    monkeypatch.setenv("HANDOVER_MAX_BODY_BYTES", "4096")
    assert create_app("testing", SQLALCHEMY_DATABASE_URI=database_url).config["MAX_CONTENT_LENGTH"] == 4096
    monkeypatch.setenv("HANDOVER_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match="HANDOVER_MAX_BODY_BYTES must be a whole number"):
        create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)


def test_an_oversized_body_is_refused_413_in_each_door_s_own_format(app: Flask, client: Any, login_as: Any) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 4096
    login_as(Role.IT)
    big = "x" * 5000
    page = client.post("/accounts/new", data={"csrf_token": client.token(), "name": big})
    assert page.status_code == 413 and page.mimetype == "text/html"
    assert "That request is too large" in page.text and "larger than 4 KB" in page.text
    assert_hardened(page)

    api = client.post("/api/v1/people", json={"name": big, "work_email": "big@org.example"}, headers=bearer("people:write"))
    assert api.status_code == 413 and api.mimetype == "application/problem+json"
    assert api.json["status"] == 413 and "larger than 4 KB" in api.json["detail"]
    assert_hardened(api)

    scim = client.post(
        "/scim/v2/Users", data=json.dumps({"userName": big}), content_type="application/scim+json", headers=bearer("scim")
    )
    assert scim.status_code == 413 and scim.json["schemas"] == [SCIM_ERROR] and scim.json["status"] == "413"
    assert_hardened(scim)
    # Under the limit the same doors answer as usual.
    small = client.post(
        "/api/v1/people", json={"name": "Small", "work_email": "small@org.example"}, headers=bearer("people:write")
    )
    assert small.status_code == 201


# --- 3. Behind a reverse proxy ----------------------------------------------------------------

PROXY = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "handover.example.org"}


@pytest.fixture(params=[0, 1], ids=["no-proxy", "one-proxy"])
def proxied(request: pytest.FixtureRequest, database_url: str) -> Iterator[Flask]:
    """An app told there are 0 or 1 proxies in front of it, with a page that shows what it believes."""
    from tests.conftest import Client, _truncate_all

    proxied_app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, PROXY_HOPS=request.param, THROTTLE_PER_ADDRESS=3)
    proxied_app.test_client_class = Client

    @public
    def where() -> Any:
        from flask import request as current

        return {"addr": current.remote_addr, "scheme": current.scheme, "host": current.host}

    proxied_app.add_url_rule("/__where", "hardening_where", where)
    with proxied_app.app_context():
        yield proxied_app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
        db.engine.dispose()


def _sign_in(client: Any, email: str, password: str, headers: dict[str, str]) -> Any:
    page = client.get("/login", headers=headers)
    token = CSRF_RE.search(page.text)
    assert token, "no CSRF token on the sign-in page"
    # Over HTTPS the CSRF check also wants the Referer a browser sends: the page it came from.
    referer = {"Referer": "https://handover.example.org/login"}
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}, headers={**headers, **referer}
    )


def test_forwarded_headers_count_only_with_a_proxy_configured(proxied: Flask) -> None:
    trusted = proxied.config["PROXY_HOPS"] == 1
    seen = proxied.test_client().get("/__where", headers=PROXY).json
    if trusted:
        assert seen == {"addr": "203.0.113.9", "scheme": "https", "host": "handover.example.org"}
    else:
        assert seen == {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"}

    user = factories.make_user(Role.STAFF)
    db.session.commit()
    assert _sign_in(proxied.test_client(), user.email, factories.PASSWORD, PROXY).status_code == 302
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.sign_in")).one()
    assert event.remote_addr == ("203.0.113.9" if trusted else "127.0.0.1")


def test_the_sign_in_throttle_counts_the_forwarded_address(proxied: Flask) -> None:
    trusted = proxied.config["PROXY_HOPS"] == 1
    user = factories.make_user(Role.STAFF)
    db.session.commit()
    guesser = proxied.test_client()
    for n in range(3):  # THROTTLE_PER_ADDRESS failures from 203.0.113.9
        assert _sign_in(guesser, f"guess{n}@org.example", "wrong-password-x", PROXY).status_code == 400
    keys = set(db.session.scalars(sa.select(AuthAttempt.key)))
    assert ("sign-in:address:203.0.113.9" in keys) is trusted

    held = _sign_in(guesser, user.email, factories.PASSWORD, PROXY)
    assert held.status_code == 429
    # Someone else behind the same proxy: a separate address only when the proxy is believed.
    colleague = _sign_in(proxied.test_client(), user.email, factories.PASSWORD, {**PROXY, "X-Forwarded-For": "198.51.100.4"})
    assert colleague.status_code == (302 if trusted else 429)


def test_proxy_hops_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import ConfigError, TestingConfig

    assert TestingConfig.load()["PROXY_HOPS"] == 0
    monkeypatch.setenv("HANDOVER_PROXY_HOPS", "1")
    assert TestingConfig.load()["PROXY_HOPS"] == 1
    monkeypatch.setenv("HANDOVER_PROXY_HOPS", "-1")
    with pytest.raises(ConfigError, match="HANDOVER_PROXY_HOPS"):
        TestingConfig.load()


# --- 4. An object the role may not see is answered as a missing one ---------------------------

MISSING = 2_000_000_000

#: (door, method, URL pattern with {id}, the World attribute whose id is unseen by staff)
UNSEEN_DOORS = [
    ("account page", "GET", "/accounts/{id}", "account"),
    ("account edit", "GET", "/accounts/{id}/edit", "account"),
    ("account edit (save)", "POST", "/accounts/{id}/edit", "account"),
    ("account retire", "GET", "/accounts/{id}/retire", "account"),
    ("account add admin", "POST", "/accounts/{id}/admins", "account"),
    ("person page", "GET", "/people/{id}", "person"),
    ("credential note", "GET", "/credentials/{id}", "note"),
    ("credential reveal", "POST", "/credentials/{id}/reveal", "note"),
    ("credential rotate", "GET", "/credentials/{id}/rotate", "note"),
    ("review task", "GET", "/reviews/tasks/{id}", "task"),
    ("review confirm", "POST", "/reviews/tasks/{id}/confirm", "task"),
    ("offboarding case", "GET", "/offboarding/{id}", "case"),
    ("closed offboarding case", "GET", "/offboarding/{id}", "closed_case"),
    ("exit declaration", "GET", "/offboarding/{id}/exit-declaration", "case"),
    ("checklist item complete", "POST", "/offboarding/items/{id}/complete", "case_item"),
    ("checklist item confirm", "POST", "/offboarding/items/{id}/confirm", "awaiting_item"),
]


def _without_id(body: str, object_id: int) -> str:
    """The body without the id, and without the CSRF tokens' signatures: they carry the second they
    were signed, so two requests a second apart differ there and nowhere else."""
    body = re.sub(r'(name="csrf_token" value=|name="csrf-token" content=)"[^"]*"', r'\1"<token>"', body)
    return re.sub(rf"\bid {object_id}\b", "id <id>", body)


def _door(client: Any, method: str, url: str) -> tuple[int, str]:
    response = client.get(url) if method == "GET" else client.submit(url, {})
    return response.status_code, response.text


def test_an_unseen_object_is_answered_exactly_like_a_missing_id(app: Flask, client: Any, login_as: Any) -> None:
    from tests.integration.test_access_matrix import World

    staff = login_as(Role.STAFF)
    world = World(staff.person)
    client.get("/")  # shows (and so clears) the "Signed in" message
    differences = []
    for door, method, pattern, attr in UNSEEN_DOORS:
        unseen_id = getattr(world, attr).id
        unseen_status, unseen_body = _door(client, method, pattern.format(id=unseen_id))
        missing_status, missing_body = _door(client, method, pattern.format(id=MISSING))
        # The id itself may be quoted ("There is no account with id 17"): everything else is identical.
        same = _without_id(unseen_body, unseen_id) == _without_id(missing_body, MISSING)
        if (unseen_status, missing_status) != (404, 404) or not same:
            unseen_lines, missing_lines = (
                _without_id(unseen_body, unseen_id).splitlines(),
                _without_id(missing_body, MISSING).splitlines(),
            )
            first = next((pair for pair in zip(unseen_lines, missing_lines, strict=False) if pair[0] != pair[1]), None)
            differences.append(f"{door}: unseen {unseen_status}, missing {missing_status}; first difference: {first}")
    assert not differences, "\n".join(differences)


def test_a_role_that_can_never_use_the_page_still_gets_403(app: Flask, client: Any, login_as: Any) -> None:
    from tests.integration.test_access_matrix import World

    staff = login_as(Role.STAFF)
    world = World(staff.person)
    assert client.get("/people/").status_code == 403
    assert client.get(f"/platforms/{world.platform.id}").status_code == 403
    assert client.get(f"/users/{world.colleague.id}").status_code == 403
    # A note on their own account: seen (its page opens) but not revealed by their role.
    assert client.get(f"/credentials/{world.my_note.id}").status_code == 200
    assert client.submit(f"/credentials/{world.my_note.id}/reveal", {"reason": "curious"}).status_code == 403


# --- 5. Only http(s) web addresses --------------------------------------------------------------

REFUSED_ADDRESSES = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "ftp://files.example.org/page",
    "/accounts/1",
    "www.facebook.com/riversidelib",
    "https://",
    "https:///no-host",
]


def test_the_shared_rule_takes_http_and_https_with_a_host_only() -> None:
    from app.services.urls import web_address_problem

    for address in REFUSED_ADDRESSES:
        assert web_address_problem(address), address
    for address in ("https://www.facebook.com/riversidelib", "http://intranet.example:8080/x?y=1", "", "  "):
        assert web_address_problem(address) is None, address
    assert "“javascript:” addresses are not allowed" in (web_address_problem("javascript:alert(1)") or "")
    assert "no site name" in (web_address_problem("https://") or "")


@pytest.fixture
def platform_id(app: Flask) -> int:
    platform = factories.make_platform("Facebook", slug="facebook", role_names=["admin"])
    db.session.commit()
    return platform.id


def test_a_form_refuses_a_script_address(client: Any, login_as: Any, platform_id: int) -> None:
    from app.models import Account

    login_as(Role.IT)
    for address in ("javascript:alert(1)", "data:text/html,hi", "/relative/path"):
        page = client.submit(
            "/accounts/new", {"name": "Branch Page", "platform_id": platform_id, "url": address, "status": "active"}
        )
        assert page.status_code == 400, address
        assert "Give a full address starting with https://" in page.text or "no site name" in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    saved = client.submit(
        "/accounts/new",
        {"name": "Branch Page", "platform_id": platform_id, "url": "https://facebook.example/b", "status": "active"},
    )
    assert saved.status_code == 302


def test_the_api_refuses_a_script_address_with_a_field_error(app: Flask, platform_id: int) -> None:
    api = app.test_client()
    headers = bearer("registry:write")
    for address in ("javascript:alert(1)", "file:///etc/passwd", "ftp://x.example/"):
        response = api.post("/api/v1/accounts", json={"platform_id": platform_id, "name": "P", "url": address}, headers=headers)
        assert response.status_code in (400, 422), (address, response.status_code)
        assert response.mimetype == "application/problem+json"
        assert [e["loc"] for e in response.json["errors"]] == [["url"]], response.json
    created = api.post(
        "/api/v1/accounts", json={"platform_id": platform_id, "name": "P", "url": "https://x.example/"}, headers=headers
    )
    assert created.status_code == 201, created.json
    patched = api.patch(
        f"/api/v1/accounts/{created.json['id']}",
        json={"url": "data:text/html,hi"},
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert patched.status_code in (400, 422) and [e["loc"] for e in patched.json["errors"]] == [["url"]]


def test_the_csv_import_refuses_a_script_address_by_line_and_column(client: Any, login_as: Any, platform_id: int) -> None:
    from tests.integration.test_csv_import import ACCOUNTS, text_of, to_csv, upload

    login_as(Role.IT)
    data = to_csv(
        ACCOUNTS,
        {"platform": "Facebook", "name": "Good Page", "url": "https://facebook.example/good"},
        {"platform": "Facebook", "name": "Bad Page", "url": "javascript:alert(1)"},
    )
    preview = text_of(upload(client, "accounts", data, "accounts.csv"))
    assert "1 with problems" in preview
    assert "“javascript:” addresses are not allowed here" in preview


# --- 7. A GET never writes: tests/integration/test_get_safety.py crawls every GET route as every role.
