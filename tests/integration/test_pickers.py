"""Pickers that scale (issue "Scale", part 4): no page lists every person or profile.

An organisation of 600 people and 600 profiles: every form that names a person or a profile, and
every list filter by person, renders a text box instead of a select of them all, and the right
person is still chosen by typing their name (or, when the name is ambiguous, by choosing one of a
bounded list of candidates).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models.account import Account
from app.models.offboarding import ChecklistItem, ItemKind
from app.models.person import Department, Person
from app.models.profile import Profile, ProfileKind
from app.models.user import Role
from app.services import lookup, offboarding
from app.services.context import Actor
from tests import factories

PEOPLE = PROFILES = 600
#: A page may still have selects (platforms, statuses, departments…), never one per person.
MAX_OPTIONS = 60
HR = Actor.system("HR system")


@pytest.fixture
def last_day(today: date) -> date:
    """The leaver's last day: two weeks from the day the test runs."""
    return today + timedelta(days=14)


@pytest.fixture
def org() -> dict[str, Any]:
    """600 people ("Staff 001"…) and 600 personal profiles on one platform; one account stewarded by Staff 001."""
    platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
    people = [Person(name=f"Staff {n:03}", work_email=f"staff{n:03}@org.example") for n in range(1, PEOPLE + 1)]
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all(
        Profile(platform=platform, kind=ProfileKind.PERSONAL, holder=p, name=f"Page of {p.name}", handle=f"@staff{n:03}")
        for n, p in enumerate(people[:PROFILES], start=1)
    )
    account = factories.make_account(platform, name="Branch Page", steward=people[0])
    db.session.commit()
    return {"platform": platform, "people": people, "account": account}


def _bounded(html: str) -> None:
    options = html.count("<option")
    assert options < MAX_OPTIONS, f"{options} options on one page"
    shown = set(re.findall(r"Staff \d{3}", html)) | set(re.findall(r"Page of Staff \d{3}", html))
    assert len(shown) < MAX_OPTIONS, f"{len(shown)} people or profiles named on one page"


def test_no_form_or_filter_lists_the_whole_organisation(client: Any, login_as: Any, org: dict[str, Any], last_day: date) -> None:
    account = org["account"]
    profile = db.session.scalars(sa.select(Profile)).first()
    department = factories.make_department("Adult Services")
    db.session.commit()
    login_as(Role.ADMIN)
    # An offboarding case whose checklist has person and profile pickers (steward, transfer, add admin…).
    case = offboarding.start_case(HR, org["people"][0], last_day, "Moving on")
    db.session.commit()
    pages = [
        "/accounts/new",
        f"/accounts/{account.id}",
        f"/accounts/{account.id}/edit",
        "/accounts/",
        "/accounts/?steward=Staff",
        "/profiles/new",
        f"/profiles/{profile.id}",
        f"/profiles/{profile.id}/edit",
        "/profiles/",
        "/findings/",
        "/departments/new",
        f"/departments/{department.id}/edit",
        "/people/new",
        f"/people/{org['people'][1].id}/edit",
        "/users/invite",
        "/offboarding/new",
        f"/offboarding/{case.id}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _bounded(response.text)


def test_typing_a_name_chooses_that_person(client: Any, login_as: Any, org: dict[str, Any]) -> None:
    login_as(Role.ADMIN)
    created = client.submit(
        "/accounts/new",
        {"platform_id": org["platform"].id, "name": "Teen Page", "status": "active", "steward_id": "staff 417"},
    )
    assert created.status_code == 302, created.text
    account = db.session.scalar(sa.select(Account).where(Account.name == "Teen Page"))
    assert account.steward.name == "Staff 417"

    # Part of a work email, or the token the form shows, names one person too.
    head = client.submit("/departments/new", {"name": "Outreach", "head_id": "staff523@org"})
    assert head.status_code == 302, head.text
    assert db.session.scalar(sa.select(Department).where(Department.name == "Outreach")).head.name == "Staff 523"


def test_an_ambiguous_name_offers_a_bounded_choice_and_the_choice_sticks(client: Any, login_as: Any, org: dict[str, Any]) -> None:
    login_as(Role.ADMIN)
    form = {"platform_id": org["platform"].id, "name": "Teen Page", "status": "active", "steward_id": "Staff 4"}
    refused = client.submit("/accounts/new", form)
    assert refused.status_code == 400
    assert "Several people match “Staff 4”" in refused.text
    radios = re.findall(r'<input id="steward_id-choice-\d+" name="steward_id" type="radio" value="(\d+)">', refused.text)
    assert len(radios) == lookup.LIMIT
    _bounded(refused.text)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account).where(Account.name == "Teen Page")) == 0

    # The browser sends the text box and the chosen radio under the same name: the radio wins.
    chosen = int(radios[3])
    created = client.submit("/accounts/new", {**form, "steward_id": ["Staff 4", str(chosen)]})
    assert created.status_code == 302, created.text
    assert db.session.scalar(sa.select(Account).where(Account.name == "Teen Page")).steward_id == chosen


def test_nobody_matching_is_a_field_error(client: Any, login_as: Any, org: dict[str, Any]) -> None:
    login_as(Role.ADMIN)
    response = client.submit("/departments/new", {"name": "Outreach", "head_id": "Zelda Nobody"})
    assert response.status_code == 400 and "No person here matches “Zelda Nobody”" in response.text


def test_the_successor_picker_refuses_the_leaver_and_takes_a_typed_name(
    client: Any, login_as: Any, org: dict[str, Any], last_day: date
) -> None:
    leaver, successor = org["people"][0], org["people"][99]
    case = offboarding.start_case(HR, leaver, last_day, "Moving on")
    db.session.commit()
    login_as(Role.ADMIN)
    steward = db.session.scalars(
        sa.select(ChecklistItem).where(ChecklistItem.case_id == case.id, ChecklistItem.kind == ItemKind.REASSIGN_STEWARD)
    ).one()
    url = f"/offboarding/items/{steward.id}/complete"
    leaver_again = client.submit(
        url, {f"item{steward.id}-new_person_id": leaver.name, f"item{steward.id}-version": steward.version}
    )
    assert leaver_again.status_code == 400 and f"No person here matches “{leaver.name}”" in leaver_again.text
    done = client.submit(url, {f"item{steward.id}-new_person_id": successor.name, f"item{steward.id}-version": steward.version})
    assert done.status_code == 302, done.text
    db.session.expire_all()
    assert db.session.get(Account, org["account"].id).steward_id == successor.id


def test_a_filter_by_typed_name_and_an_ambiguous_one(client: Any, login_as: Any, org: dict[str, Any]) -> None:
    login_as(Role.ADMIN)
    exact = client.get("/accounts/", query_string={"steward": "Staff 001"})
    assert exact.status_code == 200 and "Branch Page" in exact.text
    other = client.get("/accounts/", query_string={"steward": "Staff 002"})
    assert "Branch Page" not in other.text
    several = client.get("/accounts/", query_string={"steward": "Staff 00"})
    assert "Several people match “Staff 00”" in several.text and "Branch Page" not in several.text
    assert f"steward={org['people'][0].id}" in several.text
    holder = client.get("/profiles/", query_string={"holder": "Staff 250"})
    assert "Page of Staff 250" in holder.text and "Page of Staff 251" not in holder.text
