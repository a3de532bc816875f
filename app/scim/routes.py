"""SCIM 2.0 under /scim/v2 (RFC 7644): discovery, and Users that are Handover People.

Every view needs an API token with the ``scim`` scope (``@token``: the session cookie is never
read here). Each view parses the payload with scim2-models, calls one service function as the
token's actor, commits once, and answers ``application/scim+json``. Errors are SCIM errors
(RFC 7644 §3.12) with their ``scimType``; nothing is changed when one is returned.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, g, json, request
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    ResourceType,
    Schema,
    SCIMException,
    UniquenessException,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.api.auth import api_actor, rate_limit_key
from app.extensions import csrf, db, limiter
from app.models.api_token import Scope
from app.scim import schemas
from app.security import token
from app.services import scim
from app.services.errors import DomainError, ValidationFailed
from app.templating import site_root

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)  # bearer tokens, never cookies: a browser cannot be tricked into sending one
# Counted per token, like the JSON API (a provider that is throttled gets 429 with Retry-After).
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_limit_key)(bp)

MEDIA_TYPE = "application/scim+json"


def base_url() -> str:
    """The service's absolute URL, for meta.location (BASE_URL when set: behind a proxy)."""
    return f"{site_root()}{bp.url_prefix}"


def _call() -> scim.ScimCall:
    return scim.ScimCall(actor=api_actor(), base_url=base_url(), today=date.today())


def _scim(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(payload), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _body() -> dict[str, Any]:
    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The body must be a JSON object (application/scim+json).")
    return payload


def _response_parameters() -> dict[str, Any]:
    return {k: request.args[k] for k in ("attributes", "excludedAttributes") if k in request.args}


def _user_response(person: Any, status: int = 200, ctx: Context = Context.RESOURCE_QUERY_RESPONSE) -> Response:
    identity = scim.identity_of(person)
    resource = scim.to_resource(person, identity, base_url())
    wanted = _response_parameters()
    body = resource.model_dump(scim_ctx=ctx, response_parameters=scim.parse_search(wanted) if wanted else None)
    headers = {"ETag": scim.etag(person, identity)}
    if status == 201:
        headers["Location"] = scim.location(base_url(), person.id)
    return _scim(body, status, headers)


def _committed(work: Any) -> Any:
    """Run a write and commit once. A write that loses a race with a concurrent request for the same
    user (two deprovisionings at once, say: a unique index or a version check refuses the second)
    is run once more, and then sees the winner's work."""
    try:
        result = work()
        db.session.commit()
        return result
    except (IntegrityError, StaleDataError):
        db.session.rollback()
    result = work()
    db.session.commit()
    return result


# --- Errors ----------------------------------------------------------------------------------


def _error(status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None) -> Response:
    db.session.rollback()
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _scim(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status, headers)


@bp.errorhandler(SCIMException)
def scim_error(error: SCIMException) -> Response:
    return _error(error.status, error.detail, error.scim_type or None)


@bp.errorhandler(ValidationError)
def validation_error(error: ValidationError) -> Response:
    first = Error.from_validation_errors(error)[0]
    details = "; ".join(e.detail or "" for e in Error.from_validation_errors(error))
    return _error(first.status or 400, details, first.scim_type)


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> Response:
    if isinstance(error, ValidationFailed):
        messages = [f"{field}: {' '.join(texts)}" for field, texts in error.field_errors.items()] or [error.message]
        taken = any("already" in " ".join(texts) for texts in error.field_errors.values())
        kind = UniquenessException if taken else InvalidValueException
        return _error(kind.status, " ".join(messages), kind.scim_type)
    challenge = getattr(error, "challenge", None)  # a 401 from the token check says which scheme
    return _error(error.status, error.message, headers={"WWW-Authenticate": challenge} if challenge else None)


# --- Discovery (RFC 7644 §4) -----------------------------------------------------------------


def _listed(model: Any, objects: list[Any]) -> Response:
    listing = ListResponse[model](total_results=len(objects), start_index=1, items_per_page=len(objects), resources=objects)
    return _scim(listing.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _with_meta(obj: Any, resource_type: str, path: str) -> Any:
    obj = obj.model_copy(deep=True)
    obj.meta = {"resourceType": resource_type, "location": f"{base_url()}{path}"}
    return obj


def _schemas() -> list[Any]:
    return [_with_meta(s, "Schema", f"/Schemas/{s.id}") for s in schemas.PROVIDER.schemas]


def _resource_types() -> list[Any]:
    return [_with_meta(t, "ResourceType", f"/ResourceTypes/{t.id}") for t in schemas.PROVIDER.resource_types]


@bp.get("/ServiceProviderConfig")
@token(Scope.SCIM)
def service_provider_config() -> Response:
    config = schemas.service_provider_config(documentation_uri=f"{base_url()}/ServiceProviderConfig")
    config.meta = {"resourceType": "ServiceProviderConfig", "location": f"{base_url()}/ServiceProviderConfig"}
    return _scim(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ResourceTypes")
@token(Scope.SCIM)
def resource_types() -> Response:
    return _listed(ResourceType, _resource_types())


@bp.get("/ResourceTypes/<type_id>")
@token(Scope.SCIM)
def resource_type(type_id: str) -> Response:
    for found in _resource_types():
        if found.id == type_id:
            return _scim(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"There is no resource type {type_id!r}; Handover serves User.")


@bp.get("/Schemas")
@token(Scope.SCIM)
def schema_list() -> Response:
    return _listed(Schema, _schemas())


@bp.get("/Schemas/<schema_id>")
@token(Scope.SCIM)
def schema(schema_id: str) -> Response:
    for found in _schemas():
        if found.id == schema_id:
            return _scim(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"There is no schema {schema_id!r}.")


# --- Users (RFC 7644 §3) ---------------------------------------------------------------------


def _search_response(search: Any) -> Response:
    total, found = scim.search(search, base_url())
    listing = ListResponse[schemas.ScimUser](
        total_results=total, start_index=max(1, search.start_index or 1), items_per_page=len(found), resources=found
    )
    return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search))


@bp.get("/Users")
@token(Scope.SCIM)
def users() -> Response:
    """List or filter users (RFC 7644 §3.4.2), e.g. ``filter=userName eq "ana@org.example"``."""
    wanted = ("filter", "startIndex", "count", "attributes", "excludedAttributes", "sortBy", "sortOrder")
    return _search_response(scim.parse_search({k: request.args[k] for k in wanted if k in request.args}))


@bp.post("/Users/.search")
@bp.post("/.search")
@token(Scope.SCIM)
def search() -> Response:
    """Search with POST (RFC 7644 §3.4.3); at the root it searches Users, Handover's only resource type."""
    return _search_response(scim.parse_search(_body()))


@bp.post("/Users")
@token(Scope.SCIM)
def create_user() -> Response:
    desired = scim.parse_user(_body(), Context.RESOURCE_CREATION_REQUEST)
    call = _call()
    person = _committed(lambda: scim.create_user(call, desired))
    return _user_response(person, 201, Context.RESOURCE_CREATION_RESPONSE)


@bp.get("/Users/<user_id>")
@token(Scope.SCIM)
def user(user_id: str) -> Response:
    person = scim.get_user(user_id)
    current = scim.etag(person, scim.identity_of(person))
    if current in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return Response(status=304, headers={"ETag": current})  # RFC 7644 §3.14: unchanged since read
    return _user_response(person)


@bp.put("/Users/<user_id>")
@token(Scope.SCIM)
def replace_user(user_id: str) -> Response:
    payload = _body()
    call = _call()

    def work() -> Any:
        desired = scim.parse_user(dict(payload), Context.RESOURCE_REPLACEMENT_REQUEST)
        return scim.replace_user(call, scim.get_user(user_id), desired, request.headers.get("If-Match"))

    return _user_response(_committed(work), 200, Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Users/<user_id>")
@token(Scope.SCIM)
def patch_user(user_id: str) -> Response:
    """PATCH answers 200 with the whole user (RFC 7644 §3.5.2 lets a server choose 204; identity
    providers' validators expect the resource)."""
    payload = _body()
    call = _call()

    def work() -> Any:
        patch = scim.parse_patch(json.loads(json.dumps(payload)))
        return scim.patch_user(call, scim.get_user(user_id), patch, request.headers.get("If-Match"))

    return _user_response(_committed(work), 200, Context.RESOURCE_PATCH_RESPONSE)


@bp.delete("/Users/<user_id>")
@token(Scope.SCIM)
def delete_user(user_id: str) -> Response:
    """Deprovision and hide the user (204); the person and everything about them stay in Handover."""
    call = _call()
    _committed(lambda: scim.delete_user(call, scim.get_user(user_id)))
    return Response(status=204)


@bp.after_request
def no_store(response: Response) -> Response:
    # SCIM answers carry people's details: never keep them in a shared cache.
    response.headers.setdefault("Cache-Control", "no-store")
    if g.get("api_token") is not None:
        response.headers.setdefault("Vary", "Authorization")
    return response
