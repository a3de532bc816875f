"""The JSON API's wire format, as pydantic models: spectree validates requests and responses with
them and generates the OpenAPI document from them (nothing in the document is written by hand).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

T = TypeVar("T")

PersonStatusName = Literal["active", "leaving", "departed"]
AccountStatusName = Literal["active", "dormant", "retired"]
ProfileKindName = Literal["personal", "persona", "shared_login", "organisation"]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """Request input refuses unknown fields (a typo must not be silently ignored) and NUL
    characters (no database text column can hold one)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("Text may not contain NUL (\\x00) characters.")
        return data


# --- Query strings ---------------------------------------------------------------------------


class PageQuery(Strict):
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    per_page: int = Field(25, ge=1, le=100, description="Items per page (at most 100).")


class PeopleQuery(PageQuery):
    q: str = Field("", max_length=200, description="Part of the name or email.")
    department: int | None = Field(None, ge=1, le=2**31 - 1, description="Department id.")
    status: PersonStatusName | None = None


class AccountsQuery(PageQuery):
    q: str = Field("", max_length=200, description="Part of the name, handle or URL.")
    platform: int | None = Field(None, ge=1, le=2**31 - 1)
    department: int | None = Field(None, ge=1, le=2**31 - 1)
    status: AccountStatusName | None = None
    owner_kind: ProfileKindName | None = None
    steward: int | None = Field(None, ge=1, le=2**31 - 1, description="Steward's person id.")


class ProfilesQuery(PageQuery):
    q: str = Field("", max_length=200)
    platform: int | None = Field(None, ge=1, le=2**31 - 1)
    kind: ProfileKindName | None = None


class FindingsQuery(PageQuery):
    rule: str | None = Field(None, max_length=60, description="Rule id, e.g. owner-personal.")
    severity: Literal["critical", "high", "medium", "low"] | None = None
    department: int | None = Field(None, ge=1, le=2**31 - 1)
    person: int | None = Field(None, ge=1, le=2**31 - 1)


class CasesQuery(PageQuery):
    status: Literal["open", "closed", "cancelled"] | None = None


# --- Resources -------------------------------------------------------------------------------


class Ref(BaseModel):
    id: int
    name: str


class Department(BaseModel):
    id: int
    name: str
    description: str
    head: Ref | None


class Person(BaseModel):
    id: int
    name: str
    work_email: str
    job_title: str
    hr_id: str | None
    department: Ref | None
    manager: Ref | None
    status: PersonStatusName
    last_day: date | None
    left_on: date | None
    version: int


class Profile(BaseModel):
    id: int
    platform: Ref
    name: str
    handle: str
    kind: ProfileKindName
    holder: Ref | None
    custodians: list[Ref]
    version: int


class Admin(BaseModel):
    id: int
    profile: Ref
    profile_kind: ProfileKindName
    role_name: str
    since: date | None


class RecoveryContact(BaseModel):
    id: int
    kind: str
    #: Personal emails and phones are never shown through the API; institutional ones are.
    value: str
    person: Ref | None
    last_verified_at: datetime | None


class ConnectionOut(BaseModel):
    id: int
    tool_name: str
    purpose: str
    profile: Ref | None
    authorised_at: datetime


class Account(BaseModel):
    id: int
    platform: Ref
    name: str
    handle: str
    url: str
    purpose: str
    department: Ref | None
    status: AccountStatusName
    owner: Ref | None
    steward: Ref | None
    has_own_login: bool
    last_reviewed_at: datetime | None
    version: int


class AccountDetail(Account):
    admins: list[Admin]
    recovery_contacts: list[RecoveryContact]
    connections: list[ConnectionOut]


class Finding(BaseModel):
    rule: str
    severity: str
    title: str
    detail: str
    subject_type: str
    subject_id: int
    account: Ref | None
    person: Ref | None
    accepted: bool


class Item(BaseModel):
    id: int
    kind: str
    status: str
    title: str
    due_on: date
    account: Ref | None
    assignee: Ref | None
    assignee_role: str | None
    #: Whether the API can complete it (items that need a secret typed in are done in the web UI).
    completable: bool
    version: int


class Case(BaseModel):
    id: int
    person: Ref
    last_day: date
    reason: str
    status: str
    started_via: str
    started_by: str
    items_open: int
    items_total: int
    version: int


class CaseDetail(Case):
    items: list[Item]


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int


class PeoplePage(PageOf[Person]):
    pass


class DepartmentsPage(PageOf[Department]):
    pass


class ProfilesPage(PageOf[Profile]):
    pass


class AccountsPage(PageOf[Account]):
    pass


class FindingsPage(PageOf[Finding]):
    pass


class CasesPage(PageOf[Case]):
    pass


# --- Writes ----------------------------------------------------------------------------------


class NewCase(Strict):
    """Start an offboarding case: name the person by id or by their HR id."""

    person_id: int | None = Field(None, ge=1, le=2**31 - 1)
    hr_id: str | None = Field(None, min_length=1, max_length=120)
    last_day: date
    reason: str = Field("", max_length=2000)


class NewPerson(Strict):
    name: str = Field(min_length=1, max_length=200)
    work_email: EmailStr
    job_title: str = Field("", max_length=200)
    hr_id: str | None = Field(None, min_length=1, max_length=120)
    department_id: int | None = Field(None, ge=1, le=2**31 - 1)
    manager_id: int | None = Field(None, ge=1, le=2**31 - 1)


class NewAccount(Strict):
    platform_id: int = Field(ge=1, le=2**31 - 1)
    name: str = Field(min_length=1, max_length=200)
    handle: str = Field("", max_length=200)
    url: str = Field("", max_length=500)
    purpose: str = Field("", max_length=5000)
    department_id: int | None = Field(None, ge=1, le=2**31 - 1)
    status: AccountStatusName = "active"
    owner_profile_id: int | None = Field(None, ge=1, le=2**31 - 1)
    steward_id: int | None = Field(None, ge=1, le=2**31 - 1)
    has_own_login: bool = False


class NewAdmin(Strict):
    profile_id: int = Field(ge=1, le=2**31 - 1)
    role_name: str = Field(min_length=1, max_length=60)
    since: date | None = None


class NewRecoveryContact(Strict):
    kind: Literal["email", "phone", "backup_codes_holder", "trusted_contact"]
    value: str = Field(min_length=1, max_length=254)
    person_id: int | None = Field(None, ge=1, le=2**31 - 1)


class NewConnection(Strict):
    tool_name: str = Field(min_length=1, max_length=120)
    profile_id: int | None = Field(None, ge=1, le=2**31 - 1)
    purpose: str = Field("", max_length=300)


class PersonPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    work_email: EmailStr | None = None
    job_title: str | None = Field(None, max_length=200)
    hr_id: str | None = Field(None, max_length=120)
    department_id: int | None = Field(None, ge=1, le=2**31 - 1)
    manager_id: int | None = Field(None, ge=1, le=2**31 - 1)


class AccountPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    handle: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=500)
    purpose: str | None = Field(None, max_length=5000)
    department_id: int | None = Field(None, ge=1, le=2**31 - 1)
    status: AccountStatusName | None = None
    steward_id: int | None = Field(None, ge=1, le=2**31 - 1)


class Completion(Strict):
    """What completing an item needs, by kind: the same fields as the item's form in the web UI
    (e.g. {"new_person_id": 12} to reassign a stewardship). A missing field is named in the 400's errors."""

    data: dict[str, Any] = Field(default_factory=dict)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str = ""
    errors: list[dict[str, Any]] | None = None
