"""The demo organisation: each field story of DESIGN.md is in the data, exactly as told."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    Connection,
    Department,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
    User,
)
from app.services import audit, demo, users
from app.services.catalogue import ensure_catalogue
from app.services.context import Actor
from app.services.errors import PermissionDenied, ValidationFailed


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """argon2 at full cost makes each load slow; these tests check the data, not the hashing."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def loaded(app):
    summary = demo.load_demo(Actor.system("test demo"))
    db.session.commit()
    return summary


def person(name: str) -> Person:
    return db.session.execute(sa.select(Person).where(Person.name == name)).scalar_one()


def account(name: str, platform_slug: str) -> Account:
    return db.session.execute(
        sa.select(Account).join(Account.platform).where(Account.name == name, Platform.slug == platform_slug)
    ).scalar_one()


def test_dana_left_two_years_ago_and_still_owns_the_facebook_page(loaded):
    dana = person("Dana Whitfield")
    assert dana.status is PersonStatus.DEPARTED
    assert dana.left_on == date.today() - timedelta(days=730)
    assert dana.personal_email == "dana.whitfield@mail.example"

    page = account("Riverside Public Library", "facebook")
    owner = page.owner_profile
    assert owner.kind is ProfileKind.PERSONAL
    assert owner.holder_id == dana.id
    assert owner.platform.slug == "facebook"


def test_danas_personal_inbox_is_a_recovery_contact_of_the_domain(loaded):
    dana = person("Dana Whitfield")
    registrar = account("riverside.example domain", "domain-registrar")
    assert registrar.has_own_login is True

    contact = db.session.execute(
        sa.select(RecoveryContact).where(RecoveryContact.account_id == registrar.id, RecoveryContact.value == dana.personal_email)
    ).scalar_one()
    assert contact.kind is RecoveryKind.EMAIL
    assert contact.person_id == dana.id
    assert not contact.is_institutional


def test_sam_keeps_the_persona_and_added_his_own_profile_to_the_page(loaded):
    sam = person("Sam Ortiz")
    reads = db.session.execute(sa.select(Profile).where(Profile.name == "Riverside Reads")).scalar_one()
    assert reads.kind is ProfileKind.PERSONA
    assert reads.platform.slug == "facebook"
    assert reads.signup_email == "reference@riverside.example"
    assert [p.id for p in reads.custodians] == [sam.id]

    page = account("Riverside Public Library", "facebook")
    sams_roles = db.session.scalars(
        sa.select(AccountAdmin)
        .join(AccountAdmin.profile)
        .where(AccountAdmin.account_id == page.id, Profile.holder_id == sam.id, Profile.kind == ProfileKind.PERSONAL)
    ).all()
    assert len(sams_roles) == 1
    assert sams_roles[0].role_name in page.platform.role_names
    assert sams_roles[0].profile.platform_id == page.platform_id
    # The persona is an admin of the same Page too.
    assert reads.id in {a.profile_id for a in page.admins}

    mailbox = db.session.execute(
        sa.select(Profile).where(Profile.kind == ProfileKind.SHARED_LOGIN, Profile.handle == "reference@riverside.example")
    ).scalar_one()
    assert sam.id in {p.id for p in mailbox.custodians}
    assert len(mailbox.custodians) > 1


def test_hootsuite_is_connected_to_riversidelib_through_jos_personal_profile(loaded):
    jo = person("Jo Kim")
    jo_reads = db.session.execute(sa.select(Profile).where(Profile.handle == "@jo_reads")).scalar_one()
    assert jo_reads.kind is ProfileKind.PERSONAL
    assert jo_reads.holder_id == jo.id
    assert jo_reads.platform.slug == "x"
    assert jo_reads.speaks_for_organisation is True

    library = db.session.execute(sa.select(Account).where(Account.handle == "@riversidelib")).scalar_one()
    assert library.platform.slug == "x"
    hootsuite = db.session.execute(
        sa.select(Connection).where(Connection.account_id == library.id, Connection.tool_name == "Hootsuite")
    ).scalar_one()
    assert hootsuite.profile_id == jo_reads.id
    # The tool works only while @jo_reads holds a role on the account.
    assert jo_reads.id in {a.profile_id for a in library.admins}


def test_priya_leaves_in_two_weeks_and_is_the_only_admin_of_the_channel(loaded):
    priya = person("Priya Natarajan")
    assert priya.status is PersonStatus.LEAVING
    assert priya.last_day == date.today() + timedelta(days=14)

    channel = account("Riverside Library TV", "youtube")
    assert channel.steward_id == priya.id
    admins = db.session.scalars(sa.select(AccountAdmin).where(AccountAdmin.account_id == channel.id)).all()
    assert len(admins) == 1
    assert admins[0].profile.kind is ProfileKind.PERSONAL
    assert admins[0].profile.holder_id == priya.id
    assert admins[0].profile.platform.slug == "youtube"
    assert admins[0].role_name in channel.platform.role_names


def test_one_sign_in_per_role_each_linked_to_a_person(loaded):
    expected = {
        "admin@riverside.example": Role.ADMIN,
        "director@riverside.example": Role.DIRECTOR,
        "hr@riverside.example": Role.HR,
        "it@riverside.example": Role.IT,
        "staff@riverside.example": Role.STAFF,
    }
    sign_ins = {u.email: u for u in db.session.scalars(sa.select(User))}
    assert {email: u.role for email, u in sign_ins.items()} == expected
    for email, user in sign_ins.items():
        assert user.person is not None, email
        assert user.person.work_email.endswith("@riverside.example")
        assert user.active
        assert users.authenticate(email, demo.DEMO_PASSWORD) is user

    jo = sign_ins["staff@riverside.example"].person
    assert jo.name == "Jo Kim"
    stewarded = db.session.scalars(sa.select(Account).where(Account.steward_id == jo.id)).all()
    assert len(stewarded) >= 3
    assert "@riversidelib" in {a.handle for a in stewarded}


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_organisation_is_large_and_varied(loaded):
    assert count(Person) >= 25
    assert count(Account) >= 30
    assert {p.kind for p in db.session.scalars(sa.select(Profile))} == set(ProfileKind)
    assert count(ProfileCustodian) > 0
    assert count(Connection) > 1
    assert f"{count(Account)} accounts" in loaded
    assert loaded.startswith("Loaded the demo organisation Riverside Public Library")

    departments = db.session.scalars(sa.select(Department)).all()
    assert {d.name for d in departments} >= {"Adult Services", "Children & Teens", "Digital Services", "Communications"}
    for department in departments:
        assert department.head is not None, department.name
        assert department.head.department_id == department.id

    everyone = db.session.scalars(sa.select(Person)).all()
    assert all(p.work_email.endswith("@riverside.example") and p.hr_id and p.job_title for p in everyone)
    assert all(p.personal_email.endswith("@mail.example") for p in everyone if p.personal_email)
    assert sum(1 for p in everyone if p.manager_id) >= 20

    accounts = db.session.scalars(sa.select(Account)).all()
    statuses = [a.status for a in accounts]
    assert statuses.count(AccountStatus.RETIRED) == 1
    assert statuses.count(AccountStatus.DORMANT) >= 2
    assert len({a.last_reviewed_at.date() for a in accounts if a.last_reviewed_at}) >= 10
    assert any(a.last_reviewed_at is None for a in accounts)
    owners = [a.owner_profile for a in accounts if a.owner_profile]
    assert {ProfileKind.PERSONAL, ProfileKind.ORGANISATION} <= {o.kind for o in owners}
    for a in accounts:
        assert a.owner_profile is None or a.owner_profile.platform_id == a.platform_id, a.name
        for admin in a.admins:
            assert admin.role_name in a.platform.role_names, (a.name, admin.role_name)
            assert admin.profile.platform_id == a.platform_id, a.name

    contacts = db.session.scalars(sa.select(RecoveryContact)).all()
    assert any(c.is_institutional for c in contacts) and any(not c.is_institutional for c in contacts)

    checked, broken = audit.verify_chain()
    assert broken is None and checked > 100


def test_loading_twice_is_refused(loaded):
    assert demo.registry_has_data()
    people_before = count(Person)
    with pytest.raises(ValidationFailed, match="already has data"):
        demo.load_demo(Actor.system("test demo"))
    assert count(Person) == people_before


def test_an_empty_registry_has_no_data(app):
    assert not demo.registry_has_data()


def test_only_admins_load_the_demo(app):
    with pytest.raises(PermissionDenied):
        demo.load_demo(Actor(user_id=None, name="IT person", role=Role.IT))
    assert count(Platform) == 0 and count(Person) == 0


def test_the_demo_uses_catalogue_platforms_even_after_a_slug_was_changed(app):
    ensure_catalogue(Actor.system("test"))
    x = db.session.execute(sa.select(Platform).where(Platform.slug == "x")).scalar_one()
    x.slug = "twitter"
    db.session.commit()

    summary = demo.load_demo(Actor.system("test demo"))

    assert "platforms added" not in summary
    library = db.session.execute(sa.select(Account).where(Account.handle == "@riversidelib")).scalar_one()
    assert library.platform_id == x.id
