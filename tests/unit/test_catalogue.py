"""The seeded platform catalogue: added once, never overwriting what people edited."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Platform, Role
from app.services.catalogue import CATALOGUE, ensure_catalogue
from app.services.context import Actor
from app.services.errors import PermissionDenied
from tests import factories

EXPECTED = {
    "Facebook",
    "Instagram",
    "X",
    "YouTube",
    "LinkedIn",
    "Flickr",
    "TikTok",
    "Mastodon",
    "Bluesky",
    "WordPress",
    "Google Workspace",
    "Domain registrar",
    "DNS",
    "Mailing list",
    "Other",
}


def system() -> Actor:
    return Actor.system("test")


def platforms() -> dict[str, Platform]:
    return {p.slug: p for p in db.session.scalars(sa.select(Platform))}


def test_adds_all_fifteen_platforms_once_with_an_audit_event_each(app):
    assert ensure_catalogue(system()) == 15
    db.session.commit()

    assert {p.name for p in platforms().values()} == EXPECTED
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "platform.create")).all()
    assert len(events) == 15
    assert {e.object_id for e in events} == {p.id for p in platforms().values()}

    assert ensure_catalogue(system()) == 0
    assert len(platforms()) == 15
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 15


def test_never_overwrites_an_edited_platform(app):
    ensure_catalogue(system())
    facebook = platforms()["facebook"]
    facebook.role_names = ["full control", "partial access"]
    facebook.owner_hint = "Our own wording."
    facebook.rotation_days = 90
    facebook.delegated_access = False
    db.session.commit()

    assert ensure_catalogue(system()) == 0
    db.session.expire_all()
    facebook = platforms()["facebook"]
    assert facebook.role_names == ["full control", "partial access"]
    assert facebook.owner_hint == "Our own wording."
    assert facebook.rotation_days == 90
    assert facebook.delegated_access is False


def test_adds_back_only_what_is_missing(app):
    ensure_catalogue(system())
    db.session.delete(platforms()["other"])
    db.session.commit()

    assert ensure_catalogue(system()) == 1
    assert "other" in platforms()


def test_a_platform_with_the_same_name_under_another_slug_counts_as_present(app):
    factories.make_platform("facebook", slug="fb", role_names=["admin"])
    db.session.commit()

    assert ensure_catalogue(system()) == 14
    by_name = [p for p in platforms().values() if p.name.lower() == "facebook"]
    assert [p.slug for p in by_name] == ["fb"]


def test_only_inventory_keepers_may_seed_the_catalogue(app):
    with pytest.raises(PermissionDenied):
        ensure_catalogue(Actor(user_id=None, name="hr", role=Role.HR))
    assert platforms() == {}


def test_entries_are_complete_and_sensible():
    assert {e.name for e in CATALOGUE} == EXPECTED
    assert len({e.slug for e in CATALOGUE}) == len(CATALOGUE)
    by_slug = {e.slug: e for e in CATALOGUE}
    for entry in CATALOGUE:
        assert entry.role_names, entry.name
        assert len(set(entry.role_names)) == len(entry.role_names), entry.name
        assert entry.owner_hint.endswith("."), entry.name
        assert entry.rotation_days in (180, 365), entry.name
    assert by_slug["youtube"].role_names[:3] == ("owner", "manager", "editor")
    assert "viewer" in by_slug["youtube"].role_names
    assert by_slug["facebook"].role_names[0] == "admin"
    assert by_slug["google-workspace"].role_names[0] == "super admin"
    for slug in ("domain-registrar", "dns", "google-workspace"):
        assert by_slug[slug].rotation_days == 180
    for slug in ("facebook", "instagram", "x", "tiktok"):
        assert by_slug[slug].rotation_days == 365
    assert "personal profile" in by_slug["facebook"].owner_hint
