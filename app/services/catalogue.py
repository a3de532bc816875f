"""The platform catalogue every registry starts with: role names, delegation and what "owner" means.

The same entries are inserted by the migration ``20261122_4c7d2e9b1f60_platform_catalogue``,
which keeps its own frozen copy (a migration must not change when this module does).
``ensure_catalogue`` fills in what is missing on a database that predates the migration or
had entries deleted; it never touches a platform someone has edited.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models.platform import Platform
from app.services import audit, permissions
from app.services.context import Actor

#: Days between credential rotations: the keys to the domain are rotated twice as often.
INFRASTRUCTURE_ROTATION_DAYS = 180
SOCIAL_ROTATION_DAYS = 365


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    slug: str
    #: Top role first: the role the owner holds.
    role_names: tuple[str, ...]
    delegated_access: bool
    owner_hint: str
    rotation_days: int


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="Facebook",
        slug="facebook",
        role_names=("admin", "editor", "moderator", "advertiser", "analyst"),
        delegated_access=True,
        owner_hint=(
            "A Facebook Page is created from a personal profile, and that profile keeps full control "
            "until it hands it on. Record the profile or business portfolio that holds full control today."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Instagram",
        slug="instagram",
        role_names=("owner", "full control", "partial access"),
        delegated_access=True,
        owner_hint=(
            "An Instagram account is its own login: whoever holds its username, email or phone and password "
            "owns it. Adding it to a Meta business portfolio lets people work with their own access instead."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="X",
        slug="x",
        role_names=("owner", "admin", "contributor"),
        delegated_access=True,
        owner_hint=(
            "An X (formerly Twitter) account is one login: whoever holds its email, phone and password owns it. "
            "Others can be delegated admin or contributor access without learning the password."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="YouTube",
        slug="youtube",
        role_names=("owner", "manager", "editor", "editor (limited)", "subtitle editor", "viewer", "viewer (limited)"),
        delegated_access=True,
        owner_hint=(
            "A YouTube channel belongs to a Google Account, or to a Brand Account whose primary owner is one. "
            "If that is someone's personal Google Account, the channel goes wherever they go."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="LinkedIn",
        slug="linkedin",
        role_names=("super admin", "content admin", "analyst", "sponsored content poster", "lead gen forms manager"),
        delegated_access=True,
        owner_hint=(
            "A LinkedIn Page has no single owner: its super admins control it, and each must be a personal "
            "LinkedIn member. Keep at least two, so the Page is not lost when one leaves."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Flickr",
        slug="flickr",
        role_names=("owner", "admin", "moderator"),
        delegated_access=False,
        owner_hint=(
            "A Flickr account is a single login that everyone who posts shares. "
            "Other people can only be admins or moderators of its groups."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="TikTok",
        slug="tiktok",
        role_names=("owner", "admin", "operator", "analyst"),
        delegated_access=True,
        owner_hint=(
            "A TikTok account is one login, often signed up with someone's own phone number. "
            "Adding it to a TikTok Business Center lets people work with their own roles instead of sharing it."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Mastodon",
        slug="mastodon",
        role_names=("owner", "admin", "moderator"),
        delegated_access=False,
        owner_hint=(
            "A Mastodon account is a single login on one server: whoever holds its email and password owns it. "
            "If you run your own server, its Owner role controls every account on it."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Bluesky",
        slug="bluesky",
        role_names=("owner",),
        delegated_access=False,
        owner_hint=(
            "A Bluesky account is a single login (email and password). "
            "If its handle is your domain, whoever controls the domain's DNS controls the handle too."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="WordPress",
        slug="wordpress",
        role_names=("administrator", "editor", "author", "contributor", "subscriber"),
        delegated_access=True,
        owner_hint=(
            "Any administrator controls a WordPress site, and the hosting account controls the administrators. "
            "Record the administrator login the site was installed with as the owner."
        ),
        rotation_days=INFRASTRUCTURE_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Google Workspace",
        slug="google-workspace",
        role_names=("super admin", "user management admin", "groups admin", "help desk admin", "services admin", "user"),
        delegated_access=True,
        owner_hint=(
            "The organisation owns its Workspace through its domain; super admins control every mailbox in it. "
            "Keep two super admins, neither of them anyone's everyday account."
        ),
        rotation_days=INFRASTRUCTURE_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Domain registrar",
        slug="domain-registrar",
        role_names=("account owner", "admin contact", "technical contact", "billing contact"),
        delegated_access=True,
        owner_hint=(
            "Whoever controls the registrar account controls the domain, and with it the website, the email "
            "and every password reset sent there. The registrant should be the organisation, not a person."
        ),
        rotation_days=INFRASTRUCTURE_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="DNS",
        slug="dns",
        role_names=("owner", "administrator", "dns editor", "read only"),
        delegated_access=True,
        owner_hint=(
            "The DNS host decides where the domain's web and mail traffic goes; it is often the registrar itself. "
            "Its owner can redirect mail, and so reset the password of any account that uses the domain."
        ),
        rotation_days=INFRASTRUCTURE_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Mailing list",
        slug="mailing-list",
        role_names=("owner", "admin", "manager", "author", "viewer"),
        delegated_access=True,
        owner_hint=(
            "A mailing list service has one owner, who holds the contract and the billing. "
            "Subscribers' addresses and consent live there, so the owner should be the organisation."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
    CatalogueEntry(
        name="Other",
        slug="other",
        role_names=("owner", "admin", "editor", "viewer"),
        delegated_access=False,
        owner_hint=(
            "The owner is the identity holding the top role: the one that can add or remove everyone else and close the account."
        ),
        rotation_days=SOCIAL_ROTATION_DAYS,
    ),
)


def ensure_catalogue(actor: Actor) -> int:
    """Add every catalogue platform the registry lacks; return how many were added.

    A platform counts as present when its slug or its name (ignoring case) is already taken, so
    a renamed or re-slugged entry is not added twice and nothing existing is ever overwritten.
    Each platform added gets an audit event. Raises PermissionDenied unless the actor keeps the
    inventory.
    """
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins keep the platform catalogue.")
    taken_slugs: set[str] = set()
    taken_names: set[str] = set()
    for slug, name in db.session.execute(sa.select(Platform.slug, Platform.name)):
        taken_slugs.add(slug.lower())
        taken_names.add(name.lower())
    added = 0
    for entry in CATALOGUE:
        if entry.slug in taken_slugs or entry.name.lower() in taken_names:
            continue
        platform = Platform(
            name=entry.name,
            slug=entry.slug,
            role_names=list(entry.role_names),
            delegated_access=entry.delegated_access,
            owner_hint=entry.owner_hint,
            rotation_days=entry.rotation_days,
        )
        db.session.add(platform)
        db.session.flush()
        audit.record_event(
            actor,
            "platform.create",
            "platform",
            platform.id,
            f"Added {platform.name} to the platform catalogue",
            None,
            audit.snapshot(platform, ("name", "slug", "role_names", "delegated_access", "rotation_days", "version")),
        )
        added += 1
    return added
