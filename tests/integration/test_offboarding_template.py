"""The organisation's own offboarding items: an admin edits the template, new cases get its active items.

Who may open each page, role by role, is in the access matrix (test_access_matrix.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, ChecklistItem, ItemKind, OffboardingTemplateItem, Role
from app.services import offboarding, offboarding_template
from app.services.context import Actor
from app.services.errors import PermissionDenied, ValidationFailed
from tests import factories

HR = Actor.system("HR system")


@pytest.fixture
def last_day(today: date) -> date:
    """The leaver's last day: two weeks from the day the test runs."""
    return today + timedelta(days=14)


def count_template_items() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OffboardingTemplateItem))


def custom_items(case_id: int) -> list[ChecklistItem]:
    return list(
        db.session.scalars(
            sa.select(ChecklistItem).where(ChecklistItem.case_id == case_id, ChecklistItem.kind == ItemKind.CUSTOM)
        )
    )


def test_admin_adds_an_item_and_a_new_case_gets_it(client: Any, login_as: Any, last_day: date) -> None:
    login_as(Role.ADMIN)
    assert "Edit the organisation" in client.get("/offboarding/").text
    page = client.get("/offboarding/template/new")
    assert page.status_code == 200 and "negative = before" in page.text
    response = client.submit(
        "/offboarding/template/new",
        {"title": "Collect building keys", "description": "From reception", "due_offset_days": "-2", "assignee_role": "it"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/offboarding/template")
    listing = client.get("/offboarding/template")
    assert "Collect building keys" in listing.text and "2 days before the last day" in listing.text
    template = db.session.scalar(sa.select(OffboardingTemplateItem))
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.object_type == "offboarding_template_item"))
    assert event is not None and event.object_id == template.id

    leaver = factories.make_person("Leaving Lee")
    case = offboarding.start_case(HR, leaver, last_day, "Moving on")
    db.session.commit()
    (custom,) = custom_items(case.id)
    assert custom.title == "Collect building keys"
    assert custom.due_on == last_day - timedelta(days=2)
    assert custom.assignee_role == "it" and custom.assignee_id is None
    assert custom.template_item_id == template.id


def test_edit_changes_new_cases_and_deactivated_items_are_left_out(client: Any, login_as: Any, last_day: date) -> None:
    admin = Actor.system("Admin")
    keys = offboarding_template.create_template_item(admin, "Collect building keys", "", 0, "hr")
    laptop = offboarding_template.create_template_item(admin, "Return the laptop", "", 1, "it")
    db.session.commit()
    keys_id, laptop_id = keys.id, laptop.id
    login_as(Role.ADMIN)
    edited = client.submit(
        f"/offboarding/template/{laptop_id}/edit",
        {"title": "Return the laptop and charger", "description": "", "due_offset_days": "3", "assignee_role": "admin"},
    )
    assert edited.status_code == 302
    toggled = client.submit(f"/offboarding/template/{keys_id}/toggle")
    assert toggled.status_code == 302
    assert "Reactivate" in client.get("/offboarding/template").text

    case = offboarding.start_case(HR, factories.make_person(), last_day)
    db.session.commit()
    (custom,) = custom_items(case.id)
    assert (custom.title, custom.due_on, custom.assignee_role) == (
        "Return the laptop and charger",
        last_day + timedelta(days=3),
        "admin",
    )

    assert client.submit(f"/offboarding/template/{keys_id}/toggle").status_code == 302
    again = offboarding.start_case(HR, factories.make_person(), last_day)
    db.session.commit()
    assert {i.title for i in custom_items(again.id)} == {"Collect building keys", "Return the laptop and charger"}
    actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "offboarding_template_item")))
    assert {"offboarding_template.update", "offboarding_template.deactivate", "offboarding_template.reactivate"} <= actions


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "  ", "due_offset_days": "0", "assignee_role": "hr"}, "title", "Give the item a title"),
        ({"title": "x" * 501, "due_offset_days": "0", "assignee_role": "hr"}, "title", "500 characters"),
        ({"title": "Keys", "due_offset_days": "61", "assignee_role": "hr"}, "due_offset_days", "between"),
        ({"title": "Keys", "due_offset_days": "-61", "assignee_role": "hr"}, "due_offset_days", "between"),
        ({"title": "Keys", "due_offset_days": "", "assignee_role": "hr"}, "due_offset_days", "whole number"),
        ({"title": "Keys", "due_offset_days": "soon", "assignee_role": "hr"}, "due_offset_days", "integer"),
        ({"title": "Keys", "due_offset_days": "0", "assignee_role": "director"}, "assignee_role", "Not a valid choice"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_saved(
    client: Any, login_as: Any, data: dict, field: str, message: str
) -> None:
    login_as(Role.ADMIN)
    response = client.submit("/offboarding/template/new", data)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in response.text
    assert count_template_items() == 0


def test_bad_edit_keeps_the_item(client: Any, login_as: Any) -> None:
    item = offboarding_template.create_template_item(Actor.system(), "Collect building keys", "", 0, "hr")
    db.session.commit()
    item_id = item.id
    login_as(Role.ADMIN)
    response = client.submit(
        f"/offboarding/template/{item_id}/edit", {"title": "", "due_offset_days": "99", "assignee_role": "hr"}
    )
    assert response.status_code == 400 and 'id="title-error"' in response.text and 'id="due_offset_days-error"' in response.text
    db.session.expire_all()
    kept = db.session.get(OffboardingTemplateItem, item_id)
    assert (kept.title, kept.due_offset_days) == ("Collect building keys", 0)


@pytest.mark.parametrize("role", [Role.HR, Role.IT, Role.DIRECTOR, Role.STAFF])
def test_non_admins_get_403_on_the_edit_endpoints(client: Any, login_as: Any, role: Role) -> None:
    item = offboarding_template.create_template_item(Actor.system(), "Collect building keys", "", 0, "hr")
    db.session.commit()
    item_id = item.id
    login_as(role)
    data = {"title": "Changed", "due_offset_days": "0", "assignee_role": "hr"}
    assert client.get("/offboarding/template/new").status_code == 403
    assert client.submit("/offboarding/template/new", data).status_code == 403
    assert client.get(f"/offboarding/template/{item_id}/edit").status_code == 403
    assert client.submit(f"/offboarding/template/{item_id}/edit", data).status_code == 403
    assert client.submit(f"/offboarding/template/{item_id}/toggle").status_code == 403
    db.session.expire_all()
    kept = db.session.get(OffboardingTemplateItem, item_id)
    assert (kept.title, kept.active, count_template_items()) == ("Collect building keys", True, 1)
    if role is not Role.STAFF:
        page = client.get("/offboarding/template")
        assert page.status_code == 200 and "Collect building keys" in page.text and "Deactivate" not in page.text


def test_the_service_refuses_non_admins_and_checks_its_input(app: Any) -> None:
    with pytest.raises(PermissionDenied):
        offboarding_template.create_template_item(Actor(user_id=None, name="HR", role=Role.HR), "Keys", "", 0, "hr")
    with pytest.raises(ValidationFailed) as error:
        offboarding_template.create_template_item(Actor.system(), "", "", 100, "nobody")
    assert set(error.value.field_errors) == {"title", "due_offset_days", "assignee_role"}
    assert count_template_items() == 0
