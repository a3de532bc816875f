"""The accounts pages, as IT, staff and readers use them."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    AuditEvent,
    Connection,
    PersonStatus,
    ProfileKind,
    RecoveryContact,
    Role,
)
from tests import factories
from tests.integration.browser_form import form_values
from tests.statements import plan, recording


def hidden_value(html: str, name: str) -> str:
    return form_values(html, name)[name]


def shown(html: str) -> list[int]:
    """The accounts a list page shows, by id, in its order."""
    return [int(i) for i in re.findall(r'<td data-label="Name"><a href="/accounts/(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    """A list page's next or previous link."""
    found = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def first_page_read(client, url: str, order: str) -> tuple[list[int], str, object]:
    """A list page's accounts, and the one statement that read them (``order`` begins its ORDER BY)."""
    with recording(db.engine, lambda sql: f"ORDER BY {order}" in sql and "LIMIT" in sql) as seen:
        html = client.get(url).text
    [(statement, parameters)] = seen
    return shown(html), statement, parameters


def account_form(account: Account, **changes) -> dict:
    """What the edit form posts for the account as it is, with some fields changed."""
    data = {
        "name": account.name,
        "platform_id": account.platform_id,
        "handle": account.handle,
        "url": account.url,
        "purpose": account.purpose,
        "department_id": account.department_id or "",
        "status": account.status.value,
        "owner_profile_id": account.owner_profile_id or "",
        "steward_id": account.steward_id or "",
        "version": account.version,
    }
    if account.has_own_login:
        data["has_own_login"] = "y"
    data.update(changes)
    return data


def audit_actions(account_id: int) -> list[str]:
    db.session.expire_all()
    stmt = sa.select(AuditEvent.action).where(AuditEvent.object_type == "account", AuditEvent.object_id == account_id)
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


def fresh(account_id: int) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account_id)


@pytest.fixture
def facebook(app):
    return factories.make_platform("Facebook", role_names=["admin", "editor", "moderator"])


# --- list ---------------------------------------------------------------------------------


def test_list_searches_filters_and_sorts(client, login_as, facebook):
    login_as(Role.IT)
    bluesky = factories.make_platform("Bluesky")
    youth = factories.make_department("Youth")
    factories.make_account(facebook, name="Riverside Library", handle="@riversidelib")
    factories.make_account(bluesky, name="Teen Zone", department=youth, url="https://teen.example")
    factories.make_account(facebook, name="Old Blog", status=AccountStatus.RETIRED)
    db.session.commit()

    assert "Riverside Library" in client.get("/accounts/?q=RIVERSIDELIB").text
    assert "Teen Zone" not in client.get("/accounts/?q=riversidelib").text

    by_department = client.get(f"/accounts/?department={youth.id}").text
    assert "Teen Zone" in by_department and "Riverside Library" not in by_department
    by_platform = client.get(f"/accounts/?platform={bluesky.id}").text
    assert "Teen Zone" in by_platform and "Old Blog" not in by_platform
    retired = client.get("/accounts/?status=retired").text
    assert "Old Blog" in retired and "Teen Zone" not in retired

    ascending = client.get("/accounts/?sort=name").text
    descending = client.get("/accounts/?sort=name&dir=desc").text
    assert ascending.index("Old Blog") < ascending.index("Riverside Library") < ascending.index("Teen Zone")
    assert descending.index("Teen Zone") < descending.index("Riverside Library") < descending.index("Old Blog")

    nothing = client.get("/accounts/?q=no-such-thing")
    assert nothing.status_code == 200 and "No accounts match these filters" in nothing.text


def test_list_paginates_past_one_page(client, login_as, facebook, app):
    login_as(Role.DIRECTOR)
    per_page = app.config["PER_PAGE"]
    for n in range(per_page + 5):
        factories.make_account(facebook, name=f"Account {n:03}")
    db.session.commit()

    first = client.get("/accounts/")
    assert f"Account {per_page - 1:03}" in first.text and f"Account {per_page:03}" not in first.text
    assert 'rel="next"' in first.text and "page=2" in first.text

    second = client.get("/accounts/?page=2")
    assert f"Account {per_page:03}" in second.text and f"Account {per_page + 4:03}" in second.text
    assert "Account 000" not in second.text
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    assert f"Showing {per_page + 1}–{per_page + 5} of {per_page + 5}" in second.text

    assert f"Account {per_page + 4:03}" in client.get("/accounts/?page=99").text


def test_next_and_previous_links_carry_the_row_they_continue_from(client, login_as, facebook, app, monkeypatch):
    """Deep pages are reached through links that name the last (or first) account shown, so the
    page after it is found through the index; a search counts its matches only up to a limit."""
    login_as(Role.DIRECTOR)
    per_page = app.config["PER_PAGE"]
    for n in range(2 * per_page + 3):
        factories.make_account(facebook, name=f"Harbour {n:03}")
    db.session.commit()

    first = client.get("/accounts/")
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert "after=" in next_url and "page=2" in next_url
    second = client.get(next_url)
    assert f"Harbour {per_page:03}" in second.text and f"Harbour {per_page - 1:03}" not in second.text
    assert f"Showing {per_page + 1}–{2 * per_page} of {2 * per_page + 3}" in second.text
    assert "Page 2 of 3" in second.text
    prev_url = re.search(r'href="([^"]+)" rel="prev"', second.text).group(1).replace("&amp;", "&")
    assert "before=" in prev_url
    back = client.get(prev_url)
    assert "Harbour 000" in back.text and f"Harbour {per_page:03}" not in back.text and 'rel="prev"' not in back.text

    monkeypatch.setattr("app.accounts.routes.COUNT_LIMIT", per_page)
    searched = client.get("/accounts/?q=harbour")
    assert f"Showing 1–{per_page} of more than {per_page}" in searched.text and 'rel="next"' in searched.text
    assert "Page 1 of" not in searched.text


@pytest.mark.parametrize("direction", ["", "desc"])
def test_the_list_sorted_by_department_pages_in_the_order_of_a_full_sort(client, login_as, facebook, app, direction):
    """Unfiltered and sorted by department, the list is read in two parts (the accounts with a
    department through the departments in name order, then those without): following its next
    links, and then its previous ones back, shows every account once in the order a full sort
    gives (the department's name either way, no department last, ties by id), across the boundary
    between the parts; a numbered page and a search sorted the same way agree with it."""
    login_as(Role.DIRECTOR)
    per_page = app.config["PER_PAGE"]
    departments = [factories.make_department(name) for name in ("Music", "Arts", "Zoo")]
    made = [
        factories.make_account(facebook, name=f"Page {n:03}", department=(*departments, None, None)[n % 5])
        for n in range(2 * per_page + 7)
    ]
    db.session.commit()
    department_name = {d.id: d.name for d in departments}
    # Ties by id upwards, then (a stable sort) the departments' names either way.
    with_department = sorted((a for a in made if a.department_id), key=lambda a: a.id)
    with_department.sort(key=lambda a: department_name[a.department_id], reverse=direction == "desc")
    expected = [a.id for a in with_department] + sorted(a.id for a in made if not a.department_id)

    html = client.get(f"/accounts/?sort=department&dir={direction}").text
    walked, pages = shown(html), 1
    while url := link(html, "next"):
        html, pages = client.get(url).text, pages + 1
        walked += shown(html)
    assert walked == expected and pages == 3
    back = shown(html)
    while url := link(html, "prev"):
        html = client.get(url).text
        back = shown(html) + back
    assert back == expected and 'rel="prev"' not in html
    assert shown(client.get(f"/accounts/?sort=department&dir={direction}&page=2").text) == expected[per_page : 2 * per_page]
    searched = shown(client.get(f"/accounts/?sort=department&dir={direction}&q=Page+00").text)
    assert searched == [i for i in expected if i in {a.id for a in made if a.name.startswith("Page 00")}]

    if db.engine.dialect.name == "sqlite":
        # The first part's statement reads the departments in name order, each one's accounts by
        # key (sorting only those of one department), not every account sorted.
        with recording(db.engine, lambda sql: sql.startswith("SELECT accounts.id") and "FROM departments JOIN" in sql) as seen:
            client.get(f"/accounts/?sort=department&dir={direction}")
        [(statement, parameters)] = seen
        steps = plan(statement, parameters)
        assert steps[0].startswith("SEARCH departments USING") and "USE TEMP B-TREE FOR ORDER BY" not in steps, steps


@pytest.mark.parametrize("sort", ["platform", "department", "updated"])
def test_a_status_many_accounts_have_is_read_in_the_lists_order(client, login_as, facebook, app, monkeypatch, sort):
    """Filtered by a status more accounts have than the count limit, the list is read in its own
    order keeping the accounts with that status, not every one of them read and sorted for a page:
    its Next links show each once, in the order a full sort gives; on SQLite no page's statement
    sorts its rows (before: the active accounts sorted by platform at 200,000 accounts, 246 ms)."""
    login_as(Role.DIRECTOR)
    per_page = app.config["PER_PAGE"]
    monkeypatch.setattr("app.accounts.routes.COUNT_LIMIT", per_page)
    bluesky = factories.make_platform("Bluesky")
    departments = [factories.make_department(name) for name in ("Music", "Arts")]
    made = [
        factories.make_account(
            (facebook, bluesky)[n % 2],
            name=f"Page {n:03}",
            department=(*departments, None)[n % 3],
            status=(AccountStatus.ACTIVE, AccountStatus.DORMANT)[n % 4 == 0],
        )
        for n in range(2 * per_page + 9)
    ]
    db.session.commit()
    order = {
        "platform": lambda a: (a.platform.name, a.id),
        "department": lambda a: (a.department is None, a.department.name if a.department else "", a.id),
        "updated": lambda a: (a.updated_at, a.id),
    }[sort]
    expected = [a.id for a in sorted((a for a in made if a.status is AccountStatus.ACTIVE), key=order)]

    def ordered(sql: str) -> bool:
        return "ORDER BY" in sql and "LIMIT" in sql and "accounts" in sql

    with recording(db.engine, ordered) as seen:
        html = client.get(f"/accounts/?sort={sort}&status=active").text
        walked = shown(html)
        while url := link(html, "next"):
            html = client.get(url).text
            walked += shown(html)
    assert walked == expected and len(expected) > per_page
    if db.engine.dialect.name == "sqlite":
        for statement, parameters in seen:
            steps = plan(statement, parameters)
            assert "USE TEMP B-TREE FOR ORDER BY" not in steps, (statement, steps)


def test_the_list_sorted_by_platform_finds_its_ids_before_their_rows(client, login_as, facebook, app):
    """Sorted by platform, a page's accounts are found by their ids alone (the platforms in name
    order, each one's accounts by key), then their rows loaded: PostgreSQL joined every account of
    the first platform to what its row shows before sorting them (56 ms at 200,000 accounts; 15
    this way). SQLite reads the platforms first."""
    login_as(Role.DIRECTOR)
    bluesky = factories.make_platform("Bluesky")
    made = [factories.make_account((facebook, bluesky)[n % 2], name=f"Page {n:03}") for n in range(30)]
    db.session.commit()
    expected = [a.id for a in sorted(made, key=lambda a: (a.platform.name, a.id))][: app.config["PER_PAGE"]]

    ids, statement, parameters = first_page_read(client, "/accounts/?sort=platform", "platforms.name")
    assert ids == expected
    assert statement.startswith("SELECT accounts.id \nFROM accounts JOIN platforms"), statement
    if db.engine.dialect.name == "sqlite":
        steps = plan(statement, parameters)
        assert steps[0].startswith("SEARCH platforms") or steps[0].startswith("SCAN platforms"), steps


def test_the_list_sorted_by_status_is_read_in_order_from_an_index(client, login_as, facebook, app):
    """Sorted by status (ties by id), a page's ids are read in that order from an index and it
    stops at the page's end, on PostgreSQL too (whose index on the status alone held each
    status's rows in no order: every active account was sorted, 55 ms at 200,000)."""
    login_as(Role.DIRECTOR)
    statuses = (AccountStatus.ACTIVE, AccountStatus.DORMANT, AccountStatus.RETIRED)
    made = [factories.make_account(facebook, name=f"Page {n:03}", status=statuses[n % 3]) for n in range(30)]
    db.session.commit()
    expected = [a.id for a in sorted(made, key=lambda a: (a.status.value, a.id))][: app.config["PER_PAGE"]]

    ids, statement, parameters = first_page_read(client, "/accounts/?sort=status", "accounts.status")
    assert ids == expected
    # Thirty rows: PostgreSQL is asked whether the order can be read at all without a sort.
    steps = " ".join(plan(statement, parameters, sortless=True))
    if db.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in steps, steps
    else:
        assert "ix_accounts_status_id" in steps and "Sort" not in steps, steps


# --- create and edit ----------------------------------------------------------------------


def test_it_creates_an_account_through_the_form(client, login_as, facebook):
    login_as(Role.IT)
    steward = factories.make_person("Sam Ortiz")
    db.session.commit()
    assert client.get("/accounts/new").status_code == 200

    response = client.submit(
        "/accounts/new",
        {
            "name": "Riverside Library",
            "platform_id": facebook.id,
            "handle": "@riversidelib",
            "url": "https://facebook.com/riversidelib",
            "status": "active",
            "steward_id": steward.id,
        },
    )

    assert response.status_code == 302
    account = db.session.scalar(sa.select(Account).where(Account.name == "Riverside Library"))
    assert account is not None and account.steward_id == steward.id
    assert response.headers["Location"].endswith(f"/accounts/{account.id}")
    page = client.get(response.headers["Location"])
    assert "Added Riverside Library" in page.text
    assert "Sam Ortiz" in page.text
    assert audit_actions(account.id) == ["account.create"]


BAD_VALUES = [
    ({"url": "not a web address"}, "Give a full address starting with https://"),
    ({"name": ""}, "Give the account a name."),
    ({"platform_id": ""}, "Choose a platform."),
    ({"handle": "@TAKEN"}, "Another Facebook account already has this handle."),
]


def test_a_bad_value_in_the_form_is_shown_and_nothing_is_created(client, login_as, facebook):
    login_as(Role.IT)
    factories.make_account(facebook, name="Existing", handle="@taken")
    db.session.commit()

    for changes, message in BAD_VALUES:
        response = client.submit("/accounts/new", {"name": "New Page", "platform_id": facebook.id, "status": "active", **changes})

        assert response.status_code == 400, changes
        assert message in response.text
        assert "nothing was saved" in response.text
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action != "auth.sign_in")) == 0


def test_it_edits_an_account_and_the_history_shows_before_and_after(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Teen Page", purpose="Events")
    db.session.commit()
    edit_page = client.get(f"/accounts/{account.id}/edit")
    assert edit_page.status_code == 200 and 'value="Teen Page"' in edit_page.text

    response = client.submit(f"/accounts/{account.id}/edit", account_form(account, name="Teen Zone"))

    assert response.status_code == 302
    assert fresh(account.id).name == "Teen Zone"
    detail = client.get(f"/accounts/{account.id}").text
    assert "Saved your changes to Teen Zone" in detail
    assert re.search(r"name: <del>Teen Page</del> → <ins>Teen Zone</ins>", detail)
    assert audit_actions(account.id) == ["account.update"]


def test_a_stale_edit_from_a_second_tab_is_refused_and_shows_what_changed(client, login_as, facebook):
    login_as(Role.IT, person=factories.make_person("Ivy Tech"))
    account = factories.make_account(facebook, name="Branch Page", purpose="News")
    db.session.commit()
    first_tab = client.get(f"/accounts/{account.id}/edit").text
    second_tab = client.get(f"/accounts/{account.id}/edit").text
    opened = hidden_value(first_tab, "version")
    assert hidden_value(second_tab, "version") == opened

    first = client.submit(f"/accounts/{account.id}/edit", account_form(account, name="Branch News", version=opened))
    assert first.status_code == 302
    second = client.submit(f"/accounts/{account.id}/edit", account_form(account, purpose="Events only", version=opened))

    assert second.status_code == 409
    assert "changed by someone else" in second.text
    assert "Ivy Tech changed <strong>name</strong> from “Branch Page” to “Branch News”" in second.text
    # The form now carries the current version, so saving again works.
    assert hidden_value(second.text, "version") == str(fresh(account.id).version)
    stored = fresh(account.id)
    assert (stored.name, stored.purpose) == ("Branch News", "News")
    assert audit_actions(account.id) == ["account.update"]


# --- retire -------------------------------------------------------------------------------


def test_retire_asks_for_confirmation_and_a_reason(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Old Blog")
    db.session.commit()

    confirm = client.get(f"/accounts/{account.id}/retire")
    assert confirm.status_code == 200 and "Retire Old Blog?" in confirm.text
    assert fresh(account.id).status is AccountStatus.ACTIVE

    refused = client.submit(f"/accounts/{account.id}/retire", {"reason": "", "version": account.version})
    assert refused.status_code == 400 and "Say why the account is retired." in refused.text
    assert fresh(account.id).status is AccountStatus.ACTIVE

    done = client.submit(
        f"/accounts/{account.id}/retire", {"reason": "Replaced by the new site", "version": hidden_value(confirm.text, "version")}
    )
    assert done.status_code == 302
    assert fresh(account.id).status is AccountStatus.RETIRED
    detail = client.get(f"/accounts/{account.id}").text
    assert "Retired Old Blog: Replaced by the new site" in detail
    assert "Retire…" not in detail


# --- roles, recovery contacts and connections ---------------------------------------------


def test_add_and_remove_an_admin_role_through_the_detail_page(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Branch Page")
    profile = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey")
    db.session.commit()
    detail = client.get(f"/accounts/{account.id}").text
    # A text box naming the profile (issue "Scale": the page does not list every profile).
    assert 'name="admin-profile_id"' in detail and 'type="text"' in detail and "Melvilla Dewey" not in detail

    added = client.submit(f"/accounts/{account.id}/admins", {"admin-profile_id": profile.id, "admin-role_name": "editor"})
    assert added.status_code == 302
    admin = db.session.scalar(sa.select(AccountAdmin).where(AccountAdmin.account_id == account.id))
    assert (admin.profile_id, admin.role_name) == (profile.id, "editor")
    assert "Melvilla Dewey now holds the editor role on Branch Page" in client.get(f"/accounts/{account.id}").text

    remove_url = f"/accounts/{account.id}/admins/{admin.id}/remove"
    confirm = client.get(remove_url)
    assert confirm.status_code == 200 and "Remove this role from Branch Page?" in confirm.text
    assert client.submit(remove_url).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountAdmin)) == 0

    again = client.submit(remove_url)
    assert again.status_code == 404
    assert "no longer on this account" in again.text
    assert audit_actions(account.id) == ["account.admin.add", "account.admin.remove"]


def test_a_refused_admin_role_shows_why_on_the_detail_page(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Branch Page")
    profile = factories.make_profile(facebook)
    factories.make_admin(account, profile, "admin")
    db.session.commit()

    response = client.submit(f"/accounts/{account.id}/admins", {"admin-profile_id": profile.id, "admin-role_name": "editor"})

    assert response.status_code == 400
    assert "already holds a role here" in response.text
    assert audit_actions(account.id) == []


def test_add_and_remove_a_recovery_contact_through_the_detail_page(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Branch Page")
    factories.make_person("Jo Park", personal_email="jo.park@gmail.example")
    db.session.commit()

    added = client.submit(
        f"/accounts/{account.id}/recovery", {"recovery-kind": "email", "recovery-value": "JO.PARK@gmail.example"}
    )
    assert added.status_code == 302
    detail = client.get(f"/accounts/{account.id}").text
    assert "It is tied to Jo Park" in detail and "Tied to a person" in detail

    missing_value = client.submit(f"/accounts/{account.id}/recovery", {"recovery-kind": "phone", "recovery-value": ""})
    assert missing_value.status_code == 400 and "Give the address, number or name." in missing_value.text

    contact = db.session.scalar(sa.select(RecoveryContact).where(RecoveryContact.account_id == account.id))
    remove_url = f"/accounts/{account.id}/recovery/{contact.id}/remove"
    assert "JO.PARK@gmail.example" in client.get(remove_url).text
    assert client.submit(remove_url).status_code == 302
    assert client.submit(remove_url).status_code == 404
    assert audit_actions(account.id) == ["account.recovery.add", "account.recovery.remove"]


def test_add_and_remove_a_connection_through_the_detail_page(client, login_as, facebook):
    login_as(Role.IT)
    account = factories.make_account(facebook, name="Branch Page")
    profile = factories.make_profile(facebook, ProfileKind.PERSONAL, name="Sam's profile")
    db.session.commit()

    added = client.submit(
        f"/accounts/{account.id}/connections",
        {"connection-tool_name": "Hootsuite", "connection-profile_id": profile.id, "connection-purpose": "Scheduled posts"},
    )
    assert added.status_code == 302
    detail = client.get(f"/accounts/{account.id}").text
    assert "Recorded the Hootsuite connection" in detail and "Scheduled posts" in detail

    connection = db.session.scalar(sa.select(Connection).where(Connection.account_id == account.id))
    remove_url = f"/accounts/{account.id}/connections/{connection.id}/remove"
    assert "Hootsuite" in client.get(remove_url).text
    assert client.submit(remove_url).status_code == 302
    second = client.submit(remove_url)
    assert second.status_code == 404 and "no longer on this account" in second.text


# --- missing and forbidden ----------------------------------------------------------------


def test_a_missing_account_gets_a_helpful_404(client, login_as):
    login_as(Role.IT)
    for url in ("/accounts/4242", "/accounts/4242/edit", "/accounts/4242/retire"):
        response = client.get(url)
        assert response.status_code == 404
        assert "There is no account with id 4242" in response.text


def test_staff_see_and_edit_only_the_accounts_they_steward(client, login_as, facebook):
    staff = login_as(Role.STAFF)
    mine = factories.make_account(facebook, name="My Branch Page", steward_id=staff.person_id)
    theirs = factories.make_account(facebook, name="Someone Else's Page", steward=factories.make_person())
    db.session.commit()

    listing = client.get("/accounts/").text
    assert "My Branch Page" in listing and "Someone Else's Page" not in listing
    assert "Add an account" not in listing

    # Someone else's account is answered as if it did not exist.
    unseen = client.get(f"/accounts/{theirs.id}")
    assert unseen.status_code == 404 and f"There is no account with id {theirs.id}" in unseen.text
    assert client.submit(f"/accounts/{theirs.id}/edit", account_form(theirs, name="Mine now")).status_code == 404
    assert client.get("/accounts/new").status_code == 403

    assert "Edit account" in client.get(f"/accounts/{mine.id}").text
    saved = client.submit(f"/accounts/{mine.id}/edit", account_form(mine, purpose="Story time news"))
    assert saved.status_code == 302
    assert fresh(mine.id).purpose == "Story time news"
    assert fresh(theirs.id).name == "Someone Else's Page"


def test_directors_and_hr_read_accounts_but_cannot_edit(client, make_user, facebook):
    account = factories.make_account(facebook, name="Branch Page")
    factories.make_admin(account, factories.make_profile(facebook, name="Team Profile"), "admin")
    db.session.commit()

    for role in (Role.DIRECTOR, Role.HR):
        browser = client.application.test_client()  # one browser per role
        browser.login(make_user(role))

        detail = browser.get(f"/accounts/{account.id}")
        assert detail.status_code == 200 and "Team Profile" in detail.text
        assert "Edit account" not in detail.text and "Retire…" not in detail.text
        assert "Add an admin role" not in detail.text and "Remove role" not in detail.text

        assert browser.get(f"/accounts/{account.id}/edit").status_code == 403
        assert browser.submit(f"/accounts/{account.id}/edit", account_form(account, name="Changed")).status_code == 403
        assert browser.submit(f"/accounts/{account.id}/retire", {"reason": "x", "version": account.version}).status_code == 403
        assert (
            browser.submit(f"/accounts/{account.id}/admins", {"admin-profile_id": 1, "admin-role_name": "admin"}).status_code
            == 403
        )
    assert fresh(account.id).name == "Branch Page"
    assert audit_actions(account.id) == []


def test_saving_the_edit_form_unchanged_changes_nothing(client, login_as, facebook):
    login_as(Role.IT)
    dept = factories.make_department("Youth")
    # A steward who has left is a risk to fix, not a value to drop silently on the next save.
    steward = factories.make_person("Sam Ortiz", status=PersonStatus.DEPARTED)
    owner = factories.make_profile(facebook, ProfileKind.ORGANISATION, name="Riverside Business")
    account = factories.make_account(
        facebook,
        name="Teen Zone",
        handle="@teenzone",
        url="https://teen.example",
        purpose="Events for teens\nand their parents",
        department=dept,
        owner_profile=owner,
        steward=steward,
        status=AccountStatus.DORMANT,
        has_own_login=True,
    )
    db.session.commit()
    before = {
        c: getattr(account, c)
        for c in (
            "name",
            "handle",
            "url",
            "purpose",
            "department_id",
            "owner_profile_id",
            "steward_id",
            "status",
            "has_own_login",
            "version",
        )
    }

    page = client.get(f"/accounts/{account.id}/edit").text
    response = client.submit(f"/accounts/{account.id}/edit", form_values(page, "name"))

    assert response.status_code == 302
    stored = fresh(account.id)
    assert {c: getattr(stored, c) for c in before} == before
    assert audit_actions(account.id) == []
