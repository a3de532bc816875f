"""SCIM's wire format for Handover, as scim2-models classes: the schemas, resource types and
service provider configuration are generated from these classes, never written by hand.

Handover publishes the User attributes it keeps, and no others (RFC 7643 §7: a service provider
describes what it supports): a provider reading /Schemas learns what round-trips. The enterprise
extension carries department, manager and employee number. Attributes a provider sends that are
not published (password, phone numbers, groups…) are dropped on the way in, never stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import EmailStr, Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    ExtensibleStringEnum,
    Extension,
    Filter,
    Name,
    Pagination,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import Email as CoreEmail
from scim2_models.resources.resource import AnyExtension

#: Largest page a list or search answers (ServiceProviderConfig filter.maxResults).
MAX_RESULTS = 200
#: Page size when the client does not say (RFC 7644 §3.4.2.4 leaves it to the service provider).
DEFAULT_COUNT = 100


class Email(CoreEmail):
    class Type(ExtensibleStringEnum):
        # Handover takes no personal address from an identity provider (DESIGN.md "Privacy").
        work = "work"

    # An entry without an address means nothing to Handover, whose people each have a work email.
    value: Annotated[EmailStr | None, Required.true] = None
    """Email addresses for the user."""

    type: Type | None = None
    """Only work addresses are kept (and the primary one): personal addresses are not stored."""


class User(Resource[AnyExtension]):
    """A person on Handover's staff list. Setting active to false, or deleting the user, starts
    their offboarding (last day today) and stops their Handover sign-ins; nothing is deleted."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = Field(None, max_length=254)
    """Unique identifier for the User, typically used by the user to directly authenticate to the
    service provider."""

    name: Name | None = None
    """The components of the user's real name (Handover shows displayName, else these)."""

    display_name: str | None = Field(None, max_length=200)
    """The name of the User, suitable for display: the person's name in Handover."""

    title: str | None = Field(None, max_length=200)
    """The user's job title."""

    active: bool | None = None
    """The User's administrative status. False starts offboarding with today as the last day."""

    emails: Annotated[list[Email] | None, Required.true] = None
    """Email addresses for the user: the primary (else the work, else the first) is the person's
    work email in Handover."""


class Manager(ComplexAttribute):
    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The id of the SCIM resource representing the User's manager."""

    ref: Reference[User] | None = Field(None, serialization_alias="$ref", validation_alias="$ref")  # type: ignore[type-arg]
    """The URI of the SCIM resource representing the User's manager."""


class EnterpriseUser(Extension):
    """Enterprise User: department, manager and employee number."""

    __schema__ = URN("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")

    employee_number: str | None = Field(None, max_length=64)
    """Numeric or alphanumeric identifier assigned to a person, typically based on order of hire
    or association with an organization."""

    department: str | None = Field(None, max_length=120)
    """The name of the person's department in Handover (one is added when the name is new)."""

    manager: Manager | None = None
    """The User's manager: another User of this service."""


#: The model the /Users endpoint serves.
ScimUser = User[EnterpriseUser]

USER_TYPE = ResourceType.from_resource(ScimUser)
USER_TYPE.description = "People on Handover's staff list"

#: What Handover tolerates from identity providers (each setting is a documented departure from the
#: strict reading that Okta or Microsoft Entra ID needs):
#: - attributes Handover does not publish are dropped, not refused: providers send what their
#:   mapping has (password, locale, phoneNumbers, groups…), and refusing would stop provisioning;
#: - Entra sends a PATCH ``remove`` with a value that selects the entries to remove;
#: - Entra sends ``emails[type eq "work"].value`` for a user who has no work email yet.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def service_provider_config(documentation_uri: str | None = None) -> ServiceProviderConfig:
    """What Handover's SCIM service supports (RFC 7643 §5)."""
    return ServiceProviderConfig(
        documentation_uri=documentation_uri,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        pagination=Pagination(cursor=False, index=True, default_page_size=DEFAULT_COUNT, max_page_size=MAX_RESULTS),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="An API token with the scim scope, made by an admin under Users → API tokens, "
                "sent as Authorization: Bearer <token> (RFC 6750).",
                spec_uri="https://www.rfc-editor.org/rfc/rfc6750",
                primary=True,
            )
        ],
    )


PROVIDER = ScimProvider(
    models=[User, EnterpriseUser], resource_types=[USER_TYPE], config=service_provider_config(), policy=POLICY
)


def schemas() -> tuple[Any, ...]:
    return PROVIDER.schemas
