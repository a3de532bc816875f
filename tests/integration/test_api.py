"""The JSON API as an HR system or a script meets it: tokens and scopes, lists, ETags, problems."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, OffboardingCase, ProfileKind, Role
from app.services import api_tokens
from app.services.context import Actor
from tests import factories

ALL_SCOPES = ["registry:read", "registry:write", "people:write", "offboarding:write", "scim"]


def bearer(*scopes: str) -> dict[str, str]:
    _, token = api_tokens.create_token(Actor.system(), f"Test {'+'.join(scopes)}", list(scopes), 30)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def registry(app: Flask) -> dict[str, Any]:
    department = factories.make_department("Adult Services")
    leaver = factories.make_person("Dana Whitfield", department=department, hr_id="HR-7")
    platform = factories.make_platform("Facebook", role_names=["owner", "admin"])
    personal = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=leaver)
    account = factories.make_account(platform, name="Riverside Library Page", owner_profile=personal, steward=leaver)
    factories.make_admin(account, personal)
    db.session.commit()
    return {"leaver": leaver.id, "account": account.id, "department": department.id}


def test_without_a_token_nothing_answers_and_a_session_cookie_does_not_count(api: Any, client: Any, login_as: Any) -> None:
    response = api.get("/api/v1/people")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["request_id"]
    login_as(Role.ADMIN)
    assert client.get("/api/v1/people").status_code == 401  # signed in to the web pages: still no token


def test_a_token_in_the_url_is_refused_even_when_valid(api: Any, registry: dict[str, Any]) -> None:
    token = bearer("registry:read")["Authorization"].split()[1]
    response = api.get(f"/api/v1/people?access_token={token}")
    assert response.status_code == 400
    assert "Authorization header" in response.json["detail"]


def test_each_operation_needs_its_scope(api: Any, registry: dict[str, Any]) -> None:
    reader, scim_only = bearer("registry:read"), bearer("scim")
    assert api.get("/api/v1/accounts", headers=reader).status_code == 200
    refused = api.get("/api/v1/accounts", headers=scim_only)
    assert refused.status_code == 403
    assert "lacks the scope registry:read" in refused.json["detail"]
    new_case = {"person_id": registry["leaver"], "last_day": (date.today() + timedelta(days=10)).isoformat()}
    assert api.post("/api/v1/offboarding/cases", json=new_case, headers=reader).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OffboardingCase)) == 0


def test_a_revoked_or_expired_token_stops_at_once(api: Any, registry: dict[str, Any]) -> None:
    row, token = api_tokens.create_token(Actor.system(), "Script", ["registry:read"], 30)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/people", headers=headers).status_code == 200
    api_tokens.revoke_token(Actor.system(), row)
    db.session.commit()
    assert api.get("/api/v1/people", headers=headers).status_code == 401


def test_lists_page_and_filter_like_the_pages(api: Any, registry: dict[str, Any]) -> None:
    for n in range(30):
        factories.make_person(f"Clerk {n:02}")
    db.session.commit()
    headers = bearer("registry:read")
    first = api.get("/api/v1/people?per_page=10&q=clerk", headers=headers).json
    assert (first["total"], first["page"], len(first["items"])) == (30, 1, 10)
    last = api.get("/api/v1/people?per_page=10&q=clerk&page=3", headers=headers).json
    assert [p["name"] for p in last["items"]][-1] == "Clerk 29"
    too_many = api.get("/api/v1/people?per_page=1000", headers=headers)
    assert too_many.status_code == 422
    assert too_many.json["errors"][0]["loc"] == ["per_page"]
    by_department = api.get(f"/api/v1/people?department={registry['department']}", headers=headers).json
    assert [p["name"] for p in by_department["items"]] == ["Dana Whitfield"]


def test_an_account_comes_with_its_admins_recovery_and_tools(api: Any, registry: dict[str, Any]) -> None:
    response = api.get(f"/api/v1/accounts/{registry['account']}", headers=bearer("registry:read"))
    assert response.status_code == 200
    body = response.json
    assert body["steward"]["name"] == "Dana Whitfield"
    assert [a["profile_kind"] for a in body["admins"]] == ["personal"]
    assert response.headers["ETag"] == f'W/"account-{registry["account"]}-v{body["version"]}"'
    assert api.get("/api/v1/accounts/999999", headers=bearer("registry:read")).status_code == 404


def test_a_person_is_found_by_hr_id(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("registry:read")
    assert api.get("/api/v1/people/by-hr-id/HR-7", headers=headers).json["id"] == registry["leaver"]
    assert api.get("/api/v1/people/by-hr-id/NOPE", headers=headers).status_code == 404


def test_updates_need_the_etag_they_read(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("registry:read", "people:write")
    url = f"/api/v1/people/{registry['leaver']}"
    etag = api.get(url, headers=headers).headers["ETag"]

    assert api.patch(url, json={"job_title": "Librarian"}, headers=headers).status_code == 428
    changed = api.patch(url, json={"job_title": "Librarian"}, headers={**headers, "If-Match": etag})
    assert changed.status_code == 200
    assert changed.json["job_title"] == "Librarian"
    assert changed.headers["ETag"] != etag
    stale = api.patch(url, json={"job_title": "Archivist"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412
    db.session.rollback()
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "person.update")).one()
    assert event.actor_name.startswith("API token")
    assert api.patch(url, json={"shoe_size": 9}, headers={**headers, "If-Match": changed.headers["ETag"]}).status_code == 422


def test_an_hr_system_starts_one_case_and_learns_of_the_open_one(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("offboarding:write", "registry:read")
    body = {"hr_id": "HR-7", "last_day": (date.today() + timedelta(days=14)).isoformat(), "reason": "Moving away"}
    created = api.post("/api/v1/offboarding/cases", json=body, headers=headers)
    assert created.status_code == 201
    case = created.json
    assert (case["person"]["name"], case["started_via"]) == ("Dana Whitfield", "api")
    assert {i["kind"] for i in case["items"]} >= {"transfer_ownership", "reassign_steward"}
    again = api.post("/api/v1/offboarding/cases", json=body, headers=headers)
    assert again.status_code == 409
    assert f"/api/v1/offboarding/cases/{case['id']}" in again.json["detail"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OffboardingCase)) == 1
    assert api.post("/api/v1/offboarding/cases", json={**body, "person_id": 1}, headers=headers).status_code == 400


def test_an_item_that_needs_no_secret_is_completed_with_its_etag(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("offboarding:write", "registry:read")
    successor = factories.make_person("Sam Ortiz")
    db.session.commit()
    body = {"person_id": registry["leaver"], "last_day": (date.today() + timedelta(days=14)).isoformat()}
    case = api.post("/api/v1/offboarding/cases", json=body, headers=headers)
    item = next(i for i in case.json["items"] if i["kind"] == "reassign_steward")
    assert item["completable"] is True
    url = f"/api/v1/offboarding/items/{item['id']}/complete"
    etag = f'W/"item-{item["id"]}-v{item["version"]}"'
    done = api.post(url, json={"data": {"new_person_id": successor.id}}, headers={**headers, "If-Match": etag})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "done"
    assert api.post(url, json={"data": {"new_person_id": successor.id}}, headers={**headers, "If-Match": etag}).status_code == 412


def test_the_document_and_its_page_are_served_locally(api: Any) -> None:
    spec = api.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/offboarding/cases" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    page = api.get("/api/v1/docs")
    assert page.status_code == 200
    assert "GET /api/v1/accounts" in page.text and "If-Match" in page.text
    assert "cdn" not in page.text.lower() and "swagger" not in page.text.lower()  # nothing fetched from elsewhere


def test_a_script_records_an_account_with_admins_recovery_and_a_tool(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("registry:write", "registry:read")
    platform = factories.make_platform("Instagram", role_names=["admin", "editor"])
    organisation = factories.make_profile(platform, kind=ProfileKind.ORGANISATION, name="Riverside Library")
    db.session.commit()
    created = api.post(
        "/api/v1/accounts",
        json={
            "platform_id": platform.id,
            "name": "Library Instagram",
            "handle": "@riversidelib",
            "owner_profile_id": organisation.id,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    url = f"/api/v1/accounts/{created.json['id']}"
    assert (
        api.post(f"{url}/admins", json={"profile_id": organisation.id, "role_name": "admin"}, headers=headers).status_code == 201
    )
    bad_role = api.post(f"{url}/admins", json={"profile_id": organisation.id, "role_name": "owner"}, headers=headers)
    assert bad_role.status_code == 400
    assert bad_role.json["errors"]
    recovery = api.post(f"{url}/recovery-contacts", json={"kind": "email", "value": "web@riverside.example"}, headers=headers)
    assert recovery.status_code == 201
    tool = api.post(f"{url}/connections", json={"tool_name": "Buffer", "profile_id": organisation.id}, headers=headers)
    account = tool.json
    assert ([a["role_name"] for a in account["admins"]], [r["value"] for r in account["recovery_contacts"]]) == (
        ["admin"],
        ["web@riverside.example"],
    )
    assert [c["tool_name"] for c in account["connections"]] == ["Buffer"]
    unknown = api.post("/api/v1/accounts", json={"platform_id": 999, "name": "Ghost"}, headers=headers)
    assert unknown.status_code == 400


def test_an_hr_system_adds_a_person_once(api: Any, registry: dict[str, Any]) -> None:
    headers = bearer("people:write")
    body = {"name": "Sam Ortiz", "work_email": "sam.ortiz@org.example", "hr_id": "HR-99"}
    created = api.post("/api/v1/people", json=body, headers=headers)
    assert created.status_code == 201
    assert created.json["hr_id"] == "HR-99"
    again = api.post("/api/v1/people", json=body, headers=headers)
    assert again.status_code == 400
    assert {e["loc"][0] for e in again.json["errors"]} >= {"work_email"}


def test_each_token_has_its_own_rate_limit(sqlite_template: Any, tmp_path: Any) -> None:
    import shutil

    from app import create_app

    path = tmp_path / "limited.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute"
    )
    with app.app_context():
        busy, quiet = bearer("registry:read"), bearer("registry:read")
        client = app.test_client()
        assert [client.get("/api/v1/departments", headers=busy).status_code for _ in range(3)] == [200, 200, 200]
        limited = client.get("/api/v1/departments", headers=busy)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.mimetype == "application/problem+json"
        assert client.get("/api/v1/departments", headers=quiet).status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_a_nul_character_is_refused_on_both_doors(api: Any, client: Any, login_as: Any) -> None:
    """Found by schemathesis: PostgreSQL cannot hold NUL, so a search for one answered 500."""
    assert api.get("/api/v1/profiles?q=a%00b", headers=bearer("registry:read")).status_code == 400
    body = api.post("/api/v1/people", json={"name": "A\u0000B", "work_email": "a@org.example"}, headers=bearer("people:write"))
    assert body.status_code == 422
    login_as(Role.IT)
    page = client.get("/accounts/?q=a%00b")
    assert page.status_code == 400
    assert "NUL character" in page.text
