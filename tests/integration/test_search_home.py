"""Global search and the home page, for readers and for staff."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, AccountStatus, PersonStatus, ProfileKind, Role
from app.services.context import Actor
from tests import factories


def card(html: str, heading_id: str) -> str:
    match = re.search(rf'id="{heading_id}"(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def registry(app):
    """A small registry: two accounts, two people, profiles."""
    fb = factories.make_platform("Facebook")
    sam = factories.make_person("Sam Ortiz", work_email="sam.ortiz@riverside.example", personal_email="sammy@gmail.example")
    factories.make_person("Jo Park", work_email="jo.park@riverside.example")
    factories.make_profile(fb, ProfileKind.PERSONA, name="Melvilla Dewey", handle="@melvilla_reads")
    branch = factories.make_account(
        fb, name="Branch Page", handle="@riversidebranch", url="https://facebook.com/riverside-branch"
    )
    teen = factories.make_account(fb, name="Teen Zone", handle="@teenzone", url="https://teens.riverside.example", steward=sam)
    db.session.commit()
    return {"sam": sam, "branch": branch, "teen": teen}


def test_search_finds_accounts_by_handle_and_url(client, login_as, registry):
    login_as(Role.DIRECTOR)

    by_handle = card(client.get("/search?q=RIVERSIDEBRANCH").text, "r-accounts")
    assert "Branch Page" in by_handle and "Teen Zone" not in by_handle

    by_url = card(client.get("/search?q=teens.riverside").text, "r-accounts")
    assert "Teen Zone" in by_url and "Branch Page" not in by_url


def test_search_finds_people_by_work_email_and_profiles_by_handle(client, login_as, registry):
    login_as(Role.HR)

    people = card(client.get("/search?q=jo.park@riverside").text, "r-people")
    assert "Jo Park" in people and "Sam Ortiz" not in people

    profiles = card(client.get("/search?q=melvilla_r").text, "r-profiles")
    assert "Melvilla Dewey" in profiles


def test_search_explains_short_and_empty_queries(client, login_as, registry):
    login_as(Role.IT)
    assert "Type at least two characters" in client.get("/search?q=t").text
    assert "Nothing matches “no-such-thing”" in client.get("/search?q=no-such-thing").text
    # A percent sign is a character to find, not a wildcard that matches everything.
    assert "Nothing matches" in client.get("/search?q=%25%25").text


def test_staff_search_finds_only_their_accounts_and_no_people(client, login_as, registry):
    login_as(Role.STAFF, person=registry["sam"])

    html = client.get("/search?q=riverside").text

    accounts = card(html, "r-accounts")
    assert "Teen Zone" in accounts and "Branch Page" not in accounts
    assert 'id="r-people"' not in html and "Jo Park" not in html
    assert 'id="r-profiles"' not in html and "Melvilla" not in client.get("/search?q=melvilla").text


def test_home_lists_accounts_owned_by_someone_leaving_or_gone_for_readers(client, login_as):
    login_as(Role.DIRECTOR)
    fb = factories.make_platform("Facebook")
    leaving = factories.make_person("Len Leaving", status=PersonStatus.LEAVING)
    gone = factories.make_person("Dee Departed", status=PersonStatus.DEPARTED)
    here = factories.make_person("Ann Active")
    lens = factories.make_profile(fb, ProfileKind.PERSONAL, holder=leaving, name="Len on Facebook", handle="@len")
    factories.make_account(fb, name="Len's Page", owner_profile=lens)
    factories.make_account(fb, name="Dee's Page", owner_profile=factories.make_profile(fb, ProfileKind.PERSONAL, holder=gone))
    factories.make_account(fb, name="Ann's Page", owner_profile=factories.make_profile(fb, ProfileKind.PERSONAL, holder=here))
    factories.make_account(fb, name="Org Page", owner_profile=factories.make_profile(fb, ProfileKind.ORGANISATION))
    factories.make_account(
        fb,
        name="Closed Page",
        status=AccountStatus.RETIRED,
        owner_profile=factories.make_profile(fb, ProfileKind.PERSONAL, holder=gone),
    )
    db.session.commit()

    html = client.get("/").text

    at_risk = card(html, "leavers-title")
    assert "Len&#39;s Page" in at_risk and "Dee&#39;s Page" in at_risk
    assert "Ann&#39;s Page" not in at_risk and "Org Page" not in at_risk and "Closed Page" not in at_risk
    len_line = next(line for line in at_risk.split("<li>") if "Len&#39;s Page" in line)
    assert "(Facebook)" in len_line and f'href="/profiles/{lens.id}">Len on Facebook (@len)</a>' in len_line
    assert f'href="/people/{leaving.id}">Len Leaving</a>' in len_line and "Leaving" in len_line.split("Len Leaving</a>")[1]
    assert "Len Leaving" in card(html, "leaving-title")


def test_home_lists_the_first_ten_accounts_owned_by_leavers_by_name_and_counts_them_up_to_a_limit(client, login_as, monkeypatch):
    from app.services import home

    login_as(Role.DIRECTOR)
    fb = factories.make_platform("Facebook")
    gone = factories.make_person("Dee Departed", status=PersonStatus.DEPARTED)
    profile = factories.make_profile(fb, ProfileKind.PERSONAL, holder=gone)
    for n in reversed(range(12)):
        factories.make_account(fb, name=f"Page {n:02}", owner_profile=profile)
    db.session.commit()

    at_risk = card(client.get("/").text, "leavers-title")
    assert "<strong>12</strong> accounts; the first 10 are listed" in at_risk
    assert re.findall(r"Page (\d\d)<", at_risk) == [f"{n:02}" for n in range(10)]

    # Past the limit the count says "more than": it stops counting there.
    monkeypatch.setattr(home, "HELD_COUNT_LIMIT", 11)
    at_risk = card(client.get("/").text, "leavers-title")
    assert "More than <strong>11</strong> accounts; the first 10 are listed" in at_risk


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR])
def test_the_accounts_owned_by_leavers_follow_people_s_changes_in_name_order_whatever_the_case(client, login_as, role):
    from app.services import findings, people

    login_as(role)
    fb = factories.make_platform("Facebook")
    kim = factories.make_person("Kim Keeper")
    profile = factories.make_profile(fb, ProfileKind.PERSONAL, holder=kim)
    for name in ("charlie page", "alpha page", "Bravo Page"):
        factories.make_account(fb, name=name, owner_profile=profile)
    db.session.commit()
    assert "alpha page" not in card(client.get("/").text, "leavers-title")

    # Kim's leaving is recorded: her accounts are listed at once, by name whatever the case.
    leaving = replace(people.data_of(kim), status=PersonStatus.LEAVING, last_day=date.today() + timedelta(days=10))
    people.update_person(Actor.system(), kim, leaving, kim.version)
    db.session.commit()
    at_risk = card(client.get("/").text, "leavers-title")
    assert re.findall(r">([A-Za-z ]+ [Pp]age)</a>", at_risk) == ["alpha page", "Bravo Page", "charlie page"]

    # An accepted finding is still an account its organisation may not get back into.
    account = db.session.scalar(sa.select(Account).where(Account.name == "Bravo Page"))
    director = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
    findings.accept_finding(
        director, "held-by-leaver", "account", account.id, "Kim hands it over", date.today() + timedelta(days=9)
    )
    db.session.commit()
    assert "Bravo Page" in card(client.get("/").text, "leavers-title")


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR])
def test_home_lists_the_first_ten_people_leaving_and_counts_them_all(client, login_as, role):
    login_as(role)
    factories.make_account(factories.make_platform("Facebook"), name="Branch Page")
    for n in range(12):
        factories.make_person(f"Leaver {n:02}", status=PersonStatus.LEAVING)
    db.session.commit()

    html = client.get("/").text
    leaving = card(html, "leaving-title")
    assert leaving.count("Leaver ") == 10 and "All 12 people leaving" in leaving
    assert re.search(r'stat__value">12</span> <span class="stat__label">people leaving', html)


def test_home_shows_staff_the_accounts_they_steward_and_no_registry_figures(client, login_as):
    staff = login_as(Role.STAFF)
    fb = factories.make_platform("Facebook")
    gone = factories.make_person("Dee Departed", status=PersonStatus.DEPARTED)
    factories.make_account(fb, name="My Page", handle="@mine", steward_id=staff.person_id)
    factories.make_account(fb, name="My Old Page", steward_id=staff.person_id, status=AccountStatus.RETIRED)
    factories.make_account(fb, name="Dee's Page", owner_profile=factories.make_profile(fb, ProfileKind.PERSONAL, holder=gone))
    db.session.commit()

    html = client.get("/").text

    mine = card(html, "mine-title")
    assert "My Page" in mine and "@mine" in mine and "My Old Page" not in mine
    assert 'id="leavers-title"' not in html and "Dee&#39;s Page" not in html
    assert "current staff" not in html


def test_people_and_profiles_are_found_by_any_part_of_their_text_and_the_index_follows_changes(app, monkeypatch):
    """The people and profile searches (the lists, the global search, the person picker) read the
    trigram index where it serves (SQLite, three characters or more): the same people as a scan,
    in name order, whether the matches are few or more than the count limit, a renamed person by
    the new name only, a removed one nowhere."""
    from app.services import lookup, people, profiles
    from app.services import search as search_service

    admin = Actor.for_user(factories.make_user(Role.ADMIN))
    facebook = factories.make_platform("Facebook")
    for n in range(6):
        factories.make_person(f"Harbourside {n}", work_email=f"h{n}@Quay.example")
        factories.make_profile(facebook, ProfileKind.PERSONA, name=f"Quayside {n}", handle=f"@harbour{n}")
    renamed = factories.make_person("Old Name", work_email="old@org.example")
    removed = factories.make_person("Gone Harbourmaster", work_email="gone@org.example")
    factories.make_person("Elsewhere", work_email="else@org.example")
    db.session.commit()
    renamed.name = "Harbour Master"
    db.session.delete(removed)
    db.session.commit()

    def listed(term: str) -> tuple[list[str], list[str], list[str], list[str]]:
        found = search_service.search(admin, term, limit=4)
        return (
            [p.name for p in people.list_people(admin, people.PeopleFilters(q=term), per_page=4).items],
            [p.name for p in profiles.list_profiles(admin, profiles.ProfileFilters(q=term), per_page=4).items],
            [p.name for p in found.people] + [p.name for p in found.profiles],
            [p.name for p in lookup.find_person(term, limit=4).candidates],
        )

    expected_people = ["Harbour Master", "Harbourside 0", "Harbourside 1", "Harbourside 2"]
    expected_profiles = ["Quayside 0", "Quayside 1", "Quayside 2", "Quayside 3"]
    assert listed("HARBOUR") == (expected_people, expected_profiles, expected_people + expected_profiles, expected_people)
    assert listed("quay")[0] == ["Harbourside 0", "Harbourside 1", "Harbourside 2", "Harbourside 3"]  # work email
    assert listed("old name")[0] == [] and listed("harbourmaster")[0] == []
    monkeypatch.setattr(search_service, "COUNT_LIMIT", 2)  # more matches than the limit: read in order
    assert listed("harbour")[:2] == (expected_people, expected_profiles)
    assert listed("ha")[0] == expected_people  # two characters: no index serves them, a scan does
