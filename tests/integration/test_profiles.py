"""Profile pages: who may see and edit them, the kind rules, custodians, stale edits."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from markupsafe import escape

from app.extensions import db
from app.models import AuditEvent, PersonStatus, Profile, ProfileCustodian, ProfileKind, Role
from app.services.lookup import person_token
from tests import factories

#: role → (may view, may edit)
ACCESS = {
    Role.ADMIN: (True, True),
    Role.DIRECTOR: (True, False),
    Role.HR: (True, False),
    Role.IT: (True, True),
    Role.STAFF: (False, False),
}


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _form(profile: Profile, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": profile.name,
        "platform_id": profile.platform_id,
        "kind": profile.kind.value,
        "handle": profile.handle,
        "holder_id": profile.holder_id or "",
        "signup_email": profile.signup_email,
        "notes": profile.notes,
        "version": profile.version,
    }
    if profile.speaks_for_organisation:
        data["speaks_for_organisation"] = "y"
    data.update(changes)
    return data


@pytest.mark.parametrize("role", list(ACCESS), ids=lambda r: r.value)
def test_each_page_allows_or_refuses_each_role(client, login_as, role):
    can_view, can_edit = ACCESS[role]
    keeper = factories.make_person("Kim Keeper")
    persona = factories.make_profile(kind=ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[keeper])
    link_id = persona.custodian_links[0].id
    db.session.commit()
    login_as(role)

    view = 200 if can_view else 403
    assert client.get("/profiles/").status_code == view
    assert client.get(f"/profiles/{persona.id}").status_code == view
    edit = 200 if can_edit else 403
    assert client.get("/profiles/new").status_code == edit
    assert client.get(f"/profiles/{persona.id}/edit").status_code == edit
    assert client.get(f"/profiles/{persona.id}/custodians/{link_id}/remove").status_code == edit
    if not can_edit:
        other = factories.make_person("Someone Else")
        db.session.commit()
        assert (
            client.submit("/profiles/new", {"name": "X", "platform_id": persona.platform_id, "kind": "organisation"}).status_code
            == 403
        )
        assert client.submit(f"/profiles/{persona.id}/edit", _form(persona, name="Changed")).status_code == 403
        assert client.submit(f"/profiles/{persona.id}/custodians", {"custodian-person_id": other.id}).status_code == 403
        assert client.submit(f"/profiles/{persona.id}/custodians/{link_id}/remove").status_code == 403
        db.session.expire_all()
        assert _count(Profile) == 1
        assert db.session.get(Profile, persona.id).name == "Melvilla Dewey"
        assert _count(ProfileCustodian) == 1
    if can_view:
        page = client.get(f"/profiles/{persona.id}").text
        assert (f"/profiles/{persona.id}/edit" in page) is can_edit
        assert ("Add a custodian" in page) is can_edit


def test_list_searches_filters_and_paginates(app, client, login_as):
    facebook = factories.make_platform("Facebook")
    youtube = factories.make_platform("YouTube")
    jo = factories.make_person("Jo Kim")
    factories.make_profile(facebook, ProfileKind.PERSONAL, holder=jo, name="Jo Kim", handle="@jo_reads")
    factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey")
    factories.make_profile(youtube, ProfileKind.SHARED_LOGIN, name="Reference desk", handle="reference@riverside.example")
    db.session.commit()
    login_as(Role.DIRECTOR)

    everything = client.get("/profiles/").text
    assert all(name in everything for name in ("Jo Kim", "Melvilla Dewey", "Reference desk"))
    by_handle = client.get("/profiles/?q=JO_READ").text
    assert "@jo_reads" in by_handle and "Melvilla Dewey" not in by_handle
    by_platform = client.get(f"/profiles/?platform={youtube.id}").text
    assert "Reference desk" in by_platform and "Melvilla Dewey" not in by_platform
    by_kind = client.get("/profiles/?kind=persona").text
    assert "Melvilla Dewey" in by_kind and "Reference desk" not in by_kind
    by_holder = client.get(f"/profiles/?holder={jo.id}").text
    assert "@jo_reads" in by_holder and "Reference desk" not in by_holder
    nothing = client.get("/profiles/?q=nobody-has-this")
    assert nothing.status_code == 200 and "No profiles match these filters" in nothing.text
    assert client.get("/profiles/?kind=bogus&platform=abc&page=x").status_code == 200

    app.config["PER_PAGE"] = 2
    first = client.get("/profiles/").text
    assert "Page 1 of 2" in first and "Showing 1–2 of 3" in first
    assert "Page 2 of 2" in client.get("/profiles/?page=2").text


def test_empty_list_invites_the_first_profile(client, login_as):
    login_as(Role.IT)
    page = client.get("/profiles/").text
    assert "No profiles yet" in page and "Add the first profile" in page


def test_detail_shows_platform_kind_holder_and_everything_it_controls(client, login_as):
    facebook = factories.make_platform("Facebook", role_names=["admin", "editor"])
    holder = factories.make_person("Sam Ortiz", status=PersonStatus.LEAVING)
    profile = factories.make_profile(facebook, ProfileKind.PERSONAL, holder=holder, name="Sam Ortiz", handle="@samreads")
    owned = factories.make_account(facebook, name="Riverside Library Page", owner_profile=profile)
    teen = factories.make_account(facebook, name="Teen Zone")
    factories.make_admin(teen, profile, "editor")
    factories.make_connection(owned, "Hootsuite", profile=profile, purpose="Scheduled posts")
    db.session.commit()
    login_as(Role.HR)
    client.get("/")  # a reader's own page load, so the history below has nothing of theirs

    page = client.get(f"/profiles/{profile.id}").text
    assert "Facebook" in page and "@samreads" in page
    assert "Held by one person" in page  # the kind's meaning, from DESIGN.md
    assert "Sam Ortiz" in page and "Leaving" in page and "is leaving" in page
    assert "Riverside Library Page" in page
    assert "Teen Zone" in page and "<strong>editor</strong>" in page
    assert "Hootsuite" in page and "Scheduled posts" in page
    assert "Change history" in page


def test_it_records_a_personal_profile_and_the_audit_event(client, login_as):
    platform = factories.make_platform("Instagram")
    jo = factories.make_person("Jo Kim")
    db.session.commit()
    login_as(Role.IT)

    response = client.submit(
        "/profiles/new",
        {
            "name": "Jo Kim",
            "platform_id": platform.id,
            "kind": "personal",
            "holder_id": jo.id,
            "handle": "@jo_reads",
            "speaks_for_organisation": "y",
        },
    )
    assert response.status_code == 302, response.text
    profile = db.session.scalar(sa.select(Profile))
    assert profile.kind is ProfileKind.PERSONAL and profile.holder_id == jo.id and profile.speaks_for_organisation
    assert response.headers["Location"].endswith(f"/profiles/{profile.id}")
    [event] = _events("profile.create")
    assert event.object_type == "profile" and event.object_id == profile.id
    assert event.after["holder"] == "Jo Kim" and event.after["kind"] == "Personal"
    assert "Recorded the profile" in client.get(response.headers["Location"]).text


def test_create_form_preselects_the_platform(client, login_as):
    platform = factories.make_platform("Bluesky")
    db.session.commit()
    login_as(Role.ADMIN)
    page = client.get(f"/profiles/new?platform={platform.id}").text
    assert f'<option selected value="{platform.id}">Bluesky</option>' in page


def test_a_personal_profile_without_a_holder_is_refused(client, login_as):
    platform = factories.make_platform()
    db.session.commit()
    login_as(Role.IT)

    response = client.submit("/profiles/new", {"name": "Somebody", "platform_id": platform.id, "kind": "personal"})
    assert response.status_code == 400
    assert "A personal profile belongs to one person: choose who holds it." in response.text
    assert "nothing was saved" in response.text
    assert _count(Profile) == 0 and _events("profile.create") == []


def test_a_persona_with_a_holder_is_refused(client, login_as):
    platform = factories.make_platform()
    jo = factories.make_person("Jo Kim")
    db.session.commit()
    login_as(Role.IT)

    response = client.submit(
        "/profiles/new", {"name": "Melvilla Dewey", "platform_id": platform.id, "kind": "persona", "holder_id": jo.id}
    )
    assert response.status_code == 400
    assert "Only a personal profile has a holder" in response.text
    assert _count(Profile) == 0


def test_shape_errors_are_shown_beside_the_fields(client, login_as):
    login_as(Role.IT)
    response = client.submit(
        "/profiles/new", {"name": "", "platform_id": "", "kind": "organisation", "signup_email": "not-an-email"}
    )
    assert response.status_code == 400
    assert "Choose a platform." in response.text and "That is not an email address." in response.text
    assert _count(Profile) == 0


def test_edit_saves_and_records_before_and_after(client, login_as):
    profile = factories.make_profile(kind=ProfileKind.ORGANISATION, name="Riverside portfolio")
    db.session.commit()
    login_as(Role.ADMIN)

    response = client.submit(
        f"/profiles/{profile.id}/edit", _form(profile, name="Riverside business portfolio", notes="Made in 2019")
    )
    assert response.status_code == 302, response.text
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Riverside business portfolio"
    [event] = _events("profile.update")
    assert event.before["name"] == "Riverside portfolio" and event.after["name"] == "Riverside business portfolio"
    page = client.get(f"/profiles/{profile.id}").text
    assert "<del>Riverside portfolio</del>" in page


def test_edit_form_shows_the_current_values(client, login_as):
    jo = factories.make_person("Jo Kim")
    profile = factories.make_profile(kind=ProfileKind.PERSONAL, holder=jo, name="Jo's page", speaks_for_organisation=True)
    db.session.commit()
    login_as(Role.IT)
    page = client.get(f"/profiles/{profile.id}/edit").text
    assert '<option selected value="personal">Personal</option>' in page
    assert f'value="{escape(person_token(jo))}"' in page and "Jo Kim &lt;" in page
    assert 'checked id="speaks_for_organisation"' in page
    assert f'name="version" type="hidden" value="{profile.version}"' in page


def test_a_stale_edit_is_refused_and_changes_nothing(client, login_as):
    profile = factories.make_profile(kind=ProfileKind.ORGANISATION, name="Original")
    db.session.commit()
    stale = _form(profile, name="Mine")
    login_as(Role.IT)
    assert client.submit(f"/profiles/{profile.id}/edit", _form(profile, name="Theirs")).status_code == 302

    response = client.submit(f"/profiles/{profile.id}/edit", stale)
    assert response.status_code == 409
    assert "Someone else changed this while you were editing" in response.text
    assert "Theirs" in response.text
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Theirs"
    assert len(_events("profile.update")) == 1


def test_changing_the_kind_of_a_persona_with_custodians_is_refused(client, login_as):
    keeper = factories.make_person("Kim Keeper")
    persona = factories.make_profile(kind=ProfileKind.PERSONA, name="Library David", custodians=[keeper])
    db.session.commit()
    login_as(Role.IT)

    response = client.submit(f"/profiles/{persona.id}/edit", _form(persona, kind="organisation"))
    assert response.status_code == 400
    assert "Only persona and shared-login profiles have custodians" in response.text
    db.session.expire_all()
    assert db.session.get(Profile, persona.id).kind is ProfileKind.PERSONA
    assert _events("profile.update") == []
    # Between the two kinds that have custodians the change is fine.
    assert client.submit(f"/profiles/{persona.id}/edit", _form(persona, kind="shared_login")).status_code == 302


def test_custodians_are_added_and_removed_after_confirmation(client, login_as):
    keeper = factories.make_person("Kim Keeper")
    shared = factories.make_profile(kind=ProfileKind.SHARED_LOGIN, name="Reference desk")
    db.session.commit()
    login_as(Role.IT)

    response = client.submit(f"/profiles/{shared.id}/custodians", {"custodian-person_id": keeper.id})
    assert response.status_code == 302, response.text
    link = db.session.scalar(sa.select(ProfileCustodian))
    assert link.person_id == keeper.id
    [added] = _events("profile.custodian.add")
    assert added.object_type == "profile" and added.object_id == shared.id and "Kim Keeper" in added.summary

    confirm = client.get(f"/profiles/{shared.id}/custodians/{link.id}/remove")
    assert confirm.status_code == 200
    assert "Remove Kim Keeper as a custodian of Reference desk?" in confirm.text
    assert "its only custodian" in confirm.text
    assert 'name="csrf_token"' in confirm.text
    assert _count(ProfileCustodian) == 1  # looking at the confirmation changes nothing

    removed = client.submit(f"/profiles/{shared.id}/custodians/{link.id}/remove")
    assert removed.status_code == 302
    assert _count(ProfileCustodian) == 0
    [event] = _events("profile.custodian.remove")
    assert event.before == {"custodian": "Kim Keeper"}
    # Coming back to an old confirmation link, or posting it twice, is explained.
    again = client.get(f"/profiles/{shared.id}/custodians/{link.id}/remove", follow_redirects=True)
    assert "no longer a custodian" in again.text
    assert client.submit(f"/profiles/{shared.id}/custodians/{link.id}/remove").status_code == 404


def test_a_custodian_cannot_be_added_twice(client, login_as):
    keeper = factories.make_person("Kim Keeper")
    persona = factories.make_profile(kind=ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[keeper])
    db.session.commit()
    login_as(Role.ADMIN)

    response = client.submit(f"/profiles/{persona.id}/custodians", {"custodian-person_id": keeper.id})
    assert response.status_code == 400
    assert "Kim Keeper is already a custodian of Melvilla Dewey." in response.text
    assert _count(ProfileCustodian) == 1 and _events("profile.custodian.add") == []


def test_personal_and_organisation_profiles_take_no_custodians(client, login_as):
    jo = factories.make_person("Jo Kim")
    personal = factories.make_profile(kind=ProfileKind.PERSONAL, holder=jo, name="Jo Kim")
    organisation = factories.make_profile(kind=ProfileKind.ORGANISATION, name="Riverside portfolio")
    db.session.commit()
    login_as(Role.IT)

    assert "Add a custodian" not in client.get(f"/profiles/{personal.id}").text
    for profile in (personal, organisation):
        response = client.submit(f"/profiles/{profile.id}/custodians", {"custodian-person_id": jo.id})
        assert response.status_code == 400
        assert "Only persona and shared-login profiles have custodians" in response.text
    assert _count(ProfileCustodian) == 0


def test_missing_profiles_are_404(client, login_as):
    profile = factories.make_profile(kind=ProfileKind.PERSONA)
    db.session.commit()
    login_as(Role.IT)
    assert client.get("/profiles/9999").status_code == 404
    assert client.get("/profiles/9999/edit").status_code == 404
    assert client.submit("/profiles/9999/custodians", {"custodian-person_id": 1}).status_code == 404
    assert client.submit(f"/profiles/{profile.id}/custodians/9999/remove").status_code == 404
    assert "There is no profile with id 9999" in client.get("/profiles/9999").text


def test_posting_without_the_csrf_token_is_refused(client, login_as):
    platform = factories.make_platform()
    db.session.commit()
    login_as(Role.IT)
    response = client.post("/profiles/new", data={"name": "X", "platform_id": platform.id, "kind": "organisation"})
    assert response.status_code == 400
    assert _count(Profile) == 0
