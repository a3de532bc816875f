"""Deprovisioning through SCIM, the way identity providers really send it.

A corpus of Okta- and Entra-style requests — PATCH in each dialect, PUT, DELETE, repeats, a stale
ETag — each played against a person who has a Handover sign-in and an API token they made. Every
one must end in exactly one offboarding case (last day today), the sign-in deactivated with its
sessions ended, the token revoked, an audit trail, and nothing deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import ApiToken, AuditEvent, CaseStatus, OffboardingCase, Person, PersonStatus, ProfileKind, Role, User
from app.services import api_tokens, offboarding
from app.services.context import Actor
from tests import factories
from tests.integration.test_scim import CORE, count, created, okta_user, patch, scim_token, send


@dataclass
class Played:
    """One person, provisioned over SCIM, with a sign-in and a token of their own."""

    api: Any
    headers: dict[str, str]
    user_id: str
    first_etag: str
    responses: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/Users/{self.user_id}"


Step = Callable[[Played], Any]


def PATCH(body: dict[str, Any], stale: bool = False) -> Step:  # noqa: N802  (reads like the verb sent)
    def step(p: Played) -> Any:
        return send(p.api, "PATCH", p.url, p.headers, body, **({"If-Match": p.first_etag} if stale else {}))

    return step


def PUT(active: bool = False, stale: bool = False) -> Step:  # noqa: N802
    def step(p: Played) -> Any:
        current = send(p.api, "GET", p.url, p.headers).json if not stale else None
        body = {**okta_user("leaver@org.example", "00uLEAVER", given="Lee", family="Vance", active=active), "id": p.user_id}
        if current is not None:
            body["title"] = current.get("title")
        return send(p.api, "PUT", p.url, p.headers, body, **({"If-Match": p.first_etag} if stale else {}))

    return step


def DELETE(stale: bool = False) -> Step:  # noqa: N802
    def step(p: Played) -> Any:
        return send(p.api, "DELETE", p.url, p.headers, **({"If-Match": p.first_etag} if stale else {}))

    return step


def EDIT(p: Played) -> Any:
    """Someone else changes the user first, so the ETag read at the start is stale."""
    return send(p.api, "PATCH", p.url, p.headers, patch({"op": "replace", "path": "title", "value": "Branch Manager"}))


OKTA_VALUE = patch({"op": "replace", "value": {"active": False}})
OKTA_PATH = patch({"op": "replace", "path": "active", "value": False})
ENTRA = patch({"op": "Replace", "path": "active", "value": "False"})
ENTRA_ADD = patch({"op": "Add", "path": "active", "value": "False"})
ENTRA_MULTI = patch(
    {"op": "Replace", "path": "active", "value": "False"},
    {"op": "Replace", "path": "displayName", "value": "Lee Vance (left)"},
)
CORE_URN_PATH = patch({"op": "replace", "path": f"{CORE}:active", "value": False})
ACTIVE_AGAIN = patch({"op": "Replace", "path": "active", "value": "True"})


@dataclass(frozen=True)
class Case:
    steps: tuple[Step, ...]
    #: Status of each step's response, in order.
    statuses: tuple[int, ...]
    #: How many times the provider deprovisioned (an edge from active to inactive).
    deprovisionings: int = 1


CORPUS = {
    "okta PATCH value {active: false}": Case((PATCH(OKTA_VALUE),), (200,)),
    "okta PATCH path active": Case((PATCH(OKTA_PATH),), (200,)),
    "okta PUT active false": Case((PUT(),), (200,)),
    'entra PATCH Replace "False"': Case((PATCH(ENTRA),), (200,)),
    'entra PATCH Add "False"': Case((PATCH(ENTRA_ADD),), (200,)),
    "entra PATCH with another operation": Case((PATCH(ENTRA_MULTI),), (200,)),
    "PATCH path with the core schema URN": Case((PATCH(CORE_URN_PATH),), (200,)),
    "DELETE": Case((DELETE(),), (204,)),
    "entra disables, then deletes": Case((PATCH(ENTRA), DELETE()), (200, 204)),
    "PATCH repeated three times": Case((PATCH(ENTRA), PATCH(ENTRA), PATCH(OKTA_VALUE)), (200, 200, 200)),
    "PUT repeated": Case((PUT(), PUT()), (200, 200)),
    "DELETE repeated": Case((DELETE(), DELETE()), (204, 404)),
    "PATCH then PUT": Case((PATCH(OKTA_PATH), PUT()), (200, 200)),
    "PATCH with a stale ETag": Case((EDIT, PATCH(OKTA_VALUE, stale=True)), (200, 200)),
    "PUT with a stale ETag": Case((EDIT, PUT(stale=True)), (200, 200)),
    "DELETE with a stale ETag": Case((EDIT, DELETE(stale=True)), (200, 204)),
    "inactive, active again, inactive": Case((PATCH(ENTRA), PATCH(ACTIVE_AGAIN), PATCH(ENTRA)), (200, 200, 200), 2),
}


def provision(app: Flask) -> tuple[Played, Person, User, ApiToken]:
    api = app.test_client()
    headers = scim_token("Okta SCIM")
    user = created(api, headers, okta_user("leaver@org.example", "00uLEAVER", given="Lee", family="Vance"))
    person = db.session.get(Person, int(user["id"]))
    sign_in = factories.make_user(Role.IT, email="leaver@org.example", person=person)
    token, _ = api_tokens.create_token(Actor.for_user(sign_in), "Lee's inventory script", ["registry:read"], 30)
    db.session.commit()
    etag = send(api, "GET", f"/Users/{user['id']}", headers).headers["ETag"]
    return Played(api, headers, user["id"], etag), person, sign_in, token


def cases_of(person_id: int) -> list[OffboardingCase]:
    return list(db.session.scalars(sa.select(OffboardingCase).where(OffboardingCase.person_id == person_id)))


def deprovision_events(person_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == "scim.deprovision", AuditEvent.object_type == "person", AuditEvent.object_id == person_id
            )
        )
    )


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 12
    assert sum(1 for case in CORPUS.values() if len(case.steps) > 1) >= 5


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_deprovisioning_ends_in_exactly_one_offboarding_case(app: Flask, name: str) -> None:
    case = CORPUS[name]
    played, person, sign_in, token = provision(app)
    epoch = sign_in.session_epoch
    for step, expected in zip(case.steps, case.statuses, strict=True):
        response = step(played)
        assert response.status_code == expected, f"{name}: {response.status_code} {response.text}"
        if response.status_code == 200 and step is not EDIT:
            # PATCH and PUT answer with the user, who is no longer active.
            assert response.json["id"] == played.user_id and response.mimetype == "application/scim+json"

    db.session.expire_all()
    cases = cases_of(person.id)
    assert len(cases) == 1, f"{name}: {len(cases)} cases"
    assert (cases[0].started_via, cases[0].last_day, cases[0].status) == ("scim", date.today(), CaseStatus.OPEN)
    assert cases[0].items, "the checklist was generated from their footprint"
    kept = db.session.get(Person, person.id)  # nothing deleted
    assert (kept.work_email, kept.status, kept.last_day) == ("leaver@org.example", PersonStatus.LEAVING, date.today())
    stopped = db.session.get(User, sign_in.id)
    assert stopped.active is False and stopped.session_epoch != epoch
    assert db.session.get(ApiToken, token.id).revoked_at is not None
    assert len(deprovision_events(person.id)) == case.deprovisionings
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"offboarding.start", "user.deactivate", "api_token.revoke", "scim.deprovision"} <= actions
    if any(step.__qualname__.startswith("DELETE") for step in case.steps):
        assert send(played.api, "GET", played.url, played.headers).status_code == 404
    else:
        assert send(played.api, "GET", played.url, played.headers).json["active"] is False


def test_a_signed_in_session_ends_at_once(app: Flask, client: Any) -> None:
    played, person, sign_in, _ = provision(app)
    client.login(sign_in)
    assert client.get("/").status_code == 200
    assert PATCH(ENTRA)(played).status_code == 200
    assert client.get("/").headers["Location"].startswith("/login")


def test_a_case_hr_already_opened_carries_on(app: Flask) -> None:
    played, person, sign_in, token = provision(app)
    hr = Actor.for_user(factories.make_user(Role.HR))
    later = date.today() + timedelta(days=21)
    offboarding.start_case(hr, person, later, "Moving away")
    db.session.commit()
    assert PATCH(OKTA_VALUE)(played).status_code == 200
    db.session.expire_all()
    cases = cases_of(person.id)
    assert [(c.started_via, c.last_day) for c in cases] == [("web", later)]
    assert db.session.get(User, sign_in.id).active is False
    assert "carries on" in deprovision_events(person.id)[0].summary


def test_active_again_does_not_cancel_the_case(app: Flask) -> None:
    played, person, *_ = provision(app)
    PATCH(ENTRA)(played)
    response = PATCH(ACTIVE_AGAIN)(played)
    assert response.status_code == 200 and response.json["active"] is True
    db.session.expire_all()
    assert [c.status for c in cases_of(person.id)] == [CaseStatus.OPEN]  # cancelling is HR's decision
    summary = db.session.scalar(sa.select(AuditEvent.summary).where(AuditEvent.action == "scim.reactivate"))
    assert "stays open until HR cancels it" in summary


def test_a_person_who_left_and_whose_case_closed_gets_no_second_case(app: Flask) -> None:
    played, person, *_ = provision(app)
    PATCH(ENTRA)(played)
    db.session.expire_all()
    case = cases_of(person.id)[0]
    case.status = CaseStatus.CLOSED
    person = db.session.get(Person, person.id)
    person.status, person.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    PATCH(ACTIVE_AGAIN)(played)
    assert DELETE()(played).status_code == 204  # later, the provider deletes them
    assert len(cases_of(person.id)) == 1
    assert "already departed" in deprovision_events(person.id)[-1].summary


def test_the_last_active_admin_keeps_their_sign_in_but_loses_their_sessions(app: Flask) -> None:
    api = app.test_client()
    headers = scim_token()
    user = created(api, headers, okta_user("only.admin@org.example", "00uADMIN", given="Only", family="Admin"))
    admin = factories.make_user(Role.ADMIN, person=db.session.get(Person, int(user["id"])))
    db.session.commit()
    epoch = admin.session_epoch
    assert send(api, "PATCH", f"/Users/{user['id']}", headers, ENTRA).status_code == 200
    db.session.expire_all()
    admin = db.session.get(User, admin.id)
    assert admin.active is True and admin.session_epoch != epoch
    assert len(cases_of(admin.person_id)) == 1
    assert "the last active admin stays active" in deprovision_events(admin.person_id)[0].summary


def test_delete_keeps_everything_the_person_held(app: Flask) -> None:
    played, person, *_ = provision(app)
    profile = factories.make_profile(kind=ProfileKind.PERSONAL, holder=person)
    account = factories.make_account(owner_profile=profile, steward=person)
    db.session.commit()
    assert DELETE()(played).status_code == 204
    db.session.expire_all()
    assert db.session.get(Person, person.id) is not None
    assert db.session.get(type(account), account.id).owner_profile_id == profile.id
    items = cases_of(person.id)[0].items
    assert any(item.account_id == account.id for item in items)
    listed = send(played.api, "GET", "/Users", played.headers).json
    assert played.user_id not in [r["id"] for r in listed.get("Resources", [])]
    assert count(Person) >= 1
