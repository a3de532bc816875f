"""Profiles: the identities on platforms that actually sign in, and the people who keep them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account, AccountAdmin, Connection
from app.models.person import Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind
from app.services import audit, credentials, permissions
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import COUNT_LIMIT, Page, paginate
from app.services.search import profile_matches

#: What each kind means, in DESIGN.md's words; shown beside the kind on forms and pages.
KIND_MEANINGS = {
    ProfileKind.PERSONAL: "Held by one person (e.g. @davidleeking): whatever it owns or administers leaves with them.",
    ProfileKind.PERSONA: "An organisation-made stand-in (e.g. “Melvilla Dewey”); its custodians know how to sign in as it.",
    ProfileKind.SHARED_LOGIN: "A team login such as the reference@ mailbox; its custodians share how to sign in.",
    ProfileKind.ORGANISATION: "A container the organisation itself owns, such as a business portfolio or a Workspace org.",
}

#: Fields recorded in before/after snapshots; labels rather than ids so history reads as text.
SNAPSHOT_FIELDS = (
    "name",
    "handle",
    "platform",
    "kind",
    "holder",
    "signup_email",
    "speaks_for_organisation",
    "notes",
    "version",
)

_NOT_SAVED = "Some fields need attention; nothing was saved."


@dataclass
class ProfileData:
    """What a person types to create or edit a profile."""

    platform_id: int
    kind: ProfileKind
    name: str
    handle: str = ""
    holder_id: int | None = None
    signup_email: str = ""
    speaks_for_organisation: bool = False
    notes: str = ""


@dataclass
class ProfileFilters:
    q: str = ""
    platform_id: int | None = None
    kind: ProfileKind | None = None
    holder_id: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.q or self.platform_id or self.kind or self.holder_id)


@dataclass
class ProfileUsage:
    """Everything a profile controls: what breaks or leaves if it is lost."""

    owned: list[Account] = field(default_factory=list)
    admin_roles: list[AccountAdmin] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.owned or self.admin_roles or self.connections)


def _snapshot(profile: Profile) -> dict[str, Any]:
    data = audit.snapshot(profile, SNAPSHOT_FIELDS)
    data["kind"] = profile.kind.label
    return data


def get_profile(actor: Actor, profile_id: int) -> Profile:
    """The profile, if the actor reads the registry. Raises NotFound or PermissionDenied."""
    permissions.require(permissions.can_read_registry(actor), "Only IT, HR, directors and admins see profiles.")
    profile = db.session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"There is no profile with id {profile_id}. It may have been typed wrongly.")
    return profile


def list_profiles(actor: Actor, filters: ProfileFilters, page: int = 1, per_page: int = 25) -> Page[Profile]:
    """A page of profiles, searched by name or handle and filtered by platform, kind and holder."""
    permissions.require(permissions.can_read_registry(actor), "Only IT, HR, directors and admins see profiles.")
    stmt = (
        sa.select(Profile)
        .options(
            selectinload(Profile.platform),
            selectinload(Profile.holder),
            selectinload(Profile.custodian_links).selectinload(ProfileCustodian.person),
        )
        # Name order, as the accounts and people lists: read from the index on (name, id).
        .order_by(Profile.name, Profile.id)
    )
    if filters.q.strip():
        stmt = stmt.where(profile_matches(filters.q))
    if filters.platform_id:
        stmt = stmt.where(Profile.platform_id == filters.platform_id)
    if filters.kind:
        stmt = stmt.where(Profile.kind == filters.kind)
    if filters.holder_id:
        stmt = stmt.where(Profile.holder_id == filters.holder_id)
    # Counted to COUNT_LIMIT (or this page's depth), not every profile.
    return paginate(stmt, page, per_page, count_limit=COUNT_LIMIT)


def usage_counts(profile_ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each profile id: (accounts it owns, admin roles it holds), in two grouped queries."""
    if not profile_ids:
        return {}
    owned = dict(
        db.session.execute(
            sa.select(Account.owner_profile_id, sa.func.count())
            .where(Account.owner_profile_id.in_(profile_ids))
            .group_by(Account.owner_profile_id)
        ).all()
    )
    roles = dict(
        db.session.execute(
            sa.select(AccountAdmin.profile_id, sa.func.count())
            .where(AccountAdmin.profile_id.in_(profile_ids))
            .group_by(AccountAdmin.profile_id)
        ).all()
    )
    return {pid: (owned.get(pid, 0), roles.get(pid, 0)) for pid in profile_ids}


def usage(profile: Profile) -> ProfileUsage:
    """The accounts the profile owns, the roles it holds and the tools authorised through it."""
    result = ProfileUsage()
    result.owned = list(
        db.session.scalars(
            sa.select(Account)
            .options(selectinload(Account.platform), selectinload(Account.steward))
            .where(Account.owner_profile_id == profile.id)
            .order_by(Account.name, Account.id)
        )
    )
    result.admin_roles = list(
        db.session.scalars(
            sa.select(AccountAdmin)
            .join(AccountAdmin.account)
            .options(selectinload(AccountAdmin.account))
            .where(AccountAdmin.profile_id == profile.id)
            .order_by(Account.name, AccountAdmin.id)
        )
    )
    result.connections = list(
        db.session.scalars(
            sa.select(Connection)
            .join(Connection.account)
            .options(selectinload(Connection.account))
            .where(Connection.profile_id == profile.id)
            .order_by(Connection.tool_name, Account.name, Connection.id)
        )
    )
    return result


def _in_use_on_accounts(profile: Profile) -> bool:
    """Whether any account refers to the profile as owner, admin or the authoriser of a connection."""
    checks = (
        sa.select(Account.id).where(Account.owner_profile_id == profile.id),
        sa.select(AccountAdmin.id).where(AccountAdmin.profile_id == profile.id),
        sa.select(Connection.id).where(Connection.profile_id == profile.id),
    )
    return any(db.session.scalar(check.limit(1)) is not None for check in checks)


def _validate(data: ProfileData, profile: Profile | None = None) -> Platform:
    errors: dict[str, list[str]] = {}
    platform = db.session.get(Platform, data.platform_id) if data.platform_id else None
    if platform is None:
        errors["platform_id"] = ["Choose a platform from the list."]
    if not data.name.strip():
        errors["name"] = ["Give the profile's name as it appears on the platform."]
    if data.kind is ProfileKind.PERSONAL:
        if data.holder_id is None:
            errors["holder_id"] = ["A personal profile belongs to one person: choose who holds it."]
        elif db.session.get(Person, data.holder_id) is None:
            errors["holder_id"] = ["That person no longer exists."]
        if profile is not None and profile.custodian_links:
            errors["kind"] = [
                f"A personal profile has a holder, not custodians. Remove its {len(profile.custodian_links)} "
                "custodian(s) first, or keep its kind."
            ]
    else:
        if data.holder_id is not None:
            errors["holder_id"] = [
                f"Only a personal profile has a holder; a {data.kind.label.lower()} profile has none. "
                + (
                    "Clear this field, and add the people who know how to sign in as custodians instead."
                    if data.kind.has_custodians
                    else "Clear this field."
                )
            ]
        if data.speaks_for_organisation:
            errors["speaks_for_organisation"] = [
                "Only a personal profile can speak for the organisation as a person; untick this for "
                f"a {data.kind.label.lower()} profile."
            ]
        if profile is not None and profile.custodian_links and not data.kind.has_custodians:
            errors["kind"] = [
                f"Only persona and shared-login profiles have custodians, and this one has {len(profile.custodian_links)}. "
                "Remove them first, or keep its kind."
            ]
    email = data.signup_email.strip()
    if email and ("@" not in email or len(email) > 254):
        errors["signup_email"] = ["Give the sign-up address as an email address, or leave it empty."]
    if platform is not None and data.handle.strip():
        clash = sa.select(Profile).where(
            Profile.platform_id == platform.id,
            sa.func.lower(Profile.handle) == data.handle.strip().lower(),
        )
        if profile is not None:
            clash = clash.where(Profile.id != profile.id)
        if (other := db.session.scalar(clash.limit(1))) is not None:
            errors["handle"] = [f"{other.name} already has this handle on {platform.name}; the same identity is recorded once."]
    if profile is not None and platform is not None and platform.id != profile.platform_id and _in_use_on_accounts(profile):
        errors["platform_id"] = [
            f"This profile owns, administers or authorised tools on {profile.platform.name} accounts, so it cannot move "
            "to another platform. Add a new profile instead."
        ]
    if errors:
        raise ValidationFailed(_NOT_SAVED, errors)
    assert platform is not None
    return platform


def _apply(profile: Profile, data: ProfileData) -> None:
    for f in fields(ProfileData):
        value = getattr(data, f.name)
        setattr(profile, f.name, value.strip() if isinstance(value, str) else value)


def _flush(profile: Profile) -> None:
    db.session.flush()
    # The ids were set directly: reload the related rows so snapshots and pages name the new ones.
    db.session.expire(profile, ["platform", "holder"])


def create_profile(actor: Actor, data: ProfileData) -> Profile:
    """Record a profile and its audit event.

    Guarantees a personal profile has a holder and any other kind has none. Raises
    PermissionDenied or ValidationFailed (field errors); changes nothing on error.
    """
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins add profiles.")
    _validate(data)
    profile = Profile()
    _apply(profile, data)
    db.session.add(profile)
    _flush(profile)
    audit.record_event(
        actor,
        "profile.create",
        "profile",
        profile.id,
        f"Recorded {profile.kind.label.lower()} profile {profile.label} on {profile.platform.name}",
        None,
        _snapshot(profile),
    )
    return profile


def update_profile(actor: Actor, profile: Profile, data: ProfileData, expected_version: int) -> Profile:
    """Apply an edit made from ``expected_version``.

    Refuses to change the kind away from persona/shared login while custodians remain, and to
    move a profile in use on accounts to another platform. Raises PermissionDenied, StaleEdit
    (with what changed since) or ValidationFailed; changes nothing on error.
    """
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins edit profiles.")
    if profile.version != expected_version:
        raise StaleEdit(f"The profile “{profile.name}”", audit.changes_since("profile", profile.id, expected_version))
    _validate(data, profile)
    before, platform_before = _snapshot(profile), profile.platform_id
    _apply(profile, data)
    _flush(profile)
    if profile.platform_id != platform_before:
        # Its notes now belong to the new platform, and follow its interval unless they have their own.
        credentials.follow_platform(profile=profile)
    after = _snapshot(profile)
    if {k: v for k, v in before.items() if k != "version"} != {k: v for k, v in after.items() if k != "version"}:
        audit.record_event(actor, "profile.update", "profile", profile.id, f"Edited profile {profile.label}", before, after)
    return profile


# --- Custodians ---------------------------------------------------------------------------


def add_custodian(actor: Actor, profile: Profile, person_id: int) -> ProfileCustodian:
    """Record that a person keeps a persona or shared-login profile (knows how to sign in as it).

    Raises ValidationFailed for another kind of profile, an unknown or departed person, or a
    person who is already a custodian.
    """
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins change custodians.")
    if not profile.kind.has_custodians:
        raise ValidationFailed(
            f"Only persona and shared-login profiles have custodians; {profile.name} is a {profile.kind.label.lower()} profile.",
            {"person_id": [f"A {profile.kind.label.lower()} profile has no custodians."]},
        )
    person = db.session.get(Person, person_id) if person_id else None
    if person is None:
        raise ValidationFailed("The custodian was not added.", {"person_id": ["Choose a person from the list."]})
    if person.status is PersonStatus.DEPARTED:
        raise ValidationFailed(
            "The custodian was not added.",
            {"person_id": [f"{person.name} has left the organisation; choose someone still here."]},
        )
    if any(link.person_id == person.id for link in profile.custodian_links):
        raise ValidationFailed(
            "The custodian was not added.", {"person_id": [f"{person.name} is already a custodian of {profile.name}."]}
        )
    link = ProfileCustodian(profile=profile, person=person)
    db.session.add(link)
    db.session.flush()
    audit.record_event(
        actor,
        "profile.custodian.add",
        "profile",
        profile.id,
        f"Made {person.name} a custodian of {profile.label}",
        None,
        {"custodian": person.name},
    )
    return link


def remove_custodian(actor: Actor, profile: Profile, custodian_id: int) -> None:
    """Remove one custodian link. Raises NotFound if it is not there (already removed)."""
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins change custodians.")
    link = next((c for c in profile.custodian_links if c.id == custodian_id), None)
    if link is None:
        raise NotFound("That custodian is no longer on this profile; someone may have removed them already.")
    name = link.person.name
    profile.custodian_links.remove(link)
    db.session.flush()
    audit.record_event(
        actor,
        "profile.custodian.remove",
        "profile",
        profile.id,
        f"{name} is no longer a custodian of {profile.label}",
        {"custodian": name},
        None,
    )
