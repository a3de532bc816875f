"""Every POST route refuses a request without a valid CSRF token, and nothing changes.

Runs with CSRF protection on, as the app runs (SecureDrop's tests disable it by default and
re-enable it per test: a pitfall). The routes come from ``app.url_map``, so a new form is swept
as soon as it exists; its URL comes from its row in the access matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import csrf, db
from app.models import Role
from tests import factories
from tests.conftest import CSRF_RE
from tests.integration.test_access_matrix import INVENTORY, MATRIX, Row, World, build_url

CSRF_MESSAGE = "The form had expired or came from somewhere else"

#: Forms that would change something if the token were not checked (otherwise an empty form).
PAYLOADS: dict[str, Callable[[World], dict[str, Any]]] = {
    "auth.login": lambda w: {"email": "nobody@org.example", "password": factories.PASSWORD},
    "accounts.create": lambda w: {"name": "Forged Page", "platform_id": w.platform.id, "status": "active"},
    "accounts.edit": lambda w: {"name": "Forged", "platform_id": w.platform.id, "status": "active", "version": w.account.version},
    "accounts.retire": lambda w: {"reason": "forged", "version": w.account.version},
    "accounts.add_admin": lambda w: {"admin-profile_id": w.profile.id, "admin-role_name": "admin"},
    "accounts.add_recovery": lambda w: {"recovery-kind": "email", "recovery-value": "forged@evil.example"},
    "accounts.add_connection": lambda w: {"connection-tool_name": "Forged Tool"},
    "people.create": lambda w: {"name": "Forged Person", "work_email": "forged@org.example", "status": "active"},
    "people.edit": lambda w: {
        "name": "Forged",
        "work_email": w.person.work_email,
        "status": "active",
        "version": w.person.version,
    },
    "profiles.create": lambda w: {"name": "Forged", "platform_id": w.platform.id, "kind": "organisation"},
    "profiles.edit": lambda w: {
        "name": "Forged",
        "platform_id": w.platform.id,
        "kind": "organisation",
        "version": w.profile.version,
    },
    "profiles.add_custodian": lambda w: {"custodian-person_id": w.me.id},
    "departments.create": lambda w: {"name": "Forged Department"},
    "departments.edit": lambda w: {"name": "Forged", "version": w.department.version},
    "platforms.create": lambda w: {"name": "Forged Platform", "role_names": "owner", "rotation_days": 90},
    "platforms.edit": lambda w: {"name": "Forged", "role_names": "owner", "rotation_days": 90, "version": w.platform.version},
    "credentials.create": lambda w: {"label": "Forged", "kind": "password", "secret": "forged-secret"},
    "credentials.reveal": lambda w: {"reason": "forged reveal of the secret"},
    "credentials.rotate": lambda w: {"new_secret": "forged-new-value", "reason": "forged rotation"},
    "credentials.edit": lambda w: {"label": "Forged", "kind": "password", "version": w.note.version},
    "credentials.delete": lambda w: {"reason": "forged deletion"},
    "credentials.restore": lambda w: {"reason": "forged restore"},
    "offboarding.start": lambda w: {"person_id": w.person.id, "last_day": "2099-01-31", "reason": "forged"},
    "offboarding.complete": lambda w: {
        f"item{w.case_item.id}-new_person_id": w.me.id,
        f"item{w.case_item.id}-version": w.case_item.version,
    },
    "offboarding.confirm": lambda w: {f"item{w.awaiting_item.id}-version": w.awaiting_item.version},
    "offboarding.waive": lambda w: {"reason": "forged waiver", "version": w.case_item.version},
    "offboarding.refresh": lambda w: {"version": w.case.version},
    "offboarding.cancel": lambda w: {"reason": "forged cancel", "version": w.case.version},
    "offboarding.close": lambda w: {"version": w.case.version},
    "offboarding.exit_declaration": lambda w: {"declared-0-name": "Forged", "declared-0-platform_id": w.platform.id},
    "offboarding.template_new": lambda w: {"title": "Forged item", "due_offset_days": "0", "assignee_role": "hr"},
    "offboarding.template_edit": lambda w: {"title": "Forged edit", "due_offset_days": "1", "assignee_role": "it"},
    "auth.forgot_password": lambda w: {"email": w.colleague.email},
    "auth.reset_password": lambda w: {"password": "forged-password-1234", "confirm": "forged-password-1234"},
    "auth.accept_invitation": lambda w: {"password": "forged-password-1234", "confirm": "forged-password-1234"},
    "account.change_password": lambda w: {
        "current_password": factories.PASSWORD,
        "password": "forged-password-1234",
        "confirm": "forged-password-1234",
    },
    "users.invite": lambda w: {"email": "forged@evil.example", "role": "admin"},
    "users.change_role": lambda w: {"role": "admin"},
    "users.deactivate": lambda w: {"reason": "forged deactivation"},
    "users.reactivate": lambda w: {"reason": "forged reactivation"},
    "users.reset_two_factor": lambda w: {"reason": "forged reset"},
}


def fingerprint() -> dict[str, list[Any]]:
    """Every row of every table, audit events included, read on a connection of its own."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
            for table in db.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def post_routes(app: Flask) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())})


def test_csrf_protection_is_on_in_tests(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True


def test_every_post_route_refuses_a_missing_or_foreign_token(app: Flask, client: Any, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    world = World(admin.person)
    client.login(admin)
    # A real token, but from somebody else's session (an attacker's own sign-in page).
    foreign = CSRF_RE.search(app.test_client().get("/login").text).group(1)  # type: ignore[union-attr]
    attempts = {"no token": None, "a made-up token": "forged-token", "another session's token": foreign}
    rows = {row.endpoint: row for row in reversed(MATRIX)}  # the first row of each endpoint
    endpoints = post_routes(app)
    assert "accounts.create" in endpoints and "auth.logout" in endpoints  # the sweep sees the forms

    problems = []
    for endpoint in endpoints:
        if endpoint not in rows:
            problems.append(f"{endpoint}: no row in the access matrix, so the sweep cannot build its URL")
            continue
        url = build_url(app, rows[endpoint], world)
        payload = PAYLOADS.get(endpoint, lambda w: {})(world)
        before = fingerprint()
        machine_door = endpoint.split(".")[0] in {bp.name for bp in csrf._exempt_blueprints}  # type: ignore[attr-defined]
        for label, token in attempts.items():
            data = payload if token is None else {**payload, "csrf_token": token}
            with client.post(url, data=data) as response:
                if machine_door:
                    # Bearer-token and signed-request doors take no cookies, so CSRF cannot reach
                    # them: a signed-in browser's post is refused as unauthenticated instead.
                    if response.status_code not in (401, 403):
                        problems.append(f"{endpoint} with {label}: {response.status_code}, not refused without a token")
                elif response.status_code != 400 or CSRF_MESSAGE not in response.text:
                    problems.append(f"{endpoint} with {label}: {response.status_code}, not the 400 CSRF page")
        if changed := changed_tables(before, fingerprint()):
            problems.append(f"{endpoint}: a refused post changed {', '.join(changed)}")
    assert not problems, "\n".join(problems)
    # The refused sign-out did not sign the admin out.
    assert client.get("/").status_code == 200


FINDING_INDEX = {
    "finding_index",
    "finding_index_people",
    "finding_counts",
    "finding_platform_counts",
    "account_risk_scores",
    "finding_index_state",
}
#: What follows a change to accounts or people without being one: the finding index, and the
#: counts PostgreSQL keeps (app.models.kept_count).
DERIVED = {*FINDING_INDEX, "kept_counts"}


def test_the_sweep_would_notice_a_change(app: Flask, client: Any, make_user: Any) -> None:
    """The same kind of post with the session's token goes through and shows in the fingerprint."""
    admin = make_user(Role.IT)
    world = World(admin.person)
    client.login(admin)
    before = fingerprint()
    url = build_url(app, Row("accounts.create", INVENTORY), world)
    response = client.submit(url, PAYLOADS["accounts.create"](world))
    assert response.status_code == 302, response.text
    # The new account, its audit event and the chain head; the finding index and the kept counts follow.
    changed = set(changed_tables(before, fingerprint()))
    assert {"accounts", "audit_events", "audit_head"} <= changed <= {"accounts", "audit_events", "audit_head", *DERIVED}
