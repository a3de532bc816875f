"""The JSON API under /api/v1: the registry for other systems, behind scoped bearer tokens.

Each view parses its input (spectree validates it against the pydantic models in
``app.api.schemas``), calls one service function as the token's actor, commits once, and returns a
model. The OpenAPI document is generated from those models and views (spectree); /api/v1/docs
renders it as a page served by Handover itself (no CDN).

Why spectree: it builds the OpenAPI 3 document from pydantic models, the same validation library
SCIM uses through scim2-models, so the API and SCIM share one way of describing data; and it
validates responses as well as requests, so the document cannot drift from what is sent.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from sqlalchemy.orm import selectinload

from app.api import schemas as s
from app.api.auth import api_actor, rate_limit_key
from app.extensions import csrf, db, limiter
from app.models.account import Account, AccountStatus, RecoveryKind
from app.models.api_token import Scope
from app.models.offboarding import CaseStatus, ChecklistItem, ItemKind, ItemStatus, OffboardingCase
from app.models.person import Department, Person, PersonStatus
from app.models.profile import Profile, ProfileKind
from app.security import public, token
from app.services import accounts, checklist, findings, offboarding, people, profiles
from app.services.errors import DomainError, NotFound, ValidationFailed
from app.services.pagination import Page, paginate

bp = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")
csrf.exempt(bp)  # bearer tokens, never cookies: a browser cannot be tricked into sending one

#: Kinds an API caller may complete: those that need no secret typed in (rotating a credential does).
COMPLETABLE = frozenset(kind for kind in ItemKind if kind is not ItemKind.ROTATE_CREDENTIAL)


class RequestInvalid(DomainError):
    """The request broke the schema; ``errors`` lists where (pydantic's locations and messages)."""

    status = 422

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("The request does not match the API's schema; nothing was changed. See errors for where.")
        self.errors = errors


class PreconditionFailed(DomainError):
    status = 412


class PreconditionRequired(DomainError):
    status = 428


def _before(req: Any, resp: Any, req_validation_error: Any, instance: Any, model_adapter: Any = None) -> None:
    if req_validation_error is not None:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in req_validation_error.errors()
        ]
        raise RequestInvalid(errors)


def _after(req: Any, resp: Any, resp_validation_error: Any, instance: Any, model_adapter: Any = None) -> None:
    if resp_validation_error is not None:  # a bug: the server's answer broke its own schema
        current_app.logger.error("API response broke its schema at %s: %s", req.path, resp_validation_error)


api = SpecTree(
    "flask",
    title="Handover API",
    version="1",
    description="The registry of an organisation's online accounts and who controls them. "
    "Authenticate with `Authorization: Bearer <token>`; tokens are made by an admin under Users → API tokens.",
    mode="strict",
    annotations=False,
    path="api/v1/spectree",
    before=_before,
    after=_after,
    validation_error_status=422,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer"))],
    security={"bearer": []},
)

PROBLEMS = {"HTTP_400": s.Problem, "HTTP_401": s.Problem, "HTTP_403": s.Problem, "HTTP_422": s.Problem, "HTTP_429": s.Problem}


def _responses(ok: str, model: Any, *extra: int) -> Responses:
    codes = {ok: model, **PROBLEMS, **{f"HTTP_{code}": s.Problem for code in extra}}
    return Responses(**codes)


limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_limit_key)(bp)


# --- Serialisers -----------------------------------------------------------------------------


def _ref(obj: Any, name: str | None = None) -> s.Ref | None:
    return None if obj is None else s.Ref(id=obj.id, name=name or getattr(obj, "label", None) or obj.name)


def person_out(p: Person) -> s.Person:
    return s.Person(
        id=p.id,
        name=p.name,
        work_email=p.work_email,
        job_title=p.job_title,
        hr_id=p.hr_id,
        department=_ref(p.department),
        manager=_ref(p.manager),
        status=p.status.value,
        last_day=p.last_day,
        left_on=p.left_on,
        version=p.version,
    )


def profile_out(p: Profile) -> s.Profile:
    return s.Profile(
        id=p.id,
        platform=s.Ref(id=p.platform.id, name=p.platform.name),
        name=p.name,
        handle=p.handle,
        kind=p.kind.value,
        holder=_ref(p.holder),
        custodians=[s.Ref(id=c.person.id, name=c.person.name) for c in p.custodian_links],
        version=p.version,
    )


def account_out(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "platform": s.Ref(id=a.platform.id, name=a.platform.name),
        "name": a.name,
        "handle": a.handle,
        "url": a.url,
        "purpose": a.purpose,
        "department": _ref(a.department),
        "status": a.status.value,
        "owner": _ref(a.owner_profile),
        "steward": _ref(a.steward),
        "has_own_login": a.has_own_login,
        "last_reviewed_at": a.last_reviewed_at,
        "version": a.version,
    }


def account_detail_out(a: Account) -> s.AccountDetail:
    return s.AccountDetail(
        **account_out(a),
        admins=[
            s.Admin(
                id=x.id,
                profile=s.Ref(id=x.profile.id, name=x.profile.label),
                profile_kind=x.profile.kind.value,
                role_name=x.role_name,
                since=x.since,
            )
            for x in a.admins
        ],
        recovery_contacts=[
            s.RecoveryContact(
                id=r.id,
                kind=r.kind.value,
                value=accounts.recorded_value(r.kind, r.value, r.person),
                person=_ref(r.person),
                last_verified_at=r.last_verified_at,
            )
            for r in a.recovery_contacts
        ],
        connections=[
            s.ConnectionOut(
                id=c.id, tool_name=c.tool_name, purpose=c.purpose, profile=_ref(c.profile), authorised_at=c.authorised_at
            )
            for c in a.connections
        ],
    )


def item_out(i: ChecklistItem) -> s.Item:
    return s.Item(
        id=i.id,
        kind=i.kind.value,
        status=i.status.value,
        title=i.title,
        due_on=i.due_on,
        account=_ref(i.account),
        assignee=_ref(i.assignee),
        assignee_role=i.assignee_role,
        completable=i.kind in COMPLETABLE and i.status is ItemStatus.OPEN,
        version=i.version,
    )


def case_fields(c: OffboardingCase) -> dict[str, Any]:
    return {
        "id": c.id,
        "person": s.Ref(id=c.person.id, name=c.person.name),
        "last_day": c.last_day,
        "reason": c.reason,
        "status": c.status.value,
        "started_via": c.started_via,
        "started_by": c.started_by_name,
        "items_open": sum(1 for i in c.items if not i.status.is_finished),
        "items_total": len(c.items),
        "version": c.version,
    }


def _page(model: Any, page: Page[Any], convert: Any) -> Any:
    return model(items=[convert(x) for x in page.items], page=page.page, per_page=page.per_page, total=page.total)


def _etag(version: int, kind: str, record_id: int) -> str:
    return f'W/"{kind}-{record_id}-v{version}"'


def _with_etag(body: Any, kind: str, record: Any, status: int = 200) -> Any:
    return body, status, {"ETag": _etag(record.version, kind, record.id)}


def _expected_version(kind: str, record: Any) -> int:
    """The version the caller last saw, from If-Match (RFC 9110 §13.1.1); 428 without one, 412 when stale."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired(f"Send If-Match with the ETag of the {kind} you read, so no one else's change is overwritten.")
    current = _etag(record.version, kind, record.id)
    if header.strip() != "*" and current not in [tag.strip() for tag in header.split(",")]:
        raise PreconditionFailed(f"The {kind} changed since you read it (now {current}). Read it again, then retry.")
    return record.version


# --- Read ------------------------------------------------------------------------------------


@bp.get("/people")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.PeopleQuery, resp=_responses("HTTP_200", s.PeoplePage), tags=["people"])
def list_people() -> Any:
    """People: the staff list, filtered as on the People page."""
    q: s.PeopleQuery = request.context.query
    filters = people.PeopleFilters(q=q.q, department_id=q.department, status=PersonStatus(q.status) if q.status else None)
    return _page(s.PeoplePage, people.list_people(api_actor(), filters, q.page, q.per_page), person_out)


@bp.get("/people/<int(min=1, max=2147483647):person_id>")
@token(Scope.REGISTRY_READ)
@api.validate(resp=_responses("HTTP_200", s.Person, 404), tags=["people"])
def get_person(person_id: int) -> Any:
    """One person, by Handover id."""
    person = people.get_person(api_actor(), person_id)
    return _with_etag(person_out(person), "person", person)


@bp.get("/people/by-hr-id/<string:hr_id>")
@token(Scope.REGISTRY_READ)
@api.validate(resp=_responses("HTTP_200", s.Person, 404), tags=["people"])
def get_person_by_hr_id(hr_id: str) -> Any:
    """One person, by the id the HR system or identity provider knows them by."""
    person = db.session.scalar(sa.select(Person).where(Person.hr_id == hr_id))
    if person is None:
        raise NotFound(f"Nobody has the HR id {hr_id!r}.")
    return _with_etag(person_out(person), "person", person)


@bp.get("/departments")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.PageQuery, resp=_responses("HTTP_200", s.DepartmentsPage), tags=["people"])
def list_departments() -> Any:
    """Departments, by name."""
    q: s.PageQuery = request.context.query
    page = paginate(sa.select(Department).options(selectinload(Department.head)).order_by(Department.name), q.page, q.per_page)
    return _page(
        s.DepartmentsPage, page, lambda d: s.Department(id=d.id, name=d.name, description=d.description, head=_ref(d.head))
    )


@bp.get("/profiles")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.ProfilesQuery, resp=_responses("HTTP_200", s.ProfilesPage), tags=["registry"])
def list_profiles() -> Any:
    """Profiles: the identities on each platform (personal, persona, shared login, organisation)."""
    q: s.ProfilesQuery = request.context.query
    filters = profiles.ProfileFilters(q=q.q, platform_id=q.platform, kind=ProfileKind(q.kind) if q.kind else None)
    return _page(s.ProfilesPage, profiles.list_profiles(api_actor(), filters, q.page, q.per_page), profile_out)


@bp.get("/profiles/<int(min=1, max=2147483647):profile_id>")
@token(Scope.REGISTRY_READ)
@api.validate(resp=_responses("HTTP_200", s.Profile, 404), tags=["registry"])
def get_profile(profile_id: int) -> Any:
    """One profile, with its holder and custodians."""
    profile = profiles.get_profile(api_actor(), profile_id)
    return _with_etag(profile_out(profile), "profile", profile)


@bp.get("/accounts")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.AccountsQuery, resp=_responses("HTTP_200", s.AccountsPage), tags=["registry"])
def list_accounts() -> Any:
    """Accounts, filtered as on the Accounts page."""
    q: s.AccountsQuery = request.context.query
    filters = accounts.AccountFilters(
        q=q.q,
        platform_id=q.platform,
        department_id=q.department,
        status=AccountStatus(q.status) if q.status else None,
        owner_kind=ProfileKind(q.owner_kind) if q.owner_kind else None,
        steward_id=q.steward,
    )
    return _page(
        s.AccountsPage, accounts.list_accounts(api_actor(), filters, q.page, q.per_page), lambda a: s.Account(**account_out(a))
    )


@bp.get("/accounts/<int(min=1, max=2147483647):account_id>")
@token(Scope.REGISTRY_READ)
@api.validate(resp=_responses("HTTP_200", s.AccountDetail, 404), tags=["registry"])
def get_account(account_id: int) -> Any:
    """One account with its admins, recovery contacts and connected tools."""
    account = accounts.get_account(api_actor(), account_id)
    return _with_etag(account_detail_out(account), "account", account)


@bp.get("/findings")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.FindingsQuery, resp=_responses("HTTP_200", s.FindingsPage), tags=["findings"])
def list_findings() -> Any:
    """Findings: the risks the audit rules derive from the registry, most severe first."""
    q: s.FindingsQuery = request.context.query
    filters = findings.FindingFilters(
        rule_id=q.rule,
        severity=findings.Severity(q.severity) if q.severity else None,
        department_id=q.department,
        person_id=q.person,
    )
    page, _ = findings.list_findings(api_actor(), filters, q.page, q.per_page, current_app.config["REVIEW_INTERVAL_DAYS"])
    return _page(
        s.FindingsPage,
        page,
        lambda f: s.Finding(
            rule=f.rule.id,
            severity=f.severity.value,
            title=f.rule.title,
            detail=f.detail,
            subject_type=f.subject_type,
            subject_id=f.subject_id,
            account=s.Ref(id=f.account_id, name=f.account_name) if f.account_id else None,
            person=s.Ref(id=f.person_id, name=f.person_name or "") if f.person_id else None,
            accepted=f.accepted is not None,
        ),
    )


@bp.get("/offboarding/cases")
@token(Scope.REGISTRY_READ)
@api.validate(query=s.CasesQuery, resp=_responses("HTTP_200", s.CasesPage), tags=["offboarding"])
def list_cases() -> Any:
    """Offboarding cases, newest first."""
    q: s.CasesQuery = request.context.query
    stmt = (
        sa.select(OffboardingCase)
        .options(selectinload(OffboardingCase.person), selectinload(OffboardingCase.items))
        .order_by(OffboardingCase.id.desc())
    )
    if q.status:
        stmt = stmt.where(OffboardingCase.status == CaseStatus(q.status))
    return _page(s.CasesPage, paginate(stmt, q.page, q.per_page), lambda c: s.Case(**case_fields(c)))


def _case(case_id: int) -> OffboardingCase:
    case = db.session.get(OffboardingCase, case_id)
    if case is None:
        raise NotFound("There is no such offboarding case.")
    return case


@bp.get("/offboarding/cases/<int(min=1, max=2147483647):case_id>")
@token(Scope.REGISTRY_READ)
@api.validate(resp=_responses("HTTP_200", s.CaseDetail, 404), tags=["offboarding"])
def get_case(case_id: int) -> Any:
    """One case with its checklist."""
    case = _case(case_id)
    return _with_etag(s.CaseDetail(**case_fields(case), items=[item_out(i) for i in case.items]), "case", case)


# --- Write -----------------------------------------------------------------------------------


@bp.post("/offboarding/cases")
@token(Scope.OFFBOARDING_WRITE)
@api.validate(json=s.NewCase, resp=_responses("HTTP_201", s.CaseDetail, 404, 409), tags=["offboarding"])
def start_case() -> Any:
    """Start offboarding a person (by id or HR id). 409 with the open case if one is already open."""
    body: s.NewCase = request.context.json
    if (body.person_id is None) == (body.hr_id is None):
        raise ValidationFailed("Name the person by exactly one of person_id and hr_id.")
    stmt = sa.select(Person).where(Person.id == body.person_id if body.person_id else Person.hr_id == body.hr_id)
    person = db.session.scalar(stmt)
    if person is None:
        raise NotFound("There is no such person.")
    try:
        case = offboarding.start_case(api_actor(), person, body.last_day, body.reason, via="api")
    except offboarding.CaseAlreadyOpen as error:
        db.session.rollback()
        raise CaseConflict(error.case.id) from None
    db.session.commit()
    return _with_etag(s.CaseDetail(**case_fields(case), items=[item_out(i) for i in case.items]), "case", case, 201)


class CaseConflict(DomainError):
    status = 409

    def __init__(self, case_id: int):
        super().__init__(f"This person already has an open offboarding case: /api/v1/offboarding/cases/{case_id}.")


@bp.post("/offboarding/items/<int(min=1, max=2147483647):item_id>/complete")
@token(Scope.OFFBOARDING_WRITE)
@api.validate(json=s.Completion, resp=_responses("HTTP_200", s.Item, 404, 412, 428), tags=["offboarding"])
def complete_item(item_id: int) -> Any:
    """Complete a checklist item that needs no secret; send If-Match with the item's ETag from its case."""
    item = db.session.get(ChecklistItem, item_id)
    if item is None:
        raise NotFound("There is no such checklist item.")
    if item.kind not in COMPLETABLE:
        raise ValidationFailed("Rotating a credential needs the new secret typed in: do it in Handover's web pages.")
    version = _expected_version("item", item)
    body: s.Completion = request.context.json
    checklist.complete_item(api_actor(), item, body.data, version)
    db.session.commit()
    return _with_etag(item_out(item), "item", item)


@bp.patch("/people/<int(min=1, max=2147483647):person_id>")
@token(Scope.PEOPLE_WRITE)
@api.validate(json=s.PersonPatch, resp=_responses("HTTP_200", s.Person, 404, 412, 428), tags=["people"])
def update_person(person_id: int) -> Any:
    """Change some of a person's fields; send If-Match with the ETag you read."""
    actor = api_actor()
    person = people.get_person(actor, person_id)
    version = _expected_version("person", person)
    body: s.PersonPatch = request.context.json
    changes = body.model_dump(exclude_unset=True)
    data = people.PersonData(
        name=changes.get("name", person.name),
        work_email=str(changes.get("work_email", person.work_email)),
        job_title=changes.get("job_title", person.job_title) or "",
        department_id=changes.get("department_id", person.department_id),
        manager_id=changes.get("manager_id", person.manager_id),
        hr_id=changes.get("hr_id", person.hr_id),
        personal_email=person.personal_email,
        personal_phone=person.personal_phone,
        status=person.status,
        last_day=person.last_day,
        left_on=person.left_on,
    )
    people.update_person(actor, person, data, version)
    db.session.commit()
    return _with_etag(person_out(person), "person", person)


@bp.patch("/accounts/<int(min=1, max=2147483647):account_id>")
@token(Scope.REGISTRY_WRITE)
@api.validate(json=s.AccountPatch, resp=_responses("HTTP_200", s.AccountDetail, 404, 412, 428), tags=["registry"])
def update_account(account_id: int) -> Any:
    """Change some of an account's fields; send If-Match with the ETag you read."""
    actor = api_actor()
    account = accounts.get_account(actor, account_id)
    version = _expected_version("account", account)
    changes = request.context.json.model_dump(exclude_unset=True)
    data = accounts.AccountData(
        platform_id=account.platform_id,
        name=changes.get("name", account.name),
        handle=changes.get("handle", account.handle),
        url=changes.get("url", account.url),
        purpose=changes.get("purpose", account.purpose),
        department_id=changes.get("department_id", account.department_id),
        status=AccountStatus(changes["status"]) if "status" in changes else account.status,
        owner_profile_id=account.owner_profile_id,
        steward_id=changes.get("steward_id", account.steward_id),
        has_own_login=account.has_own_login,
    )
    accounts.update_account(actor, account, data, version)
    db.session.commit()
    return _with_etag(account_detail_out(account), "account", account)


@bp.post("/people")
@token(Scope.PEOPLE_WRITE)
@api.validate(json=s.NewPerson, resp=_responses("HTTP_201", s.Person), tags=["people"])
def create_person() -> Any:
    """Add a person to the staff list (400 with errors for a taken email or HR id)."""
    body: s.NewPerson = request.context.json
    person = people.create_person(
        api_actor(),
        people.PersonData(
            name=body.name,
            work_email=str(body.work_email),
            job_title=body.job_title,
            hr_id=body.hr_id,
            department_id=body.department_id,
            manager_id=body.manager_id,
        ),
    )
    db.session.commit()
    return _with_etag(person_out(person), "person", person, 201)


@bp.post("/accounts")
@token(Scope.REGISTRY_WRITE)
@api.validate(json=s.NewAccount, resp=_responses("HTTP_201", s.AccountDetail), tags=["registry"])
def create_account() -> Any:
    """Record an account (400 with errors for an unknown platform, profile or person)."""
    body: s.NewAccount = request.context.json
    fields = body.model_dump()
    fields["status"] = AccountStatus(fields["status"])
    account = accounts.create_account(api_actor(), accounts.AccountData(**fields))
    db.session.commit()
    return _with_etag(account_detail_out(account), "account", account, 201)


def _account_part(account_id: int, add: Any) -> Any:
    actor = api_actor()
    account = accounts.get_account(actor, account_id)
    add(actor, account)
    db.session.commit()
    return _with_etag(account_detail_out(account), "account", account, 201)


@bp.post("/accounts/<int(min=1, max=2147483647):account_id>/admins")
@token(Scope.REGISTRY_WRITE)
@api.validate(json=s.NewAdmin, resp=_responses("HTTP_201", s.AccountDetail, 404), tags=["registry"])
def add_admin(account_id: int) -> Any:
    """Give a profile a role on the account; answers the account."""
    body: s.NewAdmin = request.context.json
    return _account_part(
        account_id, lambda actor, account: accounts.add_admin(actor, account, body.profile_id, body.role_name, body.since)
    )


@bp.post("/accounts/<int(min=1, max=2147483647):account_id>/recovery-contacts")
@token(Scope.REGISTRY_WRITE)
@api.validate(json=s.NewRecoveryContact, resp=_responses("HTTP_201", s.AccountDetail, 404), tags=["registry"])
def add_recovery_contact(account_id: int) -> Any:
    """Add where the account's recovery would go; a person's own email or phone is tied to them."""
    body: s.NewRecoveryContact = request.context.json
    return _account_part(
        account_id,
        lambda actor, account: accounts.add_recovery_contact(actor, account, RecoveryKind(body.kind), body.value, body.person_id),
    )


@bp.post("/accounts/<int(min=1, max=2147483647):account_id>/connections")
@token(Scope.REGISTRY_WRITE)
@api.validate(json=s.NewConnection, resp=_responses("HTTP_201", s.AccountDetail, 404), tags=["registry"])
def add_connection(account_id: int) -> Any:
    """Record a third-party tool authorised through a profile's login."""
    body: s.NewConnection = request.context.json
    return _account_part(
        account_id, lambda actor, account: accounts.add_connection(actor, account, body.tool_name, body.profile_id, body.purpose)
    )


# --- The document ----------------------------------------------------------------------------


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3 document spectree generates from the views and schemas above, with errors
    described as what they are: ``application/problem+json`` (RFC 9457). Built once per process:
    the views do not change while it runs."""
    spec = copy.deepcopy(api.spec)
    for operations in spec["paths"].values():
        for operation in operations.values():
            for code, answer in operation["responses"].items():
                if code.isdigit() and int(code) >= 400 and "application/json" in answer.get("content", {}):
                    answer["content"] = {"application/problem+json": answer["content"].pop("application/json")}
    return spec


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    """The OpenAPI 3 document."""
    return jsonify(document())


@bp.get("/docs")
@public
def docs() -> Any:
    """The API described for people, rendered from the same document."""
    spec = api.spec
    return render_template(
        "api/docs.html", spec=spec, base=request.host_url.rstrip("/") + bp.url_prefix, request_id=g.get("request_id")
    )
