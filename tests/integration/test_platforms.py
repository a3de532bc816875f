"""Platform pages: access by role, role names, uniqueness, rotation bounds, stale edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccountStatus, AuditEvent, CredentialKind, CredentialNote, Platform, ProfileKind, Role
from app.models.base import utcnow
from app.services import accounts, credentials, findings, profiles
from app.services.context import Actor
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


def _form(platform: Platform, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": platform.name,
        "slug": platform.slug,
        "role_names": "\n".join(platform.role_names),
        "owner_hint": platform.owner_hint,
        "rotation_days": platform.rotation_days,
        "version": platform.version,
    }
    if platform.delegated_access:
        data["delegated_access"] = "y"
    data.update(changes)
    return data


@pytest.mark.parametrize("role", list(ACCESS), ids=lambda r: r.value)
def test_each_page_allows_or_refuses_each_role(client, login_as, role):
    can_view, can_edit = ACCESS[role]
    platform = factories.make_platform("YouTube")
    db.session.commit()
    login_as(role)

    view = 200 if can_view else 403
    assert client.get("/platforms/").status_code == view
    assert client.get(f"/platforms/{platform.id}").status_code == view
    edit = 200 if can_edit else 403
    assert client.get("/platforms/new").status_code == edit
    assert client.get(f"/platforms/{platform.id}/edit").status_code == edit
    if not can_edit:
        assert client.submit("/platforms/new", {"name": "X", "role_names": "owner", "rotation_days": 30}).status_code == 403
        assert client.submit(f"/platforms/{platform.id}/edit", _form(platform, name="Renamed")).status_code == 403
        db.session.expire_all()
        assert [p.name for p in db.session.scalars(sa.select(Platform))] == ["YouTube"]
    if can_view:
        assert (f"/platforms/{platform.id}/edit" in client.get(f"/platforms/{platform.id}").text) is can_edit


def test_list_shows_roles_and_account_counts(app, client, login_as):
    youtube = factories.make_platform("YouTube", role_names=["owner", "manager", "editor"], delegated_access=True)
    factories.make_platform("Flickr", role_names=["owner"])
    factories.make_account(youtube)
    factories.make_account(youtube)
    factories.make_account(youtube, status=AccountStatus.RETIRED)
    db.session.commit()
    login_as(Role.HR)

    page = client.get("/platforms/").text
    row = page.split("YouTube</a>")[1].split("</tr>")[0]
    assert "owner, manager, editor" in row and '<td data-label="Accounts">2</td>' in row and "Yes" in row
    flickr = page.split("Flickr</a>")[1].split("</tr>")[0]
    assert '<td data-label="Accounts">0</td>' in flickr and "No" in flickr
    app.config["PER_PAGE"] = 1
    assert "Page 2 of 2" in client.get("/platforms/?page=2").text


def test_empty_list_invites_the_first_platform(client, login_as):
    login_as(Role.IT)
    page = client.get("/platforms/").text
    assert "No platforms yet" in page and "/platforms/new" in page


def test_detail_explains_roles_delegated_access_and_lists_accounts(client, login_as):
    youtube = factories.make_platform(
        "YouTube",
        role_names=["owner", "manager", "editor"],
        delegated_access=True,
        owner_hint="A channel's owner can add managers.",
    )
    factories.make_account(youtube, name="Riverside Channel")
    flickr = factories.make_platform("Flickr", role_names=["owner"])
    db.session.commit()
    login_as(Role.DIRECTOR)

    page = client.get(f"/platforms/{youtube.id}").text
    assert page.index("<strong>owner</strong>") < page.index("<strong>manager</strong>") < page.index("<strong>editor</strong>")
    assert "top role" in page and "A channel&#39;s owner can add managers." in page
    assert "Offered" in page and "nobody needs to share one login" in page
    assert "Riverside Channel" in page
    other = client.get(f"/platforms/{flickr.id}").text
    assert "Not offered" in other and "No accounts on Flickr yet." in other


def test_it_creates_a_platform_and_it_is_audited(client, login_as):
    login_as(Role.IT)
    response = client.submit(
        "/platforms/new",
        {
            "name": "Google Workspace",
            "role_names": "super admin\r\n\r\n  admin  \r\nuser\r\n",
            "delegated_access": "y",
            "rotation_days": 90,
        },
    )
    assert response.status_code == 302, response.text
    platform = db.session.scalar(sa.select(Platform))
    assert platform.slug == "google-workspace"
    assert platform.role_names == ["super admin", "admin", "user"] and platform.top_role == "super admin"
    assert platform.delegated_access and platform.rotation_days == 90
    [event] = _events("platform.create")
    assert event.object_type == "platform" and event.object_id == platform.id
    assert event.after["role_names"] == "super admin, admin, user"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"role_names": "  \n "}, "role_names", "Give at least one role name"),
        ({"role_names": "owner\nadmin\nOwner"}, "role_names", "Give each role once; repeated: Owner, owner."),
        ({"name": "facebook"}, "name", "There is already a platform called facebook."),
        ({"slug": "fb"}, "slug", "Another platform already uses the short name fb."),
        ({"slug": "Not A Slug!"}, "slug", "Use lower-case letters, digits and hyphens only"),
        ({"rotation_days": 0}, "rotation_days", "Give a number of days from 1 to 3650"),
        ({"rotation_days": 3651}, "rotation_days", "Give a number of days from 1 to 3650"),
        ({"rotation_days": "soon"}, "rotation_days", "Not a valid integer value."),
    ],
    ids=["no-roles", "repeated-role", "taken-name", "taken-slug", "bad-slug", "rotation-0", "rotation-3651", "rotation-text"],
)
def test_bad_input_is_refused_with_the_field_error(client, login_as, changes, field, message):
    factories.make_platform("Facebook", slug="fb")
    db.session.commit()
    login_as(Role.ADMIN)
    data = {"name": "Instagram", "slug": "", "role_names": "admin\neditor", "rotation_days": 365, **changes}

    response = client.submit("/platforms/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Platform)) == 1
    assert _events("platform.create") == []


def test_edit_saves_and_records_before_and_after(client, login_as):
    platform = factories.make_platform("YouTube", role_names=["owner", "editor"])
    db.session.commit()
    login_as(Role.IT)

    edit_page = client.get(f"/platforms/{platform.id}/edit").text
    assert "owner\neditor</textarea>" in edit_page
    response = client.submit(
        f"/platforms/{platform.id}/edit", _form(platform, role_names="owner\nmanager\neditor", rotation_days=180)
    )
    assert response.status_code == 302, response.text
    db.session.expire_all()
    saved = db.session.get(Platform, platform.id)
    assert saved.role_names == ["owner", "manager", "editor"] and saved.rotation_days == 180
    [event] = _events("platform.update")
    assert (event.before["role_names"], event.after["role_names"]) == ("owner, editor", "owner, manager, editor")
    assert (event.before["rotation_days"], event.after["rotation_days"]) == (365, 180)


def test_a_role_still_held_cannot_be_removed(client, login_as):
    platform = factories.make_platform("YouTube", role_names=["owner", "manager", "editor"])
    account = factories.make_account(platform)
    factories.make_admin(account, factories.make_profile(platform), "manager")
    db.session.commit()
    login_as(Role.IT)

    response = client.submit(f"/platforms/{platform.id}/edit", _form(platform, role_names="owner\neditor"))
    assert response.status_code == 400
    assert "Roles still held on YouTube accounts cannot be removed or renamed: manager (held 1 time)" in response.text
    db.session.expire_all()
    assert db.session.get(Platform, platform.id).role_names == ["owner", "manager", "editor"]
    assert _events("platform.update") == []


def test_a_stale_edit_is_refused_and_changes_nothing(client, login_as):
    platform = factories.make_platform("YouTube")
    db.session.commit()
    stale = _form(platform, name="Mine")
    login_as(Role.ADMIN)
    assert client.submit(f"/platforms/{platform.id}/edit", _form(platform, name="YouTube Studio")).status_code == 302

    response = client.submit(f"/platforms/{platform.id}/edit", stale)
    assert response.status_code == 409
    assert "Someone else changed this while you were editing" in response.text and "YouTube Studio" in response.text
    db.session.expire_all()
    assert db.session.get(Platform, platform.id).name == "YouTube Studio"
    assert len(_events("platform.update")) == 1


def test_an_unchanged_save_records_nothing(client, login_as):
    platform = factories.make_platform("YouTube")
    db.session.commit()
    login_as(Role.IT)
    assert client.submit(f"/platforms/{platform.id}/edit", _form(platform)).status_code == 302
    db.session.expire_all()
    assert db.session.get(Platform, platform.id).version == 1
    assert _events("platform.update") == []


def test_missing_platforms_are_404(client, login_as):
    login_as(Role.IT)
    assert client.get("/platforms/9999").status_code == 404
    assert client.get("/platforms/9999/edit").status_code == 404
    assert (
        client.submit("/platforms/9999/edit", {"name": "X", "role_names": "owner", "rotation_days": 1, "version": 1}).status_code
        == 404
    )


def test_a_new_rotation_interval_moves_the_due_dates_of_the_notes_that_follow_it(client, login_as):
    """A note without an interval of its own is due its platform's interval after its last
    rotation: when IT shortens the platform's interval, such a note rotated 200 days ago is
    overdue at once (on its account's page and in the findings); a note with its own interval,
    and the notes of another platform, keep their due dates."""
    registrar = factories.make_platform("Registrar", rotation_days=365)
    other = factories.make_platform("Mailhost", rotation_days=365)
    domain = factories.make_account(registrar, name="library.example domain")
    persona = factories.make_profile(registrar, kind=ProfileKind.PERSONA, name="Registrar persona")
    mail = factories.make_account(other, name="Mail admin")
    db.session.flush()
    system = Actor.system()
    notes = {
        "follows": credentials.create_note(
            system, credentials.NoteData("Domain login", CredentialKind.PASSWORD), "s3cret-follows", account=domain
        ),
        "own": credentials.create_note(
            system,
            credentials.NoteData("Domain API key", CredentialKind.PASSWORD, rotation_days=400),
            "s3cret-own",
            account=domain,
        ),
        "profile": credentials.create_note(
            system, credentials.NoteData("Persona login", CredentialKind.PASSWORD), "s3cret-profile", profile=persona
        ),
        "elsewhere": credentials.create_note(
            system, credentials.NoteData("Mail login", CredentialKind.PASSWORD), "s3cret-else", account=mail
        ),
    }
    rotated = utcnow() - timedelta(days=200)
    for note in notes.values():
        note.rotated_at = rotated
        credentials._restamp(note)
    db.session.commit()
    due_before = {name: note.due_at for name, note in notes.items()}
    assert all(due > utcnow() for due in due_before.values())
    login_as(Role.IT)

    response = client.submit(f"/platforms/{registrar.id}/edit", _form(registrar, rotation_days=90))
    assert response.status_code == 302, response.text
    db.session.expire_all()
    due = {name: db.session.get(CredentialNote, note.id).due_at for name, note in notes.items()}
    assert due["follows"] == due["profile"] == rotated + timedelta(days=90)
    assert due["own"] == due_before["own"] and due["elsewhere"] == due_before["elsewhere"]
    overdue = {x.subject_id for x in findings.evaluate(findings.FindingFilters(rule_id="credential-overdue"))}
    assert overdue == {notes["follows"].id, notes["profile"].id}
    assert "Overdue" in client.get(f"/accounts/{domain.id}").text

    # Back to a year: due again in 165 days, and no longer overdue.
    response = client.submit(f"/platforms/{registrar.id}/edit", _form(db.session.get(Platform, registrar.id), rotation_days=365))
    assert response.status_code == 302, response.text
    db.session.expire_all()
    assert db.session.get(CredentialNote, notes["follows"].id).due_at == due_before["follows"]
    assert not findings.evaluate(findings.FindingFilters(rule_id="credential-overdue"))


def test_an_account_or_a_profile_moved_to_another_platform_follows_its_interval(app):
    """A note that follows its platform's interval is due by the new platform's once its account
    (or, for a profile's note, its profile) moves there, and is in that platform's rotation queue;
    a note with its own interval keeps its due date."""
    yearly = factories.make_platform("Registrar", rotation_days=365)
    quarterly = factories.make_platform("Hosting", rotation_days=90)
    steward = factories.make_person("Sam Ortiz")
    account = factories.make_account(yearly, name="library.example domain", steward=steward)
    persona = factories.make_profile(yearly, kind=ProfileKind.PERSONA, name="Registrar persona")
    db.session.flush()
    system = Actor.system()
    follows = credentials.create_note(system, credentials.NoteData("Login", CredentialKind.PASSWORD), "s3cret-a", account=account)
    own = credentials.create_note(
        system, credentials.NoteData("API key", CredentialKind.API_KEY, rotation_days=400), "s3cret-b", account=account
    )
    kept = credentials.create_note(
        system, credentials.NoteData("Persona login", CredentialKind.PASSWORD), "s3cret-c", profile=persona
    )
    rotated = utcnow() - timedelta(days=200)
    for note in (follows, own, kept):
        note.rotated_at = rotated
        credentials._restamp(note)
    db.session.commit()
    own_due = own.due_at
    it = Actor(user_id=None, name="Ivy IT", role=Role.IT)

    data = accounts.AccountData(platform_id=quarterly.id, name=account.name, steward_id=steward.id)
    accounts.update_account(it, account, data, account.version)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CredentialNote, follows.id).due_at == rotated + timedelta(days=90)
    assert db.session.get(CredentialNote, own.id).due_at == own_due
    assert db.session.get(CredentialNote, kept.id).due_at == rotated + timedelta(days=365)

    profile_data = profiles.ProfileData(platform_id=quarterly.id, kind=persona.kind, name=persona.name)
    profiles.update_profile(it, persona, profile_data, persona.version)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CredentialNote, kept.id).due_at == rotated + timedelta(days=90)
    overdue = {x.subject_id for x in findings.evaluate(findings.FindingFilters(rule_id="credential-overdue"))}
    assert overdue == {follows.id, kept.id}
    # The rotation queue of each platform lists the notes of what is on it now.
    queued = {
        platform.name: {note.id for note, _ in credentials.rotation_queue(it, platform_id=platform.id).items}
        for platform in (yearly, quarterly)
    }
    assert queued == {"Registrar": set(), "Hosting": {follows.id, kept.id}}
