"""Two factors: the code step after the password (throttled, each code once, recovery codes once),
roles that must enrol before anything else, the reveal that asks for password and code, and the
production setting that names those roles.

Codes are computed with pyotp from the secret, as the person's phone would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Account, CredentialKind, CredentialReveal, Role
from app.services import credentials
from app.services.context import Actor
from config import ConfigError, mfa_required_roles
from tests import factories
from tests.conftest import Client, _truncate_all
from tests.integration.sign_in_kit import (
    Phone,
    code_step,
    fresh,
    password_step,
    resign,
    sent_to_sign_in,
    token_from,
    turn_on_two_factors,
)

SECRET = "canary-registrar-Q7x9pw"
REASON = "Renewing the domain"


def wrong_code(phone: Phone) -> str:
    """A well-formed code the server cannot accept now."""
    valid = {phone.code(step) for step in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def at_the_code_step(client: Any, user: Any) -> None:
    response = password_step(client, user.email, factories.PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/login/two-factor"


# --- The code step ------------------------------------------------------------------------


def test_five_wrong_codes_then_even_the_right_one_must_wait(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    phone, _, _ = turn_on_two_factors(user)
    at_the_code_step(client, user)
    for attempt in range(5):
        wrong = code_step(client, wrong_code(phone))
        assert wrong.status_code == 400, f"attempt {attempt + 1}"
        assert "That code is not right, or was already used" in wrong.text

    held = code_step(client, phone.code(1))

    assert held.status_code == 429
    assert 0 < int(held.headers["Retry-After"]) <= 15 * 60
    assert "Too many attempts in a short time" in held.text
    assert sent_to_sign_in(client.get("/"))


def test_a_code_works_once(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    phone, used_at_enrolment, _ = turn_on_two_factors(user)
    at_the_code_step(client, user)

    reused = code_step(client, used_at_enrolment)

    assert reused.status_code == 400 and "was already used" in reused.text
    assert sent_to_sign_in(client.get("/"))
    fresh_code = code_step(client, phone.code(1))
    assert fresh_code.status_code == 302 and fresh_code.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_recovery_code_works_once(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    _, _, recovery = turn_on_two_factors(user)
    at_the_code_step(client, user)
    assert code_step(client, recovery[0]).status_code == 302
    client.csrf = None
    assert client.submit("/logout").status_code == 302

    at_the_code_step(client, user)
    again = code_step(client, recovery[0])
    assert again.status_code == 400 and "was already used" in again.text
    assert code_step(client, f" {recovery[1].upper()} ").status_code == 302, "typed in capitals, with spaces"

    assert "8 of 10 recovery codes unused" in client.get("/account/").text


def test_the_code_step_lasts_five_minutes(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    phone, _, _ = turn_on_two_factors(user)
    at_the_code_step(client, user)
    with client.session_transaction() as session:
        pending = session["pending_sign_in"]
        session["pending_sign_in"] = {**pending, "at": pending["at"] - 301}  # the password was typed 5 min 1 s ago

    late = client.get("/login/two-factor")

    assert sent_to_sign_in(late)
    assert "Start again" in client.get("/login").text
    assert sent_to_sign_in(client.get("/"))


# --- Roles that must use two factors ------------------------------------------------------


@pytest.fixture
def strict_app(database_url: str) -> Iterator[Flask]:
    """The app as in production: admins and IT must use two factors."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, MFA_REQUIRED_ROLES=("admin", "it"))
    app.test_client_class = Client
    with app.app_context():
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
        db.engine.dispose()


def test_a_role_that_needs_two_factors_must_enrol_before_anything_else(strict_app: Flask) -> None:
    user = factories.make_user(Role.IT)
    db.session.commit()
    password_hash = user.password_hash
    client = strict_app.test_client()

    signed_in = password_step(client, user.email, factories.PASSWORD)

    assert signed_in.headers["Location"] == "/account/two-factor"
    for path in ("/", "/accounts/", "/account/", "/people/", "/credentials/queue", "/login"):
        detour = client.get(path)
        assert detour.status_code == 303 and detour.headers["Location"] == "/account/two-factor", path
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    assert "Your role can reveal or manage secrets, so Handover needs a second factor" in page.text
    client.csrf = token_from(page.text)
    for path, form in (
        ("/accounts/new", {"name": "Sneaked in", "status": "active"}),
        ("/account/password", {"current_password": factories.PASSWORD, "password": "x" * 20, "confirm": "x" * 20}),
    ):
        detour = client.submit(path, form)
        assert detour.status_code == 303 and detour.headers["Location"] == "/account/two-factor", path
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    assert fresh(user.id).password_hash == password_hash

    phone = Phone(re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1))  # type: ignore[union-attr]
    wrong = client.submit("/account/two-factor", {"code": wrong_code(phone)})
    assert wrong.status_code == 400 and "That code does not match" in wrong.text
    assert client.get("/").status_code == 303, "a wrong code turns nothing on"
    enrolled = client.submit("/account/two-factor", {"code": phone.code()})

    assert enrolled.status_code == 200 and "Two factors are on" in enrolled.text
    assert len(re.findall(r"<code>[a-z2-9]{5}-[a-z2-9]{5}</code>", enrolled.text)) == 10
    assert enrolled.headers["Cache-Control"] == "no-store"
    for path in ("/", "/accounts/", "/account/"):
        assert client.get(path).status_code == 200, path
    assert fresh(user.id).two_factor_enabled


def test_a_role_without_the_rule_is_not_forced(strict_app: Flask) -> None:
    user = factories.make_user(Role.STAFF)
    db.session.commit()
    client = strict_app.test_client()

    signed_in = password_step(client, user.email, factories.PASSWORD)

    assert signed_in.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    account = client.get("/account/")
    assert account.status_code == 200 and "Your role must use a second factor" not in account.text


def test_an_enrolled_admin_goes_through_the_code_step(strict_app: Flask) -> None:
    user = factories.make_user(Role.ADMIN)
    db.session.commit()
    phone, _, _ = turn_on_two_factors(user)
    client = strict_app.test_client()
    at_the_code_step(client, user)
    assert sent_to_sign_in(client.get("/users/")), "the password alone signs nobody in"
    assert code_step(client, phone.code(1)).status_code == 302
    assert client.get("/users/").status_code == 200


# --- Revealing a secret -------------------------------------------------------------------


def test_an_old_sign_in_with_two_factors_needs_the_password_and_a_code_to_reveal(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    phone, _, recovery = turn_on_two_factors(user)
    account = factories.make_account(name="Domain registrar")
    note = credentials.create_note(
        Actor.system("test"), credentials.NoteData("Registrar login", CredentialKind.PASSWORD), SECRET, account=account
    )
    db.session.commit()
    at_the_code_step(client, user)
    assert code_step(client, recovery[0]).status_code == 302
    resign(client, auth_at=3600)  # signed in an hour ago
    page = client.get(f"/credentials/{note.id}")
    assert 'name="password"' in page.text and 'name="code"' in page.text
    url = f"/credentials/{note.id}/reveal"

    password_only = client.submit(url, {"reason": REASON, "password": factories.PASSWORD})
    code_only = client.submit(url, {"reason": REASON, "code": recovery[1]})
    wrong_password = client.submit(url, {"reason": REASON, "password": "not-my-password", "code": phone.code(1)})

    assert password_only.status_code == 401 and "That code is not right" in password_only.text
    assert code_only.status_code == 401 and "That is not your password" in code_only.text
    assert wrong_password.status_code == 401
    for refused in (password_only, code_only, wrong_password):
        assert SECRET not in refused.text
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialReveal)) == 0

    both = client.submit(url, {"reason": REASON, "password": factories.PASSWORD, "code": recovery[2]})

    assert both.status_code == 200 and SECRET in both.text
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialReveal)) == 1


# --- The production setting ---------------------------------------------------------------


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A production environment that starts, apart from the setting under test."""
    for name in [n for n in os.environ if n.startswith("HANDOVER_") and not n.startswith("HANDOVER_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HANDOVER_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("HANDOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'handover.sqlite3'}")
    monkeypatch.setenv("HANDOVER_MASTER_KEYS", "prod-1:" + "A" * 43)
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", "audit-1:" + "B" * 43)
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance"))


def test_production_requires_two_factors_of_admins_and_it_unless_told_otherwise(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert mfa_required_roles(create_app("production").config) == {"admin", "it"}
    monkeypatch.setenv("HANDOVER_MFA_REQUIRED_ROLES", "admin, hr, it")
    assert mfa_required_roles(create_app("production").config) == {"admin", "hr", "it"}
    monkeypatch.setenv("HANDOVER_MFA_REQUIRED_ROLES", "None")
    assert mfa_required_roles(create_app("production").config) == frozenset()


@pytest.mark.parametrize("value", ["", " ", ","])
def test_production_refuses_an_empty_list_of_roles_needing_two_factors(
    production: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HANDOVER_MFA_REQUIRED_ROLES", value)
    with pytest.raises(ConfigError, match="HANDOVER_MFA_REQUIRED_ROLES is empty.*HANDOVER_MFA_REQUIRED_ROLES=none"):
        create_app("production")


def test_a_misspelt_role_is_refused(production: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOVER_MFA_REQUIRED_ROLES", "admin,admins")
    with pytest.raises(ConfigError, match="'admins' is not a role"):
        create_app("production")
