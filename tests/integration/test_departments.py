"""Department pages: access by role, counts, create and edit with their rules."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from markupsafe import escape

from app.extensions import db
from app.models import AccountStatus, AuditEvent, Department, PersonStatus, Role
from app.services import departments as service
from app.services.context import Actor
from app.services.errors import ValidationFailed
from app.services.lookup import person_token
from tests import factories

#: role → (may view, may edit)
ACCESS = {
    Role.ADMIN: (True, True),
    Role.DIRECTOR: (True, False),
    Role.HR: (True, True),
    Role.IT: (True, False),
    Role.STAFF: (False, False),
}


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _form(department: Department, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": department.name,
        "description": department.description,
        "head_id": department.head_id or "",
        "version": department.version,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("role", list(ACCESS), ids=lambda r: r.value)
def test_each_page_allows_or_refuses_each_role(client, login_as, role):
    can_view, can_edit = ACCESS[role]
    department = factories.make_department("Adult Services")
    db.session.commit()
    login_as(role)

    view = 200 if can_view else 403
    assert client.get("/departments/").status_code == view
    assert client.get(f"/departments/{department.id}").status_code == view
    edit = 200 if can_edit else 403
    assert client.get("/departments/new").status_code == edit
    assert client.get(f"/departments/{department.id}/edit").status_code == edit
    if not can_edit:
        assert client.submit("/departments/new", {"name": "Sneaky"}).status_code == 403
        assert client.submit(f"/departments/{department.id}/edit", _form(department, name="Renamed")).status_code == 403
        db.session.expire_all()
        assert [d.name for d in db.session.scalars(sa.select(Department))] == ["Adult Services"]
    if can_view:
        listing = client.get("/departments/").text
        assert ("Add a department" in listing) is can_edit


def test_list_counts_current_people_and_live_accounts(client, login_as):
    adults = factories.make_department("Adult Services")
    factories.make_department("Youth Services")
    factories.make_person(department=adults)
    factories.make_person(department=adults, status=PersonStatus.LEAVING)
    factories.make_person(department=adults, status=PersonStatus.DEPARTED)
    factories.make_account(department=adults)
    factories.make_account(department=adults, status=AccountStatus.RETIRED)
    db.session.commit()
    login_as(Role.DIRECTOR)

    page = client.get("/departments/").text
    row = page.split("Adult Services</a>")[1].split("</tr>")[0]
    assert '<td data-label="People">2</td>' in row and '<td data-label="Accounts">1</td>' in row
    youth = page.split("Youth Services</a>")[1].split("</tr>")[0]
    assert '<td data-label="People">0</td>' in youth


def test_list_paginates_and_has_an_empty_state(app, client, login_as):
    login_as(Role.HR)
    assert "No departments yet" in client.get("/departments/").text
    for name in ("A", "B", "C"):
        factories.make_department(name)
    db.session.commit()
    app.config["PER_PAGE"] = 2
    assert "Page 1 of 2" in client.get("/departments/").text
    assert "Page 2 of 2" in client.get("/departments/?page=2").text


def test_detail_shows_head_people_and_accounts(client, login_as):
    department = factories.make_department("Adult Services", description="Everything for grown-ups")
    head = factories.make_person("Hana Head", department=department, job_title="Branch manager")
    factories.make_person("Gone Person", department=department, status=PersonStatus.DEPARTED)
    department.head = head
    factories.make_account(name="Book Club Page", department=department)
    db.session.commit()
    login_as(Role.IT)

    page = client.get(f"/departments/{department.id}").text
    assert "Everything for grown-ups" in page
    assert "Hana Head" in page and "Branch manager" in page
    # Those who left are counted and a link away, not listed among the people here now.
    assert "Gone Person" not in page and "1 who left" in page
    assert f"/people/?department={department.id}&amp;status=departed" in page
    assert "Book Club Page" in page
    assert f"/departments/{department.id}/edit" not in page  # IT reads, HR edits


def test_hr_creates_a_department_and_it_is_audited(client, login_as):
    head = factories.make_person("Hana Head")
    db.session.commit()
    login_as(Role.HR)

    response = client.submit(
        "/departments/new", {"name": " Youth Services ", "description": "Teens and children", "head_id": head.id}
    )
    assert response.status_code == 302, response.text
    department = db.session.scalar(sa.select(Department))
    assert department.name == "Youth Services" and department.head_id == head.id
    [event] = _events("department.create")
    assert event.object_type == "department" and event.object_id == department.id
    assert event.after["head"] == "Hana Head"
    assert "Added the department Youth Services." in client.get(response.headers["Location"]).text


def test_a_duplicate_name_is_refused_with_a_field_error(client, login_as):
    factories.make_department("Youth Services")
    other = factories.make_department("Adult Services")
    db.session.commit()
    login_as(Role.HR)

    response = client.submit("/departments/new", {"name": "youth services"})
    assert response.status_code == 400
    assert "There is already a department called youth services." in response.text
    assert 'id="name-error"' in response.text
    renamed = client.submit(f"/departments/{other.id}/edit", _form(other, name="Youth Services"))
    assert renamed.status_code == 400 and "There is already a department called Youth Services." in renamed.text
    db.session.expire_all()
    assert sorted(d.name for d in db.session.scalars(sa.select(Department))) == ["Adult Services", "Youth Services"]
    assert _events("department.create") == [] and _events("department.update") == []


def test_a_blank_name_or_unknown_head_is_refused(client, login_as):
    login_as(Role.ADMIN)
    response = client.submit("/departments/new", {"name": "", "head_id": 9999})
    assert response.status_code == 400
    assert "Give the department a name." in response.text and "That person cannot be chosen here." in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 0


def test_the_head_must_be_a_person_still_here(app):
    hr = Actor(user_id=None, name="HR", role=Role.HR)
    gone = factories.make_person("Gone Person", status=PersonStatus.DEPARTED)
    with pytest.raises(ValidationFailed) as missing:
        service.create_department(hr, service.DepartmentData(name="A", head_id=9999))
    assert missing.value.field_errors["head_id"] == ["That person no longer exists."]
    with pytest.raises(ValidationFailed) as departed:
        service.create_department(hr, service.DepartmentData(name="A", head_id=gone.id))
    assert "has left" in departed.value.field_errors["head_id"][0]
    # A department whose head has since left can still be edited without changing the head.
    department = factories.make_department("B", head=gone)
    service.update_department(
        hr, department, service.DepartmentData(name="B", description="Still here", head_id=gone.id), department.version
    )
    assert department.description == "Still here"


def test_edit_saves_and_records_before_and_after(client, login_as):
    old_head, new_head = factories.make_person("Old Head"), factories.make_person("New Head")
    department = factories.make_department("Adult Services", head=old_head)
    db.session.commit()
    login_as(Role.ADMIN)

    edit_page = client.get(f"/departments/{department.id}/edit").text
    assert f'value="{escape(person_token(old_head))}"' in edit_page
    response = client.submit(f"/departments/{department.id}/edit", _form(department, head_id=new_head.id))
    assert response.status_code == 302, response.text
    db.session.expire_all()
    assert db.session.get(Department, department.id).head_id == new_head.id
    [event] = _events("department.update")
    assert (event.before["head"], event.after["head"]) == ("Old Head", "New Head")
    assert "<del>Old Head</del>" in client.get(f"/departments/{department.id}").text


def test_a_stale_edit_is_refused_and_changes_nothing(client, login_as):
    department = factories.make_department("Adult Services")
    db.session.commit()
    stale = _form(department, name="Mine")
    login_as(Role.HR)
    assert client.submit(f"/departments/{department.id}/edit", _form(department, name="Theirs")).status_code == 302

    response = client.submit(f"/departments/{department.id}/edit", stale)
    assert response.status_code == 409
    assert "Someone else changed this while you were editing" in response.text and "Theirs" in response.text
    db.session.expire_all()
    assert db.session.get(Department, department.id).name == "Theirs"
    assert len(_events("department.update")) == 1


def test_missing_departments_are_404(client, login_as):
    login_as(Role.HR)
    assert client.get("/departments/9999").status_code == 404
    assert client.get("/departments/9999/edit").status_code == 404
    assert client.submit("/departments/9999/edit", {"name": "X", "version": 1}).status_code == 404
