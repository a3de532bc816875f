"""Signing in and out, sessions, redirects after sign-in, rate limits, headers and error pages.

Every sign-in costs an argon2 verification, so each test signs in as few times as it can.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Role
from app.models.user import new_session_epoch
from app.security import safe_next
from app.services import users
from app.services.context import Actor
from tests import factories
from tests.conftest import CSRF_RE, Client

GENERIC = "That email and password do not match an active sign-in."


def sign_in(client: Any, email: str, password: str = factories.PASSWORD, next_: str | None = None) -> Any:
    url = "/login" if next_ is None else f"/login?next={quote(next_, safe='')}"
    token = client.token()
    return client.post(url, data={"email": email, "password": password, "csrf_token": token})


def signed_in_as(client: Any) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def page_without(html: str, email: str) -> str:
    return CSRF_RE.sub("", html.replace(email, "EMAIL"))


def location(response: Any) -> str:
    return response.headers["Location"]


# --- Signing in ---------------------------------------------------------------------------


def test_sign_in_page(client: Any) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert "Sign in to Handover" in response.text
    assert 'name="csrf_token"' in response.text
    assert 'type="password"' in response.text


def test_right_password_signs_in_and_goes_home(client: Any, make_user: Any) -> None:
    user = make_user(Role.IT, email="casey.it@org.example")
    response = sign_in(client, "  CASEY.IT@org.example ", factories.PASSWORD)  # emails are not case-sensitive
    assert response.status_code == 302
    assert location(response) == "/"
    assert signed_in_as(client) == user.get_id()
    home = client.get("/")
    assert home.status_code == 200
    assert f"Signed in as {user.display_name}" in home.text


def test_wrong_password_and_unknown_email_get_the_same_answer(client: Any, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    wrong = sign_in(client, user.email, "not-the-password-at-all")
    unknown = sign_in(client, "nobody@org.example", factories.PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert GENERIC in response.text
    assert signed_in_as(client) is None
    # The same page apart from the email typed back and the (timestamped) form token: nothing
    # tells which part was wrong.
    assert page_without(wrong.text, user.email) == page_without(unknown.text, "nobody@org.example")


def test_an_inactive_user_cannot_sign_in(client: Any, make_user: Any) -> None:
    user = make_user(Role.ADMIN, active=False)
    response = sign_in(client, user.email)
    assert response.status_code == 400
    assert GENERIC in response.text
    assert signed_in_as(client) is None


def test_anonymous_visitors_are_sent_to_sign_in_and_brought_back(client: Any, make_user: Any) -> None:
    user = make_user(Role.HR)
    response = client.get("/accounts/?q=page")
    assert response.status_code == 302
    target = urlsplit(location(response))
    assert target.path == "/login"
    assert parse_qs(target.query) == {"next": ["/accounts/?q=page"]}
    signed = client.post(
        location(response), data={"email": user.email, "password": factories.PASSWORD, "csrf_token": client.token()}
    )
    assert location(signed) == "/accounts/?q=page"


# --- Sessions -----------------------------------------------------------------------------


def test_changing_the_session_epoch_ends_existing_sessions(client: Any, make_user: Any) -> None:
    user = make_user(Role.DIRECTOR)
    client.login(user)
    assert client.get("/").status_code == 200
    user.session_epoch = new_session_epoch()
    db.session.commit()
    response = client.get("/accounts/")
    assert response.status_code == 302
    assert urlsplit(location(response)).path == "/login"


def test_deactivating_a_user_ends_their_sessions(client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    client.login(user)
    users.deactivate_user(Actor.system("test"), user, "left the organisation")
    db.session.commit()
    assert urlsplit(location(client.get("/"))).path == "/login"


def test_sign_out_is_post_only_and_ends_the_session(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.STAFF)
    client.login(user)
    refused = client.get("/logout")
    assert refused.status_code == 405
    assert refused.headers.get("Allow", "").split(", ").count("POST") == 1
    assert client.get("/").status_code == 200, "a GET must not sign anyone out"

    copied = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    response = client.submit("/logout")
    assert response.status_code == 302
    assert location(response) == "/login"
    assert signed_in_as(client) is None
    assert urlsplit(location(client.get("/"))).path == "/login"

    # A copy of the cookie taken before signing out does not bring the session back.
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], copied)
    assert urlsplit(location(replay.get("/"))).path == "/login"


# --- Where sign-in leads ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/accounts/", "/accounts/7?tab=admins", "/search?q=a%20b"])
def test_safe_next_keeps_same_site_paths(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "accounts/",
        "//evil.example",
        "///evil.example",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/%0a/x\x00",
    ],
)
def test_safe_next_refuses_anything_that_could_leave_the_site(target: str | None) -> None:
    assert safe_next(target) is None


def test_sign_in_ignores_off_site_next(client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    for target in ("//evil.example", "https://evil.example/x", "/\\evil.example", "/\t/evil.example"):
        response = sign_in(client, user.email, next_=target)
        assert response.status_code == 302
        assert location(response) == "/", f"next={target!r} was followed"
        client.submit("/logout")
        client.csrf = None  # signing out ended the session that held the token


# --- Rate limit ---------------------------------------------------------------------------


@pytest.fixture
def limited_app(database_url: str) -> Iterator[Flask]:
    """An app with rate limits on (TestingConfig turns them off)."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True)
    app.test_client_class = Client
    with app.app_context():
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        db.engine.dispose()


def test_sign_in_is_limited_to_ten_attempts_a_minute(limited_app: Flask) -> None:
    user = factories.make_user(Role.ADMIN)
    db.session.commit()
    client = limited_app.test_client()
    token = client.token()
    for attempt in range(10):
        # An empty password fails form validation: every POST counts, without paying for argon2.
        response = client.post("/login", data={"email": user.email, "password": "", "csrf_token": token})
        assert response.status_code == 400, f"attempt {attempt + 1}"
    refused = client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.text
    assert "Wait a minute, then try again." in refused.text
    assert "Traceback" not in refused.text
    assert "per 1 minute" not in refused.text  # the limiter's own wording stays out of the page
    assert signed_in_as(client) is None
    assert client.get("/login").status_code == 200  # only POSTs are limited


# --- Headers and error pages --------------------------------------------------------------


def assert_security_headers(response: Any) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in csp, f"{response.request.path}: CSP lacks {directive}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy")


def test_security_headers_and_caching(client: Any, make_user: Any) -> None:
    anonymous = [client.get("/login"), client.get("/no-such-page"), client.get("/"), client.get("/healthz")]
    with client.get("/static/css/handover.css") as static:
        anonymous.append(static)
        for response in anonymous:
            assert_security_headers(response)
    assert "private" not in client.get("/login").headers.get("Cache-Control", "")

    client.login(make_user(Role.DIRECTOR))
    for path in ("/", "/accounts/", "/no-such-page", "/people/"):
        response = client.get(path)
        assert_security_headers(response)
        cache = response.headers.get("Cache-Control", "")
        assert "private" in cache and "no-cache" in cache, f"{path}: Cache-Control is {cache!r}"


def test_error_pages_are_friendly_and_hide_internals(client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client.login(make_user(Role.STAFF))

    not_found = client.get("/accounts/999999")
    assert not_found.status_code == 404
    assert "Page not found" in not_found.text or "There is no account" in not_found.text

    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text

    forbidden = client.get("/audit/")
    assert forbidden.status_code == 403
    assert "You do not have access to this" in forbidden.text

    def broken(actor: Actor) -> None:
        raise RuntimeError("connection to db-secret.internal failed: password=hunter2")

    monkeypatch.setattr("app.services.home.summary", broken)
    crashed = client.get("/")
    assert crashed.status_code == 500
    assert "Something went wrong on our side" in crashed.text
    assert_security_headers(crashed)
    for response in (not_found, missing, forbidden, crashed):
        assert response.mimetype == "text/html"
        for leak in ("Traceback", "RuntimeError", "hunter2", "db-secret", 'File "'):
            assert leak not in response.text
    # After the failure the app still serves the next request.
    monkeypatch.undo()
    assert client.get("/").status_code == 200
