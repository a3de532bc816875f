"""The audit log page: who may read it, order, filters, links to records, diffs, pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Role
from app.services import audit
from app.services.context import Actor
from tests import factories

ALICE = Actor(user_id=None, name="Alice Admin", role=Role.ADMIN)
IAN = Actor(user_id=None, name="Ian IT", role=Role.IT)


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ADMIN, 200), (Role.DIRECTOR, 200), (Role.HR, 403), (Role.IT, 403), (Role.STAFF, 403)],
    ids=lambda v: v.value if isinstance(v, Role) else str(v),
)
def test_only_admins_and_directors_read_the_log(client, login_as, role, status):
    login_as(role)
    assert client.get("/audit/").status_code == status
    home = client.get("/").text
    assert ('href="/audit/"' in home) is (status == 200)


def test_empty_log_says_so(client, login_as, drop_append_only_triggers):
    login_as(Role.DIRECTOR)
    drop_append_only_triggers()  # the log is append-only; the sign-in itself is recorded
    db.session.execute(sa.delete(AuditEvent))
    db.session.commit()
    assert "Nothing has been recorded yet" in client.get("/audit/").text


def test_newest_first_with_actor_time_summary_and_links(client, login_as):
    platform = factories.make_platform("YouTube")
    person = factories.make_person("Jo Kim")
    audit.record_event(IAN, "platform.create", "platform", platform.id, "Added platform YouTube", None, {"name": "YouTube"})
    audit.record_event(ALICE, "person.create", "person", person.id, "Added Jo Kim to the staff list", None, {"name": "Jo Kim"})
    audit.record_event(ALICE, "profile.create", "profile", 9999, "Recorded a profile since deleted", None, {"name": "Gone"})
    db.session.commit()
    login_as(Role.DIRECTOR)

    page = client.get("/audit/").text
    assert page.index("Recorded a profile since deleted") < page.index("Added Jo Kim") < page.index("Added platform YouTube")
    assert "Ian IT" in page and "Alice Admin" in page
    assert "<time datetime=" in page and "UTC" in page
    assert f'<a href="/platforms/{platform.id}">platform #{platform.id}</a>' in page
    assert f'<a href="/people/{person.id}">person #{person.id}</a>' in page
    assert "profile #9999" in page and 'href="/profiles/9999"' not in page  # no link to a record that is gone


def test_links_reach_every_kind_of_record_page(client, login_as):
    platform = factories.make_platform()
    records = {
        "account": (factories.make_account(platform), "/accounts/"),
        "profile": (factories.make_profile(platform), "/profiles/"),
        "department": (factories.make_department(), "/departments/"),
        "platform": (platform, "/platforms/"),
    }
    for object_type, (record, _) in records.items():
        audit.record_event(ALICE, f"{object_type}.create", object_type, record.id, f"Made a {object_type}")
    admin = login_as(Role.ADMIN)
    audit.record_event(ALICE, "user.role_change", "user", admin.id, "Changed a sign-in's role")
    db.session.commit()

    page = client.get("/audit/").text
    for record, prefix in records.values():
        assert f'href="{prefix}{record.id}"' in page
        assert client.get(f"{prefix}{record.id}").status_code == 200
    # Sign-ins have a page for admins only: a director sees the event without the link.
    assert f'href="/users/{admin.id}"' in page
    assert client.get(f"/users/{admin.id}").status_code == 200
    client.submit("/logout")
    login_as(Role.DIRECTOR)
    assert f'href="/users/{admin.id}"' not in client.get("/audit/").text


def test_filters_by_object_type_action_and_actor(client, login_as):
    audit.record_event(ALICE, "account.create", "account", 1, "Created Riverside Page")
    audit.record_event(ALICE, "account.update", "account", 1, "Edited Riverside Page")
    audit.record_event(IAN, "profile.create", "profile", 2, "Recorded Melvilla Dewey")
    db.session.commit()
    login_as(Role.DIRECTOR)

    by_type = client.get("/audit/?object_type=account").text
    assert "Created Riverside Page" in by_type and "Recorded Melvilla Dewey" not in by_type
    assert '<option value="account.update"' in by_type and '<option value="profile.create"' not in by_type
    by_action = client.get("/audit/?action=account.update").text
    assert "Edited Riverside Page" in by_action and "Created Riverside Page" not in by_action
    by_actor = client.get("/audit/?actor=ian").text
    assert "Recorded Melvilla Dewey" in by_actor and "Riverside Page" not in by_actor
    combined = client.get("/audit/?object_type=account&actor=ian")
    assert combined.status_code == 200 and "No events match these filters" in combined.text


def test_shows_what_changed_created_and_removed(client, login_as):
    audit.record_event(
        ALICE,
        "department.update",
        "department",
        1,
        "Edited department",
        {"name": "Adults", "head": None, "version": 1},
        {"name": "Adult Services", "head": "Hana Head", "version": 2},
    )
    audit.record_event(ALICE, "profile.custodian.add", "profile", 1, "Made Kim a custodian", None, {"custodian": "Kim Keeper"})
    audit.record_event(
        ALICE, "profile.custodian.remove", "profile", 1, "Kim is no longer a custodian", {"custodian": "Kim Keeper"}, None
    )
    db.session.commit()
    login_as(Role.ADMIN)

    page = client.get("/audit/").text
    assert "name: <del>Adults</del> → <ins>Adult Services</ins>" in page
    assert "head: <del>—</del> → <ins>Hana Head</ins>" in page
    assert "version:" not in page
    assert "custodian: <ins>Kim Keeper</ins>" in page
    assert "custodian: <del>Kim Keeper</del>" in page


def test_changes_made_through_the_pages_appear_in_the_log(client, login_as):
    login_as(Role.ADMIN)
    assert client.submit("/departments/new", {"name": "Youth Services"}).status_code == 302
    page = client.get("/audit/?object_type=department").text
    assert "Added department Youth Services" in page and "department.create" in page


def test_pages_follow_per_page_and_keep_the_filters(app, client, login_as):
    for n in range(5):
        audit.record_event(ALICE, "account.update", "account", 1, f"Event number {n}")
    audit.record_event(IAN, "profile.create", "profile", 1, "Not an account event")
    db.session.commit()
    app.config["PER_PAGE"] = 2
    login_as(Role.ADMIN)

    first = client.get("/audit/?object_type=account").text
    assert "Showing 1–2 of 5" in first and "Event number 4" in first and "Event number 2" not in first
    assert 'href="/audit/?object_type=account&amp;page=2"' in first
    last = client.get("/audit/?object_type=account&page=3").text
    assert "Event number 0" in last and "Page 3 of 3" in last
    assert "Page 3 of 3" in client.get("/audit/?object_type=account&page=99").text
