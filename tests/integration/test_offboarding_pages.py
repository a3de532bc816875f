"""The offboarding pages: start, work the checklist, refresh, cancel, close with a report, exit declaration, my tasks.

Who may open each page, role by role, is in the access matrix (test_access_matrix.py).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from markupsafe import escape

from app.extensions import db
from app.models import Account, ChecklistItem, ItemKind, ItemStatus, OffboardingCase, Person, PersonStatus, ProfileKind, Role
from app.models.base import utcnow
from app.services import offboarding
from app.services.context import Actor
from app.services.lookup import person_token
from tests import factories
from tests.conftest import Client
from tests.integration.browser_form import form_values
from tests.statements import plan, recording

HR = Actor.system("HR system")


@pytest.fixture
def last_day(today: date) -> date:
    """Priya's last day: two weeks from the day the test runs."""
    return today + timedelta(days=14)


def other_client(app: Flask, user: Any) -> Any:
    app.test_client_class = Client
    client = app.test_client()
    client.login(user)
    return client


def leaver_setup() -> dict[str, Any]:
    """Priya: her personal profile owns a page and is the only admin of another; she stewards both."""
    platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
    colleague = factories.make_person("Colleague Kim")
    priya = factories.make_person("Priya Natarajan")
    mine = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=priya, name="Priya N")
    persona = factories.make_profile(platform, kind=ProfileKind.PERSONA, custodians=[colleague], name="Library Team")
    page = factories.make_account(platform, name="Riverside Library", owner_profile=mine, steward=priya)
    tv = factories.make_account(platform, name="Riverside Library TV", steward=colleague)
    factories.make_admin(tv, mine)
    db.session.commit()
    return {"platform": platform, "colleague": colleague, "priya": priya, "persona": persona, "page": page, "tv": tv}


def start(w: dict[str, Any], last_day: date) -> OffboardingCase:
    case = offboarding.start_case(HR, w["priya"], last_day, "Moving on")
    db.session.commit()
    return case


def item(case_id: int, kind: ItemKind, account: Account | None = None) -> ChecklistItem:
    stmt = sa.select(ChecklistItem).where(ChecklistItem.case_id == case_id, ChecklistItem.kind == kind)
    if account is not None:
        stmt = stmt.where(ChecklistItem.account_id == account.id)
    return db.session.scalars(stmt).first()


def test_hr_starts_a_case_and_a_second_start_shows_the_first(client: Any, login_as: Any, last_day: date) -> None:
    w = leaver_setup()
    login_as(Role.HR)
    form = client.get(f"/offboarding/new?person={w['priya'].id}")
    assert form.status_code == 200 and f'value="{escape(person_token(w["priya"]))}"' in form.text
    response = client.submit("/offboarding/new", {"person_id": w["priya"].id, "last_day": last_day.isoformat(), "reason": "x"})
    assert response.status_code == 302
    case = db.session.scalar(sa.select(OffboardingCase))
    assert response.headers["Location"].endswith(f"/offboarding/{case.id}")
    page = client.get(f"/offboarding/{case.id}")
    assert page.status_code == 200
    assert "Riverside Library TV" in page.text and "of " in page.text and "<svg" in page.text
    assert "Timeline" in page.text and "Case started" in page.text
    again = client.submit("/offboarding/new", {"person_id": w["priya"].id, "last_day": last_day.isoformat()})
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/offboarding/{case.id}")
    assert "already has an open offboarding case" in client.get(again.headers["Location"]).text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OffboardingCase)) == 1
    person_page = client.get(f"/people/{w['priya'].id}")
    assert "Open offboarding case" in person_page.text


def test_past_last_day_is_a_field_error(client: Any, login_as: Any, today: date) -> None:
    w = leaver_setup()
    login_as(Role.ADMIN)
    response = client.submit(
        "/offboarding/new", {"person_id": w["priya"].id, "last_day": (today - timedelta(days=2)).isoformat()}
    )
    assert response.status_code == 400 and "cannot be in the past" in response.text


def test_transfer_awaits_confirmation_then_the_receiver_confirms(
    app: Flask, client: Any, login_as: Any, make_user: Any, last_day: date
) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    transfer = item(case.id, ItemKind.TRANSFER_OWNERSHIP, w["page"])
    login_as(Role.ADMIN)
    response = client.submit(
        f"/offboarding/items/{transfer.id}/complete",
        {f"item{transfer.id}-new_owner_profile_id": w["persona"].id, f"item{transfer.id}-version": transfer.version},
    )
    assert response.status_code == 302, response.text
    assert "waiting for Colleague Kim" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    transfer = db.session.get(ChecklistItem, transfer.id)
    assert transfer.status is ItemStatus.AWAITING_CONFIRMATION
    kim = other_client(app, make_user(Role.STAFF, person=w["colleague"]))
    page = kim.get(f"/offboarding/{case.id}")
    assert page.status_code == 200 and "Confirm I have control" in page.text
    assert "my tasks" in kim.get("/offboarding/tasks").text.lower()
    done = kim.submit(f"/offboarding/items/{transfer.id}/confirm", {f"item{transfer.id}-version": transfer.version})
    assert done.status_code == 302, done.text
    db.session.expire_all()
    assert db.session.get(ChecklistItem, transfer.id).status is ItemStatus.DONE


def test_remove_admin_is_refused_before_add_admin(client: Any, login_as: Any, last_day: date) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    remove = item(case.id, ItemKind.REMOVE_ADMIN, w["tv"])
    assert item(case.id, ItemKind.ADD_ADMIN, w["tv"]) is not None
    login_as(Role.ADMIN)
    response = client.submit(f"/offboarding/items/{remove.id}/complete", {f"item{remove.id}-version": remove.version})
    assert response.status_code == 400
    assert "First complete" in response.text
    db.session.expire_all()
    assert db.session.get(ChecklistItem, remove.id).status is ItemStatus.OPEN


def test_forms_without_fields_post_what_the_case_page_writes(client: Any, login_as: Any, last_day: date) -> None:
    """Confirming control and removing an admin role: the page writes their CSRF token and the
    item's version itself; posting exactly what the page holds (its own token) does the item."""
    w = leaver_setup()
    case = start(w, last_day)
    add, remove = item(case.id, ItemKind.ADD_ADMIN, w["tv"]), item(case.id, ItemKind.REMOVE_ADMIN, w["tv"])
    login_as(Role.ADMIN)
    added = client.submit(
        f"/offboarding/items/{add.id}/complete",
        {f"item{add.id}-profile_id": w["persona"].id, f"item{add.id}-role_name": "admin", f"item{add.id}-version": add.version},
    )
    assert added.status_code == 302, added.text
    db.session.expire_all()
    add = db.session.get(ChecklistItem, add.id)
    assert add.status is ItemStatus.AWAITING_CONFIRMATION

    page = client.get(f"/offboarding/{case.id}").text
    confirm = form_values(page, f"item{add.id}-version")
    assert confirm[f"item{add.id}-version"] == str(add.version) and confirm[f"item{add.id}-csrf_token"]
    assert client.post(f"/offboarding/items/{add.id}/confirm", data=confirm).status_code == 302
    page = client.get(f"/offboarding/{case.id}").text
    removal = form_values(page, f"item{remove.id}-version")
    assert set(removal) == {f"item{remove.id}-csrf_token", f"item{remove.id}-version"}
    assert client.post(f"/offboarding/items/{remove.id}/complete", data=removal).status_code == 302
    db.session.expire_all()
    assert db.session.get(ChecklistItem, add.id).status is ItemStatus.DONE
    assert db.session.get(ChecklistItem, remove.id).status is ItemStatus.DONE


def test_a_page_of_the_checklist_is_read_in_order_from_the_index(app: Flask, last_day: date) -> None:
    """The case page reads its items in the index's order and stops at the page's end: no sort of
    the whole case, so a leaver who held 2,000 things costs no more per page than one who held 20."""
    case = start(leaver_setup(), last_day)
    with recording(db.engine, lambda sql: "FROM checklist_items" in sql and "LIMIT" in sql) as seen:
        offboarding.checklist_page(case, 1, total=5)
    [(statement, parameters)] = seen
    # A handful of rows: PostgreSQL is asked whether the order can be read at all without a sort:
    # the items by an index scan, each joined row looked up in turn.
    steps = " ".join(plan(statement, parameters, sortless=True))
    if db.engine.dialect.name == "sqlite":
        assert "USING INDEX ix_checklist_items_case_order" in steps and "TEMP B-TREE" not in steps, steps
    else:
        assert "ix_checklist_items_case_order" in steps and "Sort" not in steps, steps


def test_the_case_page_lists_each_item_as_its_record_says(app: Flask, last_day: date) -> None:
    """The case page reads its items as rows: each says what the item's record and the records
    it points to say (account and platform, profile, assignee, confirmer), page by page."""
    w = leaver_setup()
    factories.make_profile(w["platform"], kind=ProfileKind.PERSONA, custodians=[w["priya"]], name="Story Time")
    case = start(w, last_day)
    items = list(
        db.session.scalars(
            sa.select(ChecklistItem).where(ChecklistItem.case_id == case.id).order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )
    handed, waived = items[0], items[1]
    handed.status, handed.confirmer = ItemStatus.AWAITING_CONFIRMATION, w["colleague"]
    handed.assignee = factories.make_person("Ana Assigned")
    handed.completed_at, handed.completed_by_name, handed.outcome = utcnow(), "Hal HR", {"to": "Library Team"}
    waived.status, waived.waived_reason, waived.assignee = ItemStatus.WAIVED, "Retired page", w["colleague"]
    db.session.commit()
    db.session.expire_all()
    items = [db.session.get(ChecklistItem, i.id) for i in items]

    related = {"account", "profile", "assignee", "confirmer"}
    item_fields = [f.name for f in dataclasses.fields(offboarding.ChecklistLine) if f.name not in related]

    def own(i: Any) -> tuple[Any, ...]:
        return tuple(getattr(i, name) for name in item_fields)

    def person(p: Any) -> tuple[Any, ...] | None:
        return (p.id, p.name, p.status) if p is not None else None

    def about(i: Any, platform: Any) -> tuple[Any, ...]:
        a, p = i.account, i.profile
        return (
            (a.id, a.name, a.platform_id, *platform(a)) if a is not None else None,
            (p.id, p.label, p.kind) if p is not None else None,
            person(i.assignee),
            person(i.confirmer),
        )

    def listed(page: int, per_page: int) -> list[Any]:
        return offboarding.checklist_page(case, page, len(items), per_page).items

    lines = listed(1, len(items))
    assert [own(line) for line in lines] == [own(i) for i in items]
    assert [about(line, lambda a: (a.platform_name, a.role_names)) for line in lines] == [
        about(i, lambda a: (a.platform.name, a.platform.role_names)) for i in items
    ]
    assert lines[0].confirmer.name == "Colleague Kim" and lines[0].outcome == {"to": "Library Team"}
    assert any(line.profile is not None and line.profile.label == "Story Time" for line in lines)
    assert [line.id for line in listed(2, 2)] == [i.id for i in items[2:4]]


def test_waive_needs_a_director_or_admin_and_a_reason(
    app: Flask, client: Any, login_as: Any, make_user: Any, last_day: date
) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    steward = item(case.id, ItemKind.REASSIGN_STEWARD, w["page"])
    hr = other_client(app, make_user(Role.HR))
    assert hr.get(f"/offboarding/items/{steward.id}/waive").status_code == 403
    login_as(Role.DIRECTOR)
    assert client.get(f"/offboarding/items/{steward.id}/waive").status_code == 200
    empty = client.submit(f"/offboarding/items/{steward.id}/waive", {"reason": "", "version": steward.version})
    assert empty.status_code == 400 and "Say why" in empty.text
    ok = client.submit(
        f"/offboarding/items/{steward.id}/waive", {"reason": "The page is being retired", "version": steward.version}
    )
    assert ok.status_code == 302
    db.session.expire_all()
    waived = db.session.get(ChecklistItem, steward.id)
    assert waived.status is ItemStatus.WAIVED and waived.waived_reason == "The page is being retired"


def test_refresh_picks_up_a_new_admin_role(client: Any, login_as: Any, last_day: date) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    other = factories.make_account(w["platform"], name="Friends of the Library", steward=w["colleague"])
    factories.make_admin(other, db.session.get(type(w["persona"]), w["page"].owner_profile_id))
    factories.make_admin(other, w["persona"])
    db.session.commit()
    login_as(Role.IT)
    response = client.submit(f"/offboarding/{case.id}/refresh", {"version": case.version})
    assert response.status_code == 302
    assert "1 new item" in client.get(response.headers["Location"]).text
    assert item(case.id, ItemKind.REMOVE_ADMIN, other) is not None


def test_cancel_restores_the_person(client: Any, login_as: Any, last_day: date) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    login_as(Role.HR)
    assert client.get(f"/offboarding/{case.id}/cancel").status_code == 200
    assert client.submit(f"/offboarding/{case.id}/cancel", {"reason": "", "version": case.version}).status_code == 400
    response = client.submit(f"/offboarding/{case.id}/cancel", {"reason": "Staying after all", "version": case.version})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, w["priya"].id).status is PersonStatus.ACTIVE
    assert db.session.get(OffboardingCase, case.id).status.value == "cancelled"


def test_close_is_refused_with_the_list_then_allowed_and_the_report_lists_every_step(
    client: Any, login_as: Any, last_day: date
) -> None:
    platform = factories.make_platform("Mailchimp")
    dana = factories.make_person("Dana Whitfield")
    kim = factories.make_person("Kim Lee")
    account = factories.make_account(platform, name="Newsletter", steward=dana)
    db.session.commit()
    case = offboarding.start_case(HR, dana, last_day)
    db.session.commit()
    login_as(Role.ADMIN)
    refused = client.submit(f"/offboarding/{case.id}/close", {"version": case.version})
    assert refused.status_code == 400
    assert "cannot close yet" in refused.text and "Item not finished" in refused.text and "Still held: Steward of" in refused.text
    assert client.get(f"/offboarding/{case.id}/report").status_code == 404
    steward = item(case.id, ItemKind.REASSIGN_STEWARD, account)
    done = client.submit(
        f"/offboarding/items/{steward.id}/complete",
        {f"item{steward.id}-new_person_id": kim.id, f"item{steward.id}-version": steward.version},
    )
    assert done.status_code == 302, done.text
    declaration = item(case.id, ItemKind.EXIT_DECLARATION)
    assert (
        client.submit(f"/offboarding/{case.id}/exit-declaration", {"none": "y", "version": declaration.version}).status_code
        == 302
    )
    db.session.expire_all()
    case = db.session.get(OffboardingCase, case.id)
    closed = client.submit(f"/offboarding/{case.id}/close", {"version": case.version})
    assert closed.status_code == 302, closed.text
    report = client.get(f"/offboarding/{case.id}/report")
    assert report.status_code == 200
    assert "Newsletter (Mailchimp)" in report.text and "Kim Lee" in report.text and "exit declaration" in report.text
    csv = client.get(f"/offboarding/{case.id}/report.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.text.strip().splitlines()
    assert lines[0].lstrip("\ufeff").startswith("Item,Kind,Status") and len(lines) == 1 + len(case.items)
    assert (
        "Closed" in client.get("/offboarding/?status=closed").text
        or case.person.name in client.get("/offboarding/?status=closed").text
    )


def test_the_leaver_declares_an_account_and_it_gets_its_items(app: Flask, make_user: Any, last_day: date) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    me = other_client(app, make_user(Role.STAFF, person=w["priya"]))
    declaration = item(case.id, ItemKind.EXIT_DECLARATION)
    assert me.get(f"/offboarding/{case.id}/exit-declaration").status_code == 200
    nothing = me.submit(f"/offboarding/{case.id}/exit-declaration", {"version": declaration.version})
    assert nothing.status_code == 400 and "tick this box" in nothing.text
    response = me.submit(
        f"/offboarding/{case.id}/exit-declaration",
        {
            "declared-0-name": "Library Book Club",
            "declared-0-platform_id": w["platform"].id,
            "declared-0-url": "https://facebook.com/bookclub",
            "version": declaration.version,
        },
    )
    assert response.status_code == 302, response.text
    db.session.expire_all()
    created = db.session.scalar(sa.select(Account).where(Account.name == "Library Book Club"))
    assert created is not None
    assert db.session.get(ChecklistItem, declaration.id).status is ItemStatus.DONE
    assert created.steward_id is None or created.steward_id != w["priya"].id
    assert db.session.get(ChecklistItem, declaration.id).outcome["declared"][0]["account"] == "Library Book Club"


def test_a_declared_account_gets_its_own_items(app: Flask, make_user: Any, last_day: date) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    declaration = item(case.id, ItemKind.EXIT_DECLARATION)
    hr = other_client(app, make_user(Role.HR))
    data = {"declared-0-name": "Book Club", "declared-0-platform_id": w["platform"].id, "version": declaration.version}
    assert hr.submit(f"/offboarding/{case.id}/exit-declaration", data).status_code == 302
    db.session.expire_all()
    created = db.session.scalar(sa.select(Account).where(Account.name == "Book Club"))
    assert db.session.scalar(sa.select(sa.func.count()).where(ChecklistItem.account_id == created.id)) >= 1


def test_a_stale_item_post_is_409_naming_who_did_it(
    app: Flask, client: Any, login_as: Any, make_user: Any, last_day: date
) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    steward = item(case.id, ItemKind.REASSIGN_STEWARD, w["page"])
    version = steward.version
    first = other_client(app, make_user(Role.ADMIN, person=factories.make_person("Alex Admin")))
    data = {f"item{steward.id}-new_person_id": w["colleague"].id, f"item{steward.id}-version": version}
    assert first.submit(f"/offboarding/items/{steward.id}/complete", data).status_code == 302
    login_as(Role.HR)
    late = client.submit(f"/offboarding/items/{steward.id}/complete", data)
    assert late.status_code == 409
    assert "Alex Admin" in late.text


def test_my_tasks_shows_overdue_first(client: Any, login_as: Any, last_day: date, today: date) -> None:
    user = login_as(Role.STAFF)
    platform = factories.make_platform()
    leaver = factories.make_person("Leaver One")
    a1 = factories.make_account(platform, name="Later Page", steward=leaver)
    a2 = factories.make_account(platform, name="Late Page", steward=leaver)
    db.session.commit()
    case = offboarding.start_case(HR, leaver, last_day)
    for it in case.items:
        if it.kind is ItemKind.REASSIGN_STEWARD:
            it.assignee_id, it.assignee_role = user.person_id, None
            if it.account_id == a2.id:
                it.due_on = today - timedelta(days=3)
    db.session.commit()
    page = client.get("/offboarding/tasks")
    assert page.status_code == 200
    assert page.text.index("Late Page") < page.text.index("Later Page")
    assert "overdue by 3 days" in page.text
    assert a1.name in page.text


def test_the_cases_list_marks_the_cases_with_unfinished_items_past_due(client: Any, login_as: Any, today: date) -> None:
    """An open case is marked "Overdue items" on the list when one of its items is open or awaits
    confirmation past its due date; not for items done or waived late, nor for items not yet due;
    and the "with overdue items" filter lists the same cases."""
    login_as(Role.HR)
    platform = factories.make_platform()
    cases = {}
    for name in ("Open Late", "Awaiting Late", "Done Late", "Not Yet Due"):
        person = factories.make_person(name)
        factories.make_account(platform, name=f"{name} Page", steward=person)
        db.session.commit()
        cases[name] = offboarding.start_case(HR, person, today + timedelta(days=14))
    late_status = {
        "Open Late": ItemStatus.OPEN,
        "Awaiting Late": ItemStatus.AWAITING_CONFIRMATION,
        "Done Late": ItemStatus.DONE,
    }
    for name, case in cases.items():
        for number, it in enumerate(case.items):
            it.due_on = today + timedelta(days=3 + number)
        if name in late_status:
            first = case.items[0]
            first.due_on, first.status = today - timedelta(days=2), late_status[name]
        if name == "Done Late":  # everything else finished too
            for it in case.items[1:]:
                it.status = ItemStatus.WAIVED
    db.session.commit()

    def marked(html: str) -> set[str]:
        rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
        return {name for name in cases for row in rows if name in row and "Overdue items" in row}

    listed = client.get("/offboarding/")
    assert listed.status_code == 200 and all(name in listed.text for name in cases)
    assert marked(listed.text) == {"Open Late", "Awaiting Late"}
    overdue = client.get("/offboarding/?status=overdue").text
    assert {name for name in cases if name in overdue} == {"Open Late", "Awaiting Late"}


def test_a_long_checklist_is_paged_and_an_item_done_on_a_later_page_comes_back_to_it(
    client: Any, login_as: Any, monkeypatch: Any, last_day: date
) -> None:
    w = leaver_setup()
    case = start(w, last_day)
    monkeypatch.setattr(offboarding, "CHECKLIST_PAGE", 2)
    items = list(
        db.session.scalars(
            sa.select(ChecklistItem).where(ChecklistItem.case_id == case.id).order_by(ChecklistItem.position, ChecklistItem.id)
        )
    )
    assert [i.kind for i in items] == [
        ItemKind.TRANSFER_OWNERSHIP,
        ItemKind.REASSIGN_STEWARD,
        ItemKind.ADD_ADMIN,
        ItemKind.REMOVE_ADMIN,
        ItemKind.EXIT_DECLARATION,
    ]
    login_as(Role.ADMIN)

    def shown(html: str) -> list[bool]:
        return [f'id="item-{i.id}"' in html for i in items]

    first = client.get(f"/offboarding/{case.id}").text
    assert shown(first) == [True, True, False, False, False]
    assert "Showing 1–2 of 5" in first and 'rel="next"' in first
    assert "0 of 5" in first, "the progress counts every item, not the page's"
    assert shown(client.get(f"/offboarding/{case.id}?page=2").text) == [False, False, True, True, False]
    last = client.get(f"/offboarding/{case.id}?page=3").text
    assert shown(last) == [False, False, False, False, True] and 'rel="prev"' in last
    assert shown(client.get(f"/offboarding/{case.id}?page=99").text) == shown(last), "past the end: the last page"

    # Done on page 2: back to page 2, at the item; a refused one is shown on its page with its error.
    add = items[2]
    refused = client.submit(f"/offboarding/items/{items[3].id}/complete", {f"item{items[3].id}-version": items[3].version})
    assert refused.status_code == 400 and "First complete" in refused.text and shown(refused.text)[3]
    done = client.submit(
        f"/offboarding/items/{add.id}/complete",
        {f"item{add.id}-profile_id": w["persona"].id, f"item{add.id}-role_name": "admin", f"item{add.id}-version": add.version},
    )
    assert done.status_code == 302, done.text
    assert done.headers["Location"].endswith(f"/offboarding/{case.id}?page=2#item-{add.id}")
