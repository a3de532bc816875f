"""SCIM 2.0 as identity providers meet it: conformance (scim2-tester), Okta's and Entra's ways of
provisioning, the enterprise extension, filters, ETags and errors. Deprovisioning has its own file."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from app.extensions import db
from app.models import AuditEvent, Department, Person, Role, ScimIdentity
from app.services import api_tokens
from app.services.context import Actor
from tests import factories

SCIM = "/scim/v2"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def scim_token(name: str = "Okta SCIM", actor: Actor | None = None, scopes: tuple[str, ...] = ("scim",)) -> dict[str, str]:
    _, token = api_tokens.create_token(actor or Actor.system(), name, list(scopes), 30)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def send(
    api: Any, method: str, path: str, headers: dict[str, str], body: Any = None, query: dict[str, Any] | None = None, **extra: str
) -> Any:
    """A request as identity providers send it: application/scim+json; ``extra`` are more headers."""
    data = json.dumps(body) if body is not None else None
    return api.open(
        f"{SCIM}{path}",
        method=method,
        headers={**headers, **extra},
        data=data,
        query_string=query,
        content_type="application/scim+json",
    )


def search(api: Any, headers: dict[str, str], scim_filter: str) -> dict[str, Any]:
    response = send(api, "GET", "/Users", headers, query={"filter": scim_filter})
    assert response.status_code == 200, response.text
    return response.json


def okta_user(email: str, external_id: str, given: str = "Ana", family: str = "Reyes", active: bool = True) -> dict[str, Any]:
    """What Okta's SCIM 2.0 app sends to create (and, with an id, to replace) a user."""
    return {
        "schemas": [CORE],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "Okta-Sends-A-Password-1",
        "active": active,
    }


def entra_user(upn: str, object_id: str, *, department: str | None = None, employee_number: str | None = None) -> dict[str, Any]:
    """What Microsoft Entra ID's default mapping sends to create a user."""
    user: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": object_id,
        "userName": upn,
        "active": True,
        "displayName": "Ben Okafor",
        "emails": [{"primary": True, "type": "work", "value": upn}],
        "name": {"formatted": "Ben Okafor", "familyName": "Okafor", "givenName": "Ben"},
        "title": "Branch Librarian",
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        ENTERPRISE: {"department": department, "employeeNumber": employee_number},
    }
    user[ENTERPRISE] = {k: v for k, v in user[ENTERPRISE].items() if v is not None}
    return user


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def created(api: Any, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = send(api, "POST", "/Users", headers, body)
    assert response.status_code == 201, response.text
    return response.json


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def api(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def okta(app: Flask) -> dict[str, str]:
    return scim_token()


# --- Conformance -----------------------------------------------------------------------------


def test_scim2_tester_finds_no_error_for_users(app: Flask, okta: dict[str, str]) -> None:
    """scim2-tester's whole suite (discovery, CRUD, attribute filtering, PATCH add/replace/remove of
    every published attribute) against /scim/v2 in process."""
    client = WSGISCIMClient(app, base_url=f"http://localhost{SCIM}", headers=okta)
    results = check_server(client)
    statuses = Counter(result.status.name for result in results)
    failures = [f"{r.title}: {r.reason}" for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    print(f"scim2-tester: {dict(statuses)}")  # the counts, for the record (pytest -s)
    assert not failures, "\n".join(failures)
    user_checks = [r for r in results if r.resource_type == "User"]
    # The suite really ran against Users: every CRUD step and a PATCH of each published attribute.
    assert {r.title for r in user_checks} >= {
        "object_creation",
        "object_query",
        "object_query_without_id",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
    }
    replaced = {r.data["urn"] for r in user_checks if r.title == "check_replace_attribute" and r.status is Status.SUCCESS}
    assert {"userName", "active", "emails", f"{ENTERPRISE}:manager", f"{ENTERPRISE}:department"} <= replaced
    assert statuses["SUCCESS"] >= 60 and not statuses.get("SKIPPED")
    # Its deletions deprovisioned people; nothing was deleted from Handover.
    assert count(Person) == count(ScimIdentity) > 0


def test_discovery_is_generated_from_the_models(api: Any, okta: dict[str, str]) -> None:
    config = send(api, "GET", "/ServiceProviderConfig", okta)
    assert config.status_code == 200 and config.mimetype == "application/scim+json"
    assert config.json["patch"] == {"supported": True}
    assert config.json["etag"] == {"supported": True}
    assert config.json["bulk"]["supported"] is False
    assert config.json["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    types = send(api, "GET", "/ResourceTypes", okta).json
    assert [t["id"] for t in types["Resources"]] == ["User"]
    assert types["Resources"][0]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert send(api, "GET", "/ResourceTypes/User", okta).json["endpoint"] == "/Users"

    schemas = {s["id"]: s for s in send(api, "GET", "/Schemas", okta).json["Resources"]}
    assert set(schemas) == {CORE, ENTERPRISE}
    core = {a["name"]: a for a in schemas[CORE]["attributes"]}
    # Only what Handover keeps is published: no password, phone numbers or groups to round-trip.
    assert set(core) == {"userName", "name", "displayName", "title", "active", "emails"}
    assert core["userName"]["uniqueness"] == "server" and core["userName"]["required"] is True
    assert {a["name"] for a in schemas[ENTERPRISE]["attributes"]} == {"employeeNumber", "department", "manager"}
    assert send(api, "GET", f"/Schemas/{ENTERPRISE}", okta).json["name"] == "EnterpriseUser"
    missing = send(api, "GET", "/Schemas/urn:nope", okta)
    assert missing.status_code == 404 and missing.json["schemas"] == [ERROR]


def test_only_a_scim_token_opens_the_door(api: Any, client: Any, login_as: Any) -> None:
    anonymous = api.get(f"{SCIM}/Users")
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/scim+json" and anonymous.json["status"] == "401"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    reader = send(api, "GET", "/Users", scim_token("Reader", scopes=("registry:read",)))
    assert reader.status_code == 403 and "lacks the scope scim" in reader.json["detail"]
    login_as(Role.ADMIN)
    assert client.get(f"{SCIM}/Users").status_code == 401  # a signed-in browser is not an identity provider
    forged = client.post(f"{SCIM}/Users", json=okta_user("x@org.example", "x"))
    assert forged.status_code == 401
    assert count(Person, Person.work_email == "x@org.example") == 0


# --- Provisioning ----------------------------------------------------------------------------


def test_okta_creates_a_person_and_finds_them_by_username_and_external_id(api: Any, okta: dict[str, str]) -> None:
    assert search(api, okta, 'userName eq "ana.reyes@org.example"')["totalResults"] == 0

    user = created(api, okta, okta_user("ana.reyes@org.example", "00u1abcd"))
    person = db.session.get(Person, int(user["id"]))
    assert (person.name, person.work_email, person.hr_id) == ("Ana Reyes", "ana.reyes@org.example", "00u1abcd")
    assert user["active"] is True and user["meta"]["location"].endswith(f"/scim/v2/Users/{person.id}")
    assert "password" not in user
    # The password Okta sends is dropped on the way in: it is in no table, audit event included.
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                assert "Okta-Sends-A-Password-1" not in repr(tuple(row)), f"password stored in {table.name}"

    for query in ('userName eq "ANA.REYES@org.example"', 'externalId eq "00u1abcd"', f'id eq "{person.id}"'):
        found = search(api, okta, query)
        assert found["totalResults"] == 1 and found["Resources"][0]["id"] == str(person.id), query
    assert search(api, okta, 'externalId eq "00U1ABCD"')["totalResults"] == 0  # caseExact
    assert search(api, okta, 'userName sw "ana" and title pr')["totalResults"] == 0  # evaluated by scim2-models
    assert search(api, okta, 'userName sw "ana" and displayName co "Reyes"')["totalResults"] == 1
    audit = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == person.id)).all()
    assert {"person.create", "scim.link"} <= set(audit)
    assert (
        db.session.scalar(sa.select(AuditEvent.actor_name).where(AuditEvent.action == "person.create")) == "API token “Okta SCIM”"
    )


def test_people_hr_added_first_are_matched_not_duplicated(api: Any, okta: dict[str, str]) -> None:
    """Okta and Entra look a user up by userName before creating them; a POST for someone already on
    the staff list links that person instead of failing or making a second one."""
    existing = factories.make_person("Carla Mendes", work_email="carla@org.example")
    db.session.commit()
    found = search(api, okta, 'userName eq "Carla@org.example"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == str(existing.id)
    user = created(api, okta, okta_user("carla@org.example", "00u2", given="Carla", family="Mendes-Silva"))
    assert user["id"] == str(existing.id)
    assert count(Person) == 1
    assert db.session.get(Person, existing.id).name == "Carla Mendes-Silva"
    again = send(api, "POST", "/Users", okta, okta_user("carla@org.example", "00u2"))
    assert again.status_code == 409 and again.json["scimType"] == "uniqueness"


def test_entra_enterprise_extension_department_manager_and_employee_number(api: Any) -> None:
    entra = scim_token("Entra provisioning")
    factories.make_department("Adult Services")
    db.session.commit()
    manager = created(api, entra, entra_user("grace@org.example", "obj-1", department="adult services"))
    # Matched by name whatever the case: no second department.
    assert count(Department) == 1
    assert manager[ENTERPRISE]["department"] == "Adult Services"

    user = created(api, entra, entra_user("ben@org.example", "obj-2", department="Makerspace", employee_number="E-1042"))
    person = db.session.get(Person, int(user["id"]))
    assert person.department.name == "Makerspace" and person.job_title == "Branch Librarian"
    assert db.session.scalar(sa.select(AuditEvent.actor_name).where(AuditEvent.action == "department.create")) == (
        "API token “Entra provisioning”"
    )
    assert user[ENTERPRISE]["employeeNumber"] == "E-1042"
    assert "phoneNumbers" not in user  # not published, so not kept

    # Entra sends the manager as the manager's id, bare.
    op = {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]}
    response = send(api, "PATCH", f"/Users/{user['id']}", entra, patch(op))
    assert response.status_code == 200, response.text
    assert response.json[ENTERPRISE]["manager"]["value"] == manager["id"]
    assert response.json[ENTERPRISE]["manager"]["$ref"].endswith(f"/Users/{manager['id']}")
    db.session.expire_all()
    assert db.session.get(Person, int(user["id"])).manager_id == int(manager["id"])

    unknown = send(api, "PATCH", f"/Users/{user['id']}", entra, patch({**op, "value": "999999"}))
    assert unknown.status_code == 400 and unknown.json["scimType"] == "invalidValue"
    assert "provision the manager first" in unknown.json["detail"]
    db.session.expire_all()
    assert db.session.get(Person, int(user["id"])).manager_id == int(manager["id"])  # nothing changed


def test_put_replaces_and_a_stale_etag_is_refused(api: Any, okta: dict[str, str]) -> None:
    user = created(api, okta, okta_user("dee@org.example", "00u3", given="Dee", family="Park"))
    url = f"/Users/{user['id']}"
    read = send(api, "GET", url, okta)
    etag = read.headers["ETag"]
    assert etag == read.json["meta"]["version"] and etag.startswith('W/"')
    changed = {**okta_user("dee@org.example", "00u3", given="Dee", family="Park-Lee"), "id": user["id"], "title": "Archivist"}
    response = send(api, "PUT", url, okta, changed, **{"If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.json["displayName"] == "Dee Park-Lee" and response.json["title"] == "Archivist"
    assert response.headers["ETag"] != etag

    stale = send(api, "PUT", url, okta, {**changed, "title": "Curator"}, **{"If-Match": etag})
    assert stale.status_code == 412 and stale.json["schemas"] == [ERROR]
    db.session.expire_all()
    assert db.session.get(Person, int(user["id"])).job_title == "Archivist"
    # RFC 7644 §3.5.1: what PUT leaves out is cleared.
    cleared = send(api, "PUT", url, okta, {k: v for k, v in changed.items() if k != "title"})
    assert cleared.status_code == 200 and "title" not in cleared.json


def test_patch_answers_200_with_the_user_and_applies_all_operations_or_none(api: Any, okta: dict[str, str]) -> None:
    user = created(api, okta, okta_user("eli@org.example", "00u4", given="Eli", family="Stone"))
    url = f"/Users/{user['id']}"
    ops = patch(
        {"op": "replace", "path": "title", "value": "Outreach Lead"},
        {"op": "replace", "value": {"displayName": "Eli J. Stone"}},
    )
    response = send(api, "PATCH", url, okta, ops)
    assert response.status_code == 200 and response.json["id"] == user["id"]
    assert (response.json["title"], response.json["displayName"]) == ("Outreach Lead", "Eli J. Stone")

    bad = patch({"op": "replace", "path": "title", "value": "Never Saved"}, {"op": "replace", "path": "id", "value": "7"})
    refused = send(api, "PATCH", url, okta, bad)
    assert refused.status_code == 400 and refused.json["scimType"] == "mutability"
    db.session.expire_all()
    assert db.session.get(Person, int(user["id"])).job_title == "Outreach Lead"


def test_handover_keeps_the_last_word_on_names_hr_changed(api: Any, okta: dict[str, str]) -> None:
    user = created(api, okta, okta_user("fay@org.example", "00u5", given="Fay", family="Lin"))
    person = db.session.get(Person, int(user["id"]))
    person.name = "Fay Lin-Moreau"  # HR corrected it in Handover
    db.session.commit()
    assert send(api, "GET", f"/Users/{user['id']}", okta).json["displayName"] == "Fay Lin-Moreau"


def test_personal_addresses_are_not_kept(api: Any, okta: dict[str, str]) -> None:
    body = okta_user("gil@org.example", "00u6", given="Gil", family="Ray")
    body["emails"].append({"value": "gil.home@mail.example", "type": "home"})
    user = created(api, okta, body)
    assert [e["value"] for e in user["emails"]] == ["gil@org.example"]
    identity = db.session.get(ScimIdentity, int(user["id"]))
    assert "gil.home@mail.example" not in json.dumps(identity.attributes)


def test_clear_errors_that_change_nothing(api: Any, okta: dict[str, str]) -> None:
    created(api, okta, okta_user("hal@org.example", "00u7"))
    taken = send(api, "POST", "/Users", okta, okta_user("hal@org.example", "00u8"))
    assert taken.status_code == 409 and taken.json["scimType"] == "uniqueness"
    no_email = {k: v for k, v in okta_user("ivy@org.example", "00u9").items() if k != "emails"}
    missing = send(api, "POST", "/Users", okta, no_email)
    assert missing.status_code == 400 and missing.json["scimType"] in ("invalidValue", "invalidSyntax")
    bad_filter = send(api, "GET", "/Users", okta, query={"filter": 'userName eq "unterminated'})
    assert bad_filter.status_code == 400 and bad_filter.json["scimType"] == "invalidFilter"
    not_json = api.post(f"{SCIM}/Users", headers=okta, data="{nope", content_type="application/scim+json")
    assert not_json.status_code == 400 and not_json.json["scimType"] == "invalidSyntax"
    unknown = send(api, "GET", "/Users/424242", okta)
    assert unknown.status_code == 404 and unknown.json == {"schemas": [ERROR], "status": "404", "detail": unknown.json["detail"]}
    assert count(Person) == 1


def test_pages_with_start_index_and_count(api: Any, okta: dict[str, str]) -> None:
    for n in range(5):
        created(api, okta, okta_user(f"p{n}@org.example", f"00p{n}", given=f"P{n}", family="Page"))
    page = send(api, "GET", "/Users", okta, query={"startIndex": 2, "count": 2}).json
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["p1@org.example", "p2@org.example"]
    request = {"schemas": [SEARCH], "filter": 'userName sw "p3"', "attributes": ["userName"]}
    searched = send(api, "POST", "/Users/.search", okta, request)
    assert searched.status_code == 200, searched.text
    assert searched.json["Resources"] == [
        {"schemas": [CORE], "id": searched.json["Resources"][0]["id"], "userName": "p3@org.example"}
    ]


def test_entra_updates_in_its_own_dialect(api: Any) -> None:
    entra = scim_token("Entra provisioning")
    boss = created(api, entra, entra_user("boss@org.example", "obj-b"))
    user = created(api, entra, entra_user("kim@org.example", "obj-k"))
    url = f"/Users/{user['id']}"
    operations = [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "kim.lee@org.example"},
        {"op": "Replace", "path": "displayName", "value": "Kim Lee"},
        {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Children's Services"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0199"},  # not kept
        {"op": "Replace", "path": "userName", "value": "kim.lee@org.example"},
    ]
    response = send(api, "PATCH", url, entra, patch(*operations))
    assert response.status_code == 200, response.text
    db.session.expire_all()
    person = db.session.get(Person, int(user["id"]))
    assert (person.work_email, person.name, person.department.name) == ("kim.lee@org.example", "Kim Lee", "Children's Services")
    assert person.manager_id == int(boss["id"])
    assert search(api, entra, 'userName eq "kim.lee@org.example"')["totalResults"] == 1
    # Entra names the manager it removes.
    removal = {"op": "Remove", "path": f"{ENTERPRISE}:manager", "value": [{"value": boss["id"]}]}
    assert send(api, "PATCH", url, entra, patch(removal)).status_code == 200
    db.session.expire_all()
    assert db.session.get(Person, int(user["id"])).manager_id is None
