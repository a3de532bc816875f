"""The profile rules, without HTTP: kinds, holders, custodians, versions and the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, PersonStatus, Profile, ProfileCustodian, ProfileKind, Role
from app.services import profiles as service
from app.services.context import Actor
from app.services.errors import NotFound, PermissionDenied, StaleEdit, ValidationFailed
from tests import factories

IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
STAFF = Actor(user_id=None, name="Sam Staff", role=Role.STAFF)


def _data(profile: Profile, **changes: object) -> service.ProfileData:
    data = service.ProfileData(
        platform_id=profile.platform_id,
        kind=profile.kind,
        name=profile.name,
        handle=profile.handle,
        holder_id=profile.holder_id,
        signup_email=profile.signup_email,
        speaks_for_organisation=profile.speaks_for_organisation,
        notes=profile.notes,
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_personal_profile_needs_a_holder(app):
    platform = factories.make_platform()
    with pytest.raises(ValidationFailed) as refused:
        service.create_profile(IT, service.ProfileData(platform_id=platform.id, kind=ProfileKind.PERSONAL, name="Jo"))
    assert "holder_id" in refused.value.field_errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Profile)) == 0
    assert _actions() == []


def test_a_personal_profile_with_a_holder_is_created_and_audited(app):
    platform = factories.make_platform("Facebook")
    jo = factories.make_person("Jo Kim")
    profile = service.create_profile(
        IT,
        service.ProfileData(platform_id=platform.id, kind=ProfileKind.PERSONAL, name=" Jo Kim ", handle="@jo", holder_id=jo.id),
    )
    assert profile.name == "Jo Kim" and profile.holder is jo
    event = db.session.scalar(sa.select(AuditEvent))
    assert (event.action, event.object_type, event.object_id) == ("profile.create", "profile", profile.id)
    assert event.actor_name == "Ida IT"
    assert event.after["holder"] == "Jo Kim" and event.after["platform"] == "Facebook" and event.before is None


def test_a_missing_holder_is_refused(app):
    platform = factories.make_platform()
    with pytest.raises(ValidationFailed) as refused:
        service.create_profile(
            IT, service.ProfileData(platform_id=platform.id, kind=ProfileKind.PERSONAL, name="Jo", holder_id=9999)
        )
    assert refused.value.field_errors["holder_id"] == ["That person no longer exists."]


@pytest.mark.parametrize("kind", [ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN, ProfileKind.ORGANISATION], ids=lambda k: k.value)
def test_other_kinds_have_no_holder_and_do_not_speak_as_a_person(app, kind):
    platform = factories.make_platform()
    jo = factories.make_person()
    with pytest.raises(ValidationFailed) as refused:
        service.create_profile(
            IT, service.ProfileData(platform_id=platform.id, kind=kind, name="X", holder_id=jo.id, speaks_for_organisation=True)
        )
    assert set(refused.value.field_errors) == {"holder_id", "speaks_for_organisation"}
    assert service.create_profile(IT, service.ProfileData(platform_id=platform.id, kind=kind, name="X")).holder_id is None


def test_an_unknown_platform_a_blank_name_and_a_bad_email_are_refused(app):
    with pytest.raises(ValidationFailed) as refused:
        service.create_profile(
            IT, service.ProfileData(platform_id=9999, kind=ProfileKind.ORGANISATION, name="  ", signup_email="nope")
        )
    assert set(refused.value.field_errors) == {"platform_id", "name", "signup_email"}


def test_a_handle_is_recorded_once_per_platform(app):
    facebook, instagram = factories.make_platform(), factories.make_platform()
    factories.make_profile(facebook, name="Riverside", handle="@Riverside")
    with pytest.raises(ValidationFailed) as refused:
        service.create_profile(
            IT, service.ProfileData(platform_id=facebook.id, kind=ProfileKind.ORGANISATION, name="R", handle="@riverside")
        )
    assert "Riverside already has this handle" in refused.value.field_errors["handle"][0]
    service.create_profile(
        IT, service.ProfileData(platform_id=instagram.id, kind=ProfileKind.ORGANISATION, name="R", handle="@riverside")
    )


def test_only_it_and_admins_create_and_edit(app):
    platform = factories.make_platform()
    profile = factories.make_profile(platform)
    data = service.ProfileData(platform_id=platform.id, kind=ProfileKind.ORGANISATION, name="X")
    for actor in (DIRECTOR, STAFF):
        with pytest.raises(PermissionDenied):
            service.create_profile(actor, data)
        with pytest.raises(PermissionDenied):
            service.update_profile(actor, profile, data, profile.version)
    with pytest.raises(PermissionDenied):
        service.get_profile(STAFF, profile.id)
    assert service.get_profile(DIRECTOR, profile.id) is profile


def test_get_profile_raises_not_found(app):
    with pytest.raises(NotFound):
        service.get_profile(IT, 4242)


def test_update_records_before_and_after_and_skips_no_op_edits(app):
    profile = factories.make_profile(kind=ProfileKind.ORGANISATION, name="Portfolio")
    service.update_profile(IT, profile, _data(profile, name="Business portfolio"), profile.version)
    assert profile.version == 2
    service.update_profile(IT, profile, _data(profile), profile.version)
    events = list(db.session.scalars(sa.select(AuditEvent)))
    assert [e.action for e in events] == ["profile.update"]
    assert (events[0].before["name"], events[0].after["name"]) == ("Portfolio", "Business portfolio")
    assert (events[0].before["version"], events[0].after["version"]) == (1, 2)


def test_a_stale_edit_raises_with_the_changes_since(app):
    profile = factories.make_profile(kind=ProfileKind.ORGANISATION, name="Portfolio")
    service.update_profile(IT, profile, _data(profile, name="Theirs"), 1)
    with pytest.raises(StaleEdit) as stale:
        service.update_profile(IT, profile, _data(profile, name="Mine"), 1)
    assert [(c.field, c.before, c.after, c.who) for c in stale.value.changes] == [("name", "Portfolio", "Theirs", "Ida IT")]
    assert profile.name == "Theirs"


@pytest.mark.parametrize("new_kind", [ProfileKind.ORGANISATION, ProfileKind.PERSONAL], ids=lambda k: k.value)
def test_kind_cannot_leave_persona_while_custodians_remain(app, new_kind):
    keeper = factories.make_person()
    persona = factories.make_profile(kind=ProfileKind.PERSONA, custodians=[keeper])
    holder_id = keeper.id if new_kind is ProfileKind.PERSONAL else None
    with pytest.raises(ValidationFailed) as refused:
        service.update_profile(IT, persona, _data(persona, kind=new_kind, holder_id=holder_id), persona.version)
    assert "custodian" in refused.value.field_errors["kind"][0]
    assert persona.kind is ProfileKind.PERSONA
    service.remove_custodian(IT, persona, persona.custodian_links[0].id)
    service.update_profile(IT, persona, _data(persona, kind=new_kind, holder_id=holder_id), persona.version)
    assert persona.kind is new_kind


def test_kind_may_move_between_persona_and_shared_login_with_custodians(app):
    persona = factories.make_profile(kind=ProfileKind.PERSONA, custodians=[factories.make_person()])
    service.update_profile(IT, persona, _data(persona, kind=ProfileKind.SHARED_LOGIN), persona.version)
    assert persona.kind is ProfileKind.SHARED_LOGIN and len(persona.custodian_links) == 1


def test_a_profile_in_use_cannot_move_to_another_platform(app):
    facebook, youtube = factories.make_platform("Facebook"), factories.make_platform("YouTube")
    profile = factories.make_profile(facebook)
    unused = factories.make_profile(facebook)
    factories.make_account(facebook, owner_profile=profile)
    with pytest.raises(ValidationFailed) as refused:
        service.update_profile(IT, profile, _data(profile, platform_id=youtube.id), profile.version)
    assert "cannot move" in refused.value.field_errors["platform_id"][0]
    service.update_profile(IT, unused, _data(unused, platform_id=youtube.id), unused.version)
    assert unused.platform is youtube
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "profile.update"))
    assert (event.before["platform"], event.after["platform"]) == ("Facebook", "YouTube")


def test_a_new_holder_is_named_in_the_history(app):
    jo, sam = factories.make_person("Jo Kim"), factories.make_person("Sam Ortiz")
    profile = factories.make_profile(kind=ProfileKind.PERSONAL, holder=jo)
    service.update_profile(IT, profile, _data(profile, holder_id=sam.id), profile.version)
    assert profile.holder is sam
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "profile.update"))
    assert (event.before["holder"], event.after["holder"]) == ("Jo Kim", "Sam Ortiz")


@pytest.mark.parametrize("kind", [ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN], ids=lambda k: k.value)
def test_custodians_are_added_once_and_audited(app, kind):
    profile = factories.make_profile(kind=kind, name="Reference desk")
    keeper = factories.make_person("Kim Keeper")
    link = service.add_custodian(IT, profile, keeper.id)
    assert profile.custodians == [keeper]
    with pytest.raises(ValidationFailed) as refused:
        service.add_custodian(IT, profile, keeper.id)
    assert refused.value.field_errors["person_id"] == ["Kim Keeper is already a custodian of Reference desk."]
    service.remove_custodian(IT, profile, link.id)
    assert profile.custodians == []
    assert _actions() == ["profile.custodian.add", "profile.custodian.remove"]


@pytest.mark.parametrize("kind", [ProfileKind.PERSONAL, ProfileKind.ORGANISATION], ids=lambda k: k.value)
def test_personal_and_organisation_profiles_have_no_custodians(app, kind):
    keeper = factories.make_person()
    profile = factories.make_profile(kind=kind, holder=keeper if kind is ProfileKind.PERSONAL else None)
    with pytest.raises(ValidationFailed) as refused:
        service.add_custodian(IT, profile, keeper.id)
    assert "Only persona and shared-login profiles have custodians" in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProfileCustodian)) == 0


def test_custodian_must_be_a_person_still_here(app):
    persona = factories.make_profile(kind=ProfileKind.PERSONA)
    gone = factories.make_person("Gone Person", status=PersonStatus.DEPARTED)
    with pytest.raises(ValidationFailed) as departed:
        service.add_custodian(IT, persona, gone.id)
    assert "has left" in departed.value.field_errors["person_id"][0]
    with pytest.raises(ValidationFailed) as missing:
        service.add_custodian(IT, persona, 9999)
    assert missing.value.field_errors["person_id"] == ["Choose a person from the list."]
    with pytest.raises(PermissionDenied):
        service.add_custodian(DIRECTOR, persona, gone.id)


def test_removing_a_missing_custodian_is_not_found(app):
    persona = factories.make_profile(kind=ProfileKind.PERSONA)
    with pytest.raises(NotFound):
        service.remove_custodian(IT, persona, 9999)


def test_list_filters_and_usage(app):
    facebook, youtube = factories.make_platform("Facebook"), factories.make_platform("YouTube")
    jo = factories.make_person("Jo Kim")
    mine = factories.make_profile(facebook, ProfileKind.PERSONAL, holder=jo, name="Jo Kim", handle="@jo")
    persona = factories.make_profile(youtube, ProfileKind.PERSONA, name="Melvilla Dewey")
    account = factories.make_account(facebook, owner_profile=mine)
    factories.make_admin(account, mine, "admin")
    factories.make_connection(account, "Buffer", profile=mine)

    def names(**kw: object) -> list[str]:
        return [p.name for p in service.list_profiles(DIRECTOR, service.ProfileFilters(**kw)).items]

    assert names() == ["Jo Kim", "Melvilla Dewey"]
    assert names(q="MELV") == ["Melvilla Dewey"]
    assert names(q="@jo") == ["Jo Kim"]
    assert names(platform_id=youtube.id) == ["Melvilla Dewey"]
    assert names(kind=ProfileKind.PERSONAL) == ["Jo Kim"]
    assert names(holder_id=jo.id) == ["Jo Kim"]
    assert service.list_profiles(DIRECTOR, service.ProfileFilters(), page=2, per_page=1).items == [persona]
    with pytest.raises(PermissionDenied):
        service.list_profiles(STAFF, service.ProfileFilters())

    use = service.usage(mine)
    assert (
        use.owned == [account]
        and [r.role_name for r in use.admin_roles] == ["admin"]
        and [c.tool_name for c in use.connections] == ["Buffer"]
    )
    assert service.usage(persona).is_empty
    assert service.usage_counts([mine.id, persona.id]) == {mine.id: (1, 1), persona.id: (0, 0)}
