"""SCIM provisioning (RFC 7643/7644): identity providers keep Handover's staff list and start offboarding.

A SCIM User *is* a Handover Person (externalId ↔ hr_id, userName and the attributes Handover has no
column for live on the person's ``ScimIdentity``). Every write goes through the people service
(``create_person``/``update_person``), so the usual rules and audit events apply.

Deprovisioning — ``active`` set to false (PUT or PATCH) or DELETE — never deletes data. The first
time it happens it starts an offboarding case with today as the last day (unless one is open, or
the person has already departed and their case is closed), deactivates the person's Handover
sign-ins (which ends their sessions), revokes the API tokens those sign-ins made, and records one
``scim.deprovision`` audit event. Repeating it does nothing more: the identity remembers it was
deprovisioned until the provider sets ``active`` true again. A DELETE also hides the user from
SCIM (404 afterwards); the person stays in Handover.

Optimistic concurrency (RFC 7644 §3.14): a write with a stale If-Match is refused with 412 —
except a deprovisioning, which is never held back by a race with another edit: a leaver's access
must not outlive an ETag mismatch, and deprovisioning twice is harmless.

Raises scim2-models' SCIM exceptions (they carry the RFC 7644 §3.12 ``scimType``), and the
people/offboarding services' domain errors, which the SCIM door translates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from scim2_models import (
    Context,
    InvalidFilterException,
    InvalidValueException,
    NotFoundException,
    PatchOp,
    PreconditionFailedException,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import AttrPath, CompareOperator, Comparison, LogicalExpr, LogicalOperator
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.api_token import ApiToken
from app.models.base import utcnow
from app.models.offboarding import CaseStatus, OffboardingCase
from app.models.person import Department, Person, PersonStatus
from app.models.scim import ScimIdentity
from app.models.user import User
from app.scim.schemas import MAX_RESULTS, POLICY, EnterpriseUser, ScimUser
from app.services import api_tokens, audit, departments, offboarding, people, users
from app.services.context import Actor
from app.services.errors import ValidationFailed

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: Why a case started by SCIM was started (the case's reason).
DEPROVISION_REASON = "Deprovisioned by the identity provider (SCIM)"
#: Email types Handover keeps: it takes no personal address from an identity provider (DESIGN.md
#: "Privacy": personal contact details are kept only as HR enters them, and erased after departure).
KEPT_EMAIL_TYPES = (None, "work")


@dataclass(frozen=True)
class ScimCall:
    """Who calls (the token's actor), where the service lives (for meta.location) and what day it is."""

    actor: Actor
    base_url: str
    today: date


# --- Reading ---------------------------------------------------------------------------------


def comparison_key(value: str) -> str:
    """userName as SCIM compares it (caseExact false): NFC, lower case (scim2-models' default key)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).lower())


def identity_of(person: Person) -> ScimIdentity | None:
    return db.session.get(ScimIdentity, person.id)


def get_user(user_id: str) -> Person:
    """The person a SCIM id names. Raises NotFoundException (unknown, or deleted through SCIM)."""
    person = db.session.get(Person, int(user_id)) if user_id.isdigit() and len(user_id) < 10 else None
    identity = identity_of(person) if person is not None else None
    if person is None or (identity is not None and identity.deleted_at is not None):
        raise NotFoundException(detail=f"There is no user with id {user_id!r}.")
    return person


def etag(person: Person, identity: ScimIdentity | None) -> str:
    """A weak entity tag: the person's and the identity's versions (RFC 7644 §3.14)."""
    return f'W/"{person.version}-{identity.version if identity is not None else 0}"'


def location(base_url: str, person_id: int) -> str:
    return f"{base_url}/Users/{person_id}"


def to_resource(person: Person, identity: ScimIdentity | None, base_url: str) -> Any:
    """The person as a SCIM User.

    Attributes the provider wrote read back as it wrote them; where HR has since changed the
    person's name or work email in Handover, Handover's value is what the provider reads.
    """
    kept = dict(identity.attributes or {}) if identity is not None else {}
    renamed = identity is None or identity.synced_name != person.name
    new_email = identity is None or identity.synced_email != person.work_email
    data: dict[str, Any] = {
        "schemas": [CORE_USER],
        "id": str(person.id),
        "externalId": person.hr_id,
        "userName": identity.user_name if identity is not None else person.work_email,
        "displayName": person.name if renamed else kept.get("displayName"),
        "name": {"formatted": person.name} if renamed else kept.get("name"),
        "title": person.job_title or None,
        "emails": [{"value": person.work_email, "type": "work", "primary": True}] if new_email else kept.get("emails"),
        # Not yet known to SCIM: the person's own status; afterwards, what the provider last said.
        "active": (not person.has_left) if identity is None else identity.active,
        "meta": {
            "resourceType": "User",
            "created": person.created_at,
            "lastModified": max(person.updated_at, identity.updated_at) if identity is not None else person.updated_at,
            "location": location(base_url, person.id),
            "version": etag(person, identity),
        },
    }
    enterprise = {
        "employeeNumber": kept.get("employeeNumber"),
        "department": person.department.name if person.department is not None else None,
        "manager": {"value": str(person.manager_id), "$ref": location(base_url, person.manager_id)}
        if person.manager_id is not None
        else None,
    }
    if any(value is not None for value in enterprise.values()):
        data["schemas"].append(ENTERPRISE_USER)
        data[ENTERPRISE_USER] = {k: v for k, v in enterprise.items() if v is not None}
    return ScimUser.model_validate({k: v for k, v in data.items() if v is not None})


def resources(persons: Iterable[Person], base_url: str) -> list[Any]:
    persons = list(persons)
    identities = {
        i.person_id: i
        for i in db.session.scalars(sa.select(ScimIdentity).where(ScimIdentity.person_id.in_([p.id for p in persons])))
    }
    return [to_resource(p, identities.get(p.id), base_url) for p in persons]


def _visible() -> sa.Select[Any]:
    """People SCIM shows: everyone on the staff list except those deleted through SCIM."""
    return (
        sa.select(Person)
        .options(selectinload(Person.department))
        .outerjoin(ScimIdentity, ScimIdentity.person_id == Person.id)
        .where(ScimIdentity.deleted_at.is_(None))
        .order_by(Person.id)
    )


def _is(attr_path: AttrPath, name: str) -> bool:
    return attr_path.sub_attr is None and attr_path.attr.lower() == name.lower() and attr_path.uri in (None, CORE_USER)


def _sql(node: Any) -> sa.ColumnElement[bool] | None:
    """The SQL for the filters identity providers send to match a user (userName, externalId or id
    ``eq``, joined by and/or); None for anything else, which is then matched in Python."""
    if isinstance(node, LogicalExpr):
        parts = [_sql(term) for term in node.terms]
        if any(part is None for part in parts):
            return None
        return sa.and_(*parts) if node.op == LogicalOperator.and_ else sa.or_(*parts)
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    if _is(node.attr_path, "userName"):
        key = comparison_key(node.value)
        return sa.or_(
            ScimIdentity.user_name_key == key,
            sa.and_(ScimIdentity.person_id.is_(None), sa.func.lower(Person.work_email) == key),
        )
    if _is(node.attr_path, "externalId"):
        return Person.hr_id == node.value  # caseExact (RFC 7643 §3.1)
    if _is(node.attr_path, "id"):
        return Person.id == int(node.value) if node.value.isdigit() and len(node.value) < 10 else sa.false()
    return None


def search(request: Any, base_url: str) -> tuple[int, list[Any]]:
    """One page of the users a SearchRequest asks for (query string or POST .search): the total
    and the resources. Raises InvalidFilterException for a filter Handover cannot evaluate."""
    start = max(1, request.start_index or 1)
    count = MAX_RESULTS if request.count is None else max(0, min(request.count, MAX_RESULTS))
    stmt = _visible()
    scim_filter = request.filter
    where = _sql(scim_filter.ast) if scim_filter is not None else None
    if scim_filter is None or where is not None:
        if where is not None:
            stmt = stmt.where(where)
        total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
        page = list(db.session.scalars(stmt.limit(count).offset(start - 1))) if count else []
        return total, resources(page, base_url)
    # Any other filter is evaluated by scim2-models on the rendered users (a staff list is small).
    try:
        matched = [r for r in resources(db.session.scalars(stmt), base_url) if scim_filter.match(r)]
    except (TypeError, ValueError) as error:
        raise InvalidFilterException(detail=f"Handover cannot evaluate this filter: {error}") from error
    return len(matched), matched[start - 1 : start - 1 + count] if count else []


def parse_search(payload: dict[str, Any]) -> Any:
    """A SearchRequest bound to the User model (unknown attributes in the filter are refused)."""
    return SearchRequest[ScimUser].model_validate(payload, scim_ctx=Context.SEARCH_REQUEST, scim_policy=POLICY)


def filter_for(text: str) -> Any:
    return ScimFilter[ScimUser](text)


# --- Writing ---------------------------------------------------------------------------------


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _person_name(desired: Any, fallback: str) -> str:
    """displayName, else name.formatted, else the given, middle and family names, else ``fallback``."""
    name = desired.name
    candidates = [desired.display_name]
    if name is not None:
        candidates.append(name.formatted)
        candidates.append(" ".join(part for part in (name.given_name, name.middle_name, name.family_name) if part))
    for candidate in candidates:
        if _clean(candidate):
            return _clean(candidate)[:200]
    return _clean(fallback)[:200]


def _kept_emails(desired: Any) -> list[Any]:
    """The work (or untyped) addresses and the primary one; personal addresses are not kept."""
    return [
        e
        for e in desired.emails or []
        if e.value and (e.primary or (e.type.value if e.type is not None else None) in KEPT_EMAIL_TYPES)
    ]


def _work_email(emails: list[Any]) -> str:
    for wanted in (lambda e: e.primary, lambda e: e.type is not None and e.type.value == "work", lambda e: True):
        for email in emails:
            if wanted(email):
                return str(email.value)
    raise InvalidValueException(detail="emails: give the person's work email address; Handover needs one for everyone.")


def _department_id(actor: Actor, name: str | None) -> int | None:
    """The department of that name (case and spacing aside); a new one, audited, when there is none.

    Added rather than refused: a department name unknown to Handover must not stop a person's
    provisioning — or their deprovisioning — and HR can rename or merge it afterwards.
    """
    name = _clean(name)
    if not name:
        return None
    found = db.session.scalar(sa.select(Department.id).where(sa.func.lower(Department.name) == name.lower()))
    if found is not None:
        return found
    department = departments.create_department(
        actor, departments.DepartmentData(name=name, description="Added by SCIM provisioning (enterprise department).")
    )
    return department.id


def _manager_id(manager: Any, person: Person | None) -> int | None:
    if manager is None or not manager.value:
        return None
    value = str(manager.value).strip()
    target = db.session.get(Person, int(value)) if value.isdigit() and len(value) < 10 else None
    if target is None:
        raise InvalidValueException(
            detail=f"manager: there is no user with id {value!r}; provision the manager first, then set them as manager."
        )
    if person is not None and target.id == person.id:
        raise InvalidValueException(detail="manager: a person cannot be their own manager.")
    return target.id


def _kept_attributes(desired: Any, emails: list[Any], employee_number: str | None) -> dict[str, Any]:
    def dump(value: Any) -> Any:
        return value.model_dump(scim_ctx=Context.DEFAULT) if value is not None else None

    kept = {
        "displayName": desired.display_name,
        "name": dump(desired.name) or None,
        "emails": [dump(e) for e in emails] or None,
        "employeeNumber": employee_number,
    }
    return {k: v for k, v in kept.items() if v not in (None, "", [], {})}


def _identity_snapshot(identity: ScimIdentity) -> dict[str, Any]:
    return {"userName": identity.user_name, "active": identity.active, **(identity.attributes or {})}


def _check_user_name(user_name: str, person: Person | None) -> str:
    key = comparison_key(user_name)
    taken = sa.select(ScimIdentity.person_id).where(ScimIdentity.user_name_key == key)
    unlinked = (
        sa.select(Person.id)
        .outerjoin(ScimIdentity, ScimIdentity.person_id == Person.id)
        .where(ScimIdentity.person_id.is_(None), sa.func.lower(Person.work_email) == key)
    )
    if person is not None:
        taken = taken.where(ScimIdentity.person_id != person.id)
        unlinked = unlinked.where(Person.id != person.id)
    if db.session.scalar(taken) is not None or db.session.scalar(unlinked) is not None:
        raise UniquenessException(detail=f"userName {user_name!r} already belongs to another user.")
    return key


def _write(call: ScimCall, person: Person | None, desired: Any, active: bool | None, active_given: bool, how: str) -> Person:
    """Make ``person`` (or a new person) what ``desired`` says, and act on ``active``."""
    user_name = _clean(desired.user_name)
    if not user_name:
        raise InvalidValueException(detail="userName: give the user a userName.")
    key = _check_user_name(user_name, person)
    enterprise = desired[EnterpriseUser]
    emails = _kept_emails(desired)
    work_email = _work_email(emails)
    data = people.PersonData(
        name=_person_name(desired, person.name if person is not None else user_name),
        work_email=work_email,
        job_title=_clean(desired.title),
        department_id=_department_id(call.actor, enterprise.department if enterprise else None),
        manager_id=_manager_id(enterprise.manager if enterprise else None, person),
        hr_id=(desired.external_id or "").strip() or None,
    )
    if person is None:
        person = people.create_person(call.actor, data)
        identity = None
    else:
        data.personal_email, data.personal_phone = person.personal_email, person.personal_phone
        data.status, data.last_day, data.left_on = person.status, person.last_day, person.left_on
        people.update_person(call.actor, person, data, person.version)
        identity = identity_of(person)

    linked = identity is None
    if identity is None:
        identity = ScimIdentity(person_id=person.id, active=not person.has_left, attributes={})
        db.session.add(identity)
        before = None
    else:
        before = _identity_snapshot(identity)
        if identity.deleted_at is not None:  # the provider creates again a user it had deleted
            identity.deleted_at = None
            linked = True
    identity.user_name = user_name
    identity.user_name_key = key
    identity.attributes = _kept_attributes(desired, emails, enterprise.employee_number if enterprise else None)
    identity.synced_name = person.name
    identity.synced_email = person.work_email
    if active_given:
        identity.active = active
    db.session.flush()
    after = _identity_snapshot(identity)
    if linked:
        audit.record_event(
            call.actor,
            "scim.link",
            "person",
            person.id,
            f"Linked {person.name} to the identity provider's user {user_name}",
            before,
            after,
        )
    elif before != after:
        audit.record_event(
            call.actor, "scim.update", "person", person.id, f"Updated {person.name}'s SCIM attributes ({how})", before, after
        )

    if active_given and active is False and identity.deprovisioned_at is None:
        deprovision(call, person, identity, how)
    elif active_given and active is True and identity.deprovisioned_at is not None:
        _reactivated(call, person, identity)
    return person


def _reactivated(call: ScimCall, person: Person, identity: ScimIdentity) -> None:
    """The provider set active true again: the next deprovisioning acts again. Nothing in Handover
    is undone automatically — cancelling an offboarding case is HR's decision."""
    identity.deprovisioned_at = None
    db.session.flush()
    case = offboarding.open_case_of(person)
    audit.record_event(
        call.actor,
        "scim.reactivate",
        "person",
        person.id,
        f"The identity provider set {person.name} active again"
        + (
            f"; their offboarding case (last day {case.last_day:%d %b %Y}) stays open until HR cancels it"
            if case is not None
            else ""
        ),
        {"active": False},
        {"active": True},
    )


def check_precondition(if_match: str | None, person: Person, identity: ScimIdentity | None, *, deprovisions: bool) -> None:
    """RFC 7644 §3.14: refuse a write made from a version that is no longer current (412),
    unless the write deprovisions (see the module docstring)."""
    if not if_match or if_match.strip() == "*" or deprovisions:
        return
    current = etag(person, identity)
    offered = [tag.strip() for tag in if_match.split(",")]
    # Weak comparison (RFC 9110 §8.8.3.2): W/ prefixes are ignored.
    if current.removeprefix("W/") not in [tag.removeprefix("W/") for tag in offered]:
        raise PreconditionFailedException(
            detail=f"The user changed since you read it (now {current}); nothing was changed. Read it again, then retry."
        )


def create_user(call: ScimCall, desired: Any) -> Person:
    """POST /Users. A person already on the staff list with this externalId or work email — not yet
    linked to SCIM, or deleted through SCIM before — is linked rather than duplicated (identity
    providers push everyone they are given, including people HR added first).

    Raises UniquenessException when that person is already another live SCIM user, or the userName
    is taken; InvalidValueException, and the people service's ValidationFailed, for bad values.
    """
    emails = _kept_emails(desired)
    work_email = _work_email(emails).lower()
    hr_id = (desired.external_id or "").strip() or None
    by_hr_id = db.session.scalar(sa.select(Person).where(Person.hr_id == hr_id)) if hr_id else None
    by_email = db.session.scalar(sa.select(Person).where(sa.func.lower(Person.work_email) == work_email))
    if by_hr_id is not None and by_email is not None and by_hr_id.id != by_email.id:
        raise UniquenessException(
            detail=f"externalId {hr_id!r} and the email {work_email} belong to two different people in Handover."
        )
    existing = by_hr_id or by_email
    if existing is not None:
        identity = identity_of(existing)
        if identity is not None and identity.deleted_at is None:
            raise UniquenessException(detail=f"{existing.name} (id {existing.id}) is already a user; update them instead.")
    return _write(call, existing, desired, desired.active, desired.active is not None, "POST")


def replace_user(call: ScimCall, person: Person, desired: Any, if_match: str | None) -> Person:
    """PUT /Users/<id> (RFC 7644 §3.5.1): the user becomes what was sent; read-only attributes are
    kept; an attribute left out is cleared (``active`` left out: the provider no longer says)."""
    identity = identity_of(person)
    check_precondition(if_match, person, identity, deprovisions=desired.active is False)
    desired.replace(to_resource(person, identity, call.base_url))
    return _write(call, person, desired, desired.active, True, "PUT")


def _targets_active(patch: Any) -> bool:
    names = {"active", f"{CORE_USER}:active".lower()}
    for operation in patch.operations or []:
        if operation.path is not None and str(operation.path).lower() in names:
            return True
        if operation.path is None and isinstance(operation.value, dict) and any(str(k).lower() in names for k in operation.value):
            return True
    return False


def patch_user(call: ScimCall, person: Person, patch: Any, if_match: str | None) -> Person:
    """PATCH /Users/<id> (RFC 7644 §3.5.2): the operations apply to the user as it is, all or none."""
    identity = identity_of(person)
    desired = to_resource(person, identity, call.base_url)
    patch.patch(desired, scim_policy=POLICY)
    touches_active = _targets_active(patch)
    check_precondition(if_match, person, identity, deprovisions=touches_active and desired.active is False)
    return _write(call, person, desired, desired.active, touches_active, "PATCH")


def parse_patch(payload: dict[str, Any]) -> Any:
    """A PatchOp for /Users, read leniently where identity providers are known to differ:
    Entra sends the manager as a bare id string (and names the manager it removes), and booleans
    as "True"/"False" (which scim2-models reads as booleans)."""
    for operation in payload.get("Operations") or [] if isinstance(payload, dict) else []:
        if not isinstance(operation, dict):
            continue
        path = str(operation.get("path") or "").lower()
        if not path.endswith(":manager") and path != "manager":
            continue
        if str(operation.get("op", "")).lower() == "remove":
            operation.pop("value", None)  # a user has one manager: removing it needs no selection
        elif isinstance(operation.get("value"), str):
            operation["value"] = {"value": operation["value"]}
    return PatchOp[ScimUser].model_validate(payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY)


def parse_user(payload: dict[str, Any], scim_ctx: Context) -> Any:
    enterprise = payload.get(ENTERPRISE_USER) if isinstance(payload, dict) else None
    if isinstance(enterprise, dict) and isinstance(enterprise.get("manager"), str):
        enterprise["manager"] = {"value": enterprise["manager"]}
    return ScimUser.model_validate(payload, scim_ctx=scim_ctx, scim_policy=POLICY)


def delete_user(call: ScimCall, person: Person) -> None:
    """DELETE /Users/<id>: deprovision (once), then hide the user from SCIM. Nothing is deleted."""
    identity = identity_of(person)
    if identity is None:
        identity = ScimIdentity(
            person_id=person.id,
            user_name=person.work_email,
            user_name_key=comparison_key(person.work_email),
            attributes={},
            synced_name=person.name,
            synced_email=person.work_email,
            active=not person.has_left,
        )
        db.session.add(identity)
        db.session.flush()
    if identity.deprovisioned_at is None:
        deprovision(call, person, identity, "DELETE")
    identity.deleted_at = utcnow()
    identity.active = False
    db.session.flush()
    audit.record_event(
        call.actor,
        "scim.delete",
        "person",
        person.id,
        f"The identity provider deleted the user {identity.user_name}: {person.name} stays on the staff list",
        {"deleted": False},
        {"deleted": True},
    )


# --- Deprovisioning ------------------------------------------------------------------------


def deprovision(call: ScimCall, person: Person, identity: ScimIdentity, how: str) -> OffboardingCase | None:
    """Start offboarding (last day today) and stop the person's Handover access; see the module docstring.
    Returns the case started, if one was. Call it only when ``identity`` is not yet deprovisioned."""
    actor = call.actor
    identity.deprovisioned_at = utcnow()
    case = offboarding.open_case_of(person)
    started = None
    closed_before = db.session.scalar(
        sa.select(OffboardingCase.id).where(OffboardingCase.person_id == person.id, OffboardingCase.status == CaseStatus.CLOSED)
    )
    if case is None and not (person.status is PersonStatus.DEPARTED and closed_before is not None):
        try:
            started = case = offboarding.start_case(
                actor, person, call.today, f"{DEPROVISION_REASON}: {how}", "scim", today=call.today
            )
        except offboarding.CaseAlreadyOpen as error:  # pragma: no cover - checked just above
            case = error.case
    reason = f"deprovisioned by the identity provider (SCIM {how})"
    sign_ins = list(db.session.scalars(sa.select(User).where(User.person_id == person.id).order_by(User.id)))
    stopped, kept = [], []
    for user in sign_ins:
        if not user.active:
            continue
        try:
            users.deactivate_user(actor, user, reason)
            stopped.append(user.email)
        except ValidationFailed:
            # The last active admin is never deactivated (nobody could manage sign-ins); their
            # sessions still end, and the case's "deactivate sign-in" item stays for a human.
            users.end_sessions(actor, user, reason)
            kept.append(user.email)
    revoked = []
    if sign_ins:
        tokens = db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.created_by_id.in_([u.id for u in sign_ins]), ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id)
        )
        for token in list(tokens):
            api_tokens.revoke_token(actor, token)
            revoked.append(token.name)
    if started is not None:
        what = f"offboarding started (last day {call.today:%d %b %Y})"
    elif case is not None:
        what = f"their open offboarding case (last day {case.last_day:%d %b %Y}) carries on"
    else:
        what = "they have already departed and their offboarding case is closed"
    details = [what]
    if stopped:
        details.append(f"sign-in{'s' if len(stopped) > 1 else ''} {', '.join(stopped)} deactivated")
    if kept:
        details.append(f"sessions of {', '.join(kept)} ended (the last active admin stays active)")
    if revoked:
        details.append(f"{len(revoked)} API token{'s' if len(revoked) > 1 else ''} revoked")
    db.session.flush()
    audit.record_event(
        actor,
        "scim.deprovision",
        "person",
        person.id,
        f"The identity provider deprovisioned {person.name} ({how}): " + "; ".join(details),
        {"active": True},
        {
            "active": False,
            "case_id": case.id if case is not None else None,
            "case_started": started is not None,
            "sign_ins_deactivated": stopped,
            "sessions_ended": kept,
            "tokens_revoked": revoked,
        },
    )
    return started
