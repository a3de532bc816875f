"""The people pages: the staff list, each person's footprint, and who may keep the list."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Person, PersonStatus, ProfileKind, Role
from tests import factories
from tests.integration.browser_form import form_values


def person_form(person: Person, **changes) -> dict:
    data = {
        "name": person.name,
        "work_email": person.work_email,
        "job_title": person.job_title,
        "department_id": person.department_id or "",
        "manager_id": person.manager_id or "",
        "hr_id": person.hr_id or "",
        "personal_email": person.personal_email or "",
        "personal_phone": person.personal_phone or "",
        "status": person.status.value,
        "last_day": person.last_day.isoformat() if person.last_day else "",
        "left_on": person.left_on.isoformat() if person.left_on else "",
        "version": person.version,
    }
    data.update(changes)
    return data


def fresh(person_id: int) -> Person:
    db.session.expire_all()
    return db.session.get(Person, person_id)


def section(html: str, heading_id: str) -> str:
    """The text of one footprint card, from its heading to the end of its section."""
    match = re.search(rf'<h3 id="{heading_id}">(.*?)</section>', html, re.S)
    assert match, f"no {heading_id} section"
    return match.group(1)


def test_the_staff_list_filters_by_status_and_department(client, login_as):
    login_as(Role.DIRECTOR)
    youth = factories.make_department("Youth Services")
    factories.make_person("Ann Active", department=youth)
    factories.make_person("Len Leaving", status=PersonStatus.LEAVING)
    factories.make_person("Dee Departed", status=PersonStatus.DEPARTED, department=youth)
    db.session.commit()

    everyone = client.get("/people/").text
    assert all(name in everyone for name in ("Ann Active", "Len Leaving", "Dee Departed"))
    assert "Add a person" not in everyone

    leaving = client.get("/people/?status=leaving").text
    assert "Len Leaving" in leaving and "Ann Active" not in leaving and "Dee Departed" not in leaving

    youth_page = client.get(f"/people/?department={youth.id}").text
    assert "Ann Active" in youth_page and "Dee Departed" in youth_page and "Len Leaving" not in youth_page

    both = client.get(f"/people/?department={youth.id}&status=departed").text
    assert "Dee Departed" in both and "Ann Active" not in both

    assert "Nobody matches these filters" in client.get("/people/?q=zzz-nobody").text
    missing = client.get("/people/4242")
    assert missing.status_code == 404 and "There is no person with id 4242" in missing.text


def test_staff_cannot_see_the_staff_list_but_can_see_their_own_page(client, login_as):
    staff = login_as(Role.STAFF)
    other = factories.make_person("Someone Else")
    db.session.commit()
    assert client.get("/people/").status_code == 403
    assert client.get(f"/people/{other.id}").status_code == 404  # as if there were no such person
    own = client.get(f"/people/{staff.person_id}")
    assert own.status_code == 200 and "holds nothing in the registry" in own.text


def test_the_footprint_page_lists_everything_a_person_holds(client, login_as):
    login_as(Role.DIRECTOR)
    fb = factories.make_platform("Facebook")
    yt = factories.make_platform("YouTube", role_names=["owner", "manager"])
    jo = factories.make_person("Jo Park", status=PersonStatus.LEAVING)
    jo_fb = factories.make_profile(fb, ProfileKind.PERSONAL, holder=jo, name="Jo on Facebook", speaks_for_organisation=True)
    jo_yt = factories.make_profile(yt, ProfileKind.PERSONAL, holder=jo, name="Jo on YouTube")
    persona = factories.make_profile(fb, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[jo])
    factories.make_account(fb, name="Branch Page", owner_profile=jo_fb)
    channel = factories.make_account(yt, name="Story Channel")
    factories.make_admin(channel, jo_yt, "manager")
    factories.make_account(fb, name="Persona Page", owner_profile=persona)
    teen = factories.make_account(fb, name="Teen Page")
    factories.make_recovery(teen, "jo.park@gmail.example", person=jo)
    factories.make_account(yt, name="Stewarded Channel", steward=jo)
    factories.make_connection(channel, "Hootsuite", profile=jo_yt)
    factories.make_account(fb, name="Unrelated Page")
    db.session.commit()

    page = client.get(f"/people/{jo.id}")

    assert page.status_code == 200
    html = page.text
    assert "Everything below must be handed over" in html
    profiles = section(html, "fp-profiles")
    assert "Jo on Facebook" in profiles and "Jo on YouTube" in profiles and "Speaks for the organisation" in profiles
    assert "Branch Page" in section(html, "fp-owned")
    admin = section(html, "fp-admin")
    assert "Story Channel" in admin and "manager" in admin
    assert "jo.park@gmail.example" in section(html, "fp-recovery") and "Teen Page" in section(html, "fp-recovery")
    custody = section(html, "fp-custody")
    assert "Melvilla Dewey" in custody and "Persona Page" in custody
    assert "Stewarded Channel" in section(html, "fp-steward")
    connections = section(html, "fp-conn")
    assert "Hootsuite" in connections and "Story Channel" in connections
    assert "Unrelated Page" not in html


def test_a_long_footprint_lists_the_first_of_each_kind_with_its_total_and_shows_all_on_request(client, login_as, monkeypatch):
    monkeypatch.setattr("app.people.routes.FOOTPRINT_LIST", 2)
    login_as(Role.DIRECTOR)
    fb = factories.make_platform("Facebook")
    jo = factories.make_person("Jo Park", status=PersonStatus.DEPARTED)
    mine = factories.make_profile(fb, ProfileKind.PERSONAL, holder=jo, name="Jo on Facebook")
    for name in ("Page C", "Page A", "Page B"):
        factories.make_admin(factories.make_account(fb, name=f"Admin {name}"), mine)
        factories.make_account(fb, name=f"Stewarded {name}", steward=jo)
    factories.make_account(fb, name="Owned Page", owner_profile=mine)
    db.session.commit()

    html = client.get(f"/people/{jo.id}").text
    admin = section(html, "fp-admin")
    assert "Admin roles (3)" in admin
    assert "Admin Page A" in admin and "Admin Page B" in admin and "Admin Page C" not in admin, "the first two, by name"
    assert f'The first 2 of 3 · <a href="/people/{jo.id}?all=1#fp-admin">Show all 3</a>' in admin
    stewarded = section(html, "fp-steward")
    assert "(3)" in stewarded and "Stewarded Page C" not in stewarded
    assert "The first" not in section(html, "fp-owned"), "a list that is not cut says nothing more"
    findings_card = re.search(r'id="findings".*?</section>', html, re.S).group(0)
    open_findings = int(re.search(r"\((\d+) open", findings_card).group(1))
    assert open_findings > 2 and f"The first 2 of {open_findings}, most severe first" in findings_card
    assert findings_card.count('class="finding"') == 2

    everything = client.get(f"/people/{jo.id}?all=1").text
    assert "Admin Page C" in section(everything, "fp-admin") and "The first" not in everything
    assert re.search(r'id="findings".*?</section>', everything, re.S).group(0).count('class="finding"') == open_findings


def test_hr_adds_and_edits_people(client, login_as):
    login_as(Role.HR)
    dept = factories.make_department("Branches")
    db.session.commit()
    assert client.get("/people/new").status_code == 200

    created = client.submit(
        "/people/new",
        {
            "name": "Jo Park",
            "work_email": "Jo.Park@org.example",
            "department_id": dept.id,
            "status": "active",
            "personal_email": "jo@gmail.example",
        },
    )
    assert created.status_code == 302
    jo = db.session.scalar(sa.select(Person).where(Person.name == "Jo Park"))
    assert jo.work_email == "jo.park@org.example" and jo.department_id == dept.id
    assert "Added Jo Park to the staff list" in client.get(created.headers["Location"]).text

    assert client.get(f"/people/{jo.id}/edit").status_code == 200
    edited = client.submit(f"/people/{jo.id}/edit", person_form(jo, status="leaving", last_day="2030-06-30"))
    assert edited.status_code == 302
    jo = fresh(jo.id)
    assert jo.status is PersonStatus.LEAVING and jo.last_day.isoformat() == "2030-06-30"

    missing_day = client.submit(f"/people/{jo.id}/edit", person_form(jo, status="departed"))
    assert missing_day.status_code == 400 and "Give the day they left." in missing_day.text
    assert fresh(jo.id).status is PersonStatus.LEAVING

    duplicate = client.submit("/people/new", {"name": "Another Jo", "work_email": "JO.PARK@org.example", "status": "active"})
    assert duplicate.status_code == 400 and "already belongs to someone on the staff list" in duplicate.text
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "person").order_by(AuditEvent.id))
    assert list(actions) == ["person.create", "person.update"]


def test_only_hr_and_admins_add_or_edit_people(client, make_user):
    jo = factories.make_person("Jo Park")
    db.session.commit()

    for role in (Role.DIRECTOR, Role.IT, Role.STAFF):
        user = make_user(role)
        browser = client.application.test_client()  # one browser per role
        browser.login(user)

        assert browser.get("/people/new").status_code == 403, role
        assert browser.submit("/people/new", {"name": "X", "work_email": "x@org.example", "status": "active"}).status_code == 403
        assert browser.get(f"/people/{jo.id}/edit").status_code == 403
        assert browser.submit(f"/people/{jo.id}/edit", person_form(jo, name="Changed")).status_code == 403
        if role is not Role.STAFF:
            assert "Edit person" not in browser.get(f"/people/{jo.id}").text
        assert "Edit person" not in browser.get(f"/people/{user.person_id}").text
    assert fresh(jo.id).name == "Jo Park"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.name == "X")) == 0


def test_a_stale_person_edit_is_refused(client, login_as):
    login_as(Role.HR, person=factories.make_person("Hana Reyes"))
    jo = factories.make_person("Jo Park", job_title="Librarian")
    db.session.commit()
    first_tab = form_values(client.get(f"/people/{jo.id}/edit").text, "work_email")
    second_tab = form_values(client.get(f"/people/{jo.id}/edit").text, "work_email")

    assert client.submit(f"/people/{jo.id}/edit", {**first_tab, "job_title": "Senior Librarian"}).status_code == 302
    stale = client.submit(f"/people/{jo.id}/edit", {**second_tab, "name": "Joanna Park"})

    assert stale.status_code == 409
    assert "Hana Reyes changed <strong>job title</strong> from “Librarian” to “Senior Librarian”" in stale.text
    jo = fresh(jo.id)
    assert (jo.name, jo.job_title) == ("Jo Park", "Senior Librarian")


def test_personal_details_are_shown_only_to_hr_and_admins(client, make_user):
    jo = factories.make_person("Jo Park", personal_email="jo.private@gmail.example", personal_phone="+1 555 0100")
    db.session.commit()

    for role, visible in ((Role.HR, True), (Role.ADMIN, True), (Role.DIRECTOR, False), (Role.IT, False)):
        browser = client.application.test_client()  # one browser per role
        browser.login(make_user(role))

        html = browser.get(f"/people/{jo.id}").text

        assert "Jo Park" in html
        assert ("jo.private@gmail.example" in html) is visible, role
        assert ("+1 555 0100" in html) is visible, role


def test_saving_the_edit_form_unchanged_changes_nothing(client, login_as):
    login_as(Role.HR)
    dept = factories.make_department("Youth")
    # A manager who has left is still their manager until HR says otherwise.
    boss = factories.make_person("Morgan Boss", status=PersonStatus.DEPARTED)
    jo = factories.make_person(
        "Jo Park",
        status=PersonStatus.LEAVING,
        last_day=date(2030, 6, 30),
        department=dept,
        manager=boss,
        hr_id="E-77",
        job_title="Librarian",
        personal_email="jo@gmail.example",
        personal_phone="+1 555 0100",
    )
    db.session.commit()
    columns = (
        "name",
        "work_email",
        "job_title",
        "department_id",
        "manager_id",
        "hr_id",
        "personal_email",
        "personal_phone",
        "status",
        "last_day",
        "left_on",
        "version",
    )
    before = {c: getattr(jo, c) for c in columns}

    page = client.get(f"/people/{jo.id}/edit").text
    response = client.submit(f"/people/{jo.id}/edit", form_values(page, "work_email"))

    assert response.status_code == 302
    assert {c: getattr(fresh(jo.id), c) for c in columns} == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "person")) == 0
