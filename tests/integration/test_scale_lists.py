"""Platforms, departments and the long lists cost the same however large the registry grows.

A platform's or a department's page lists its first few live accounts (and current people) by
name and links to the filtered list for the rest; the platforms and departments lists count each
row's accounts and people only to COUNT_LIMIT ("more than 1,000"); the people, profiles and audit
lists count their total only that far. Behaviour a user sees, checked here; the costs are in
`make bench`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, AccountStatus, Person, PersonStatus, Profile, ProfileKind, Role
from app.services import accounts as accounts_service
from app.services import audit, departments, platforms
from app.services.context import Actor
from app.services.pagination import COUNT_LIMIT
from tests import factories
from tests.statements import Statements, counting


def _accounts(platform: Any, n: int, department: Any = None, status: AccountStatus = AccountStatus.ACTIVE) -> None:
    """``n`` accounts in one statement (named so that name order is their order)."""
    db.session.execute(
        sa.insert(Account),
        [
            {
                "platform_id": platform.id,
                "name": f"Account {status.value} {i:05d}",
                "department_id": department.id if department else None,
                "status": status,
            }
            for i in range(n)
        ],
    )


def test_a_platform_page_lists_its_first_live_accounts_and_links_to_the_rest(
    client: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platforms, "PLATFORM_LIST", 3)
    facebook = factories.make_platform("Facebook")
    _accounts(facebook, 5)
    _accounts(facebook, 2, status=AccountStatus.RETIRED)
    db.session.commit()
    login_as(Role.DIRECTOR)

    page = client.get(f"/platforms/{facebook.id}").text
    listed = [f"Account active {i:05d}" for i in range(5)]
    assert all(name in page for name in listed[:3]) and not any(name in page for name in listed[3:])
    assert "Account retired" not in page
    assert "(5 in use)" in page and "Showing the first 3 of 5." in page
    assert "2 retired" in page and f'href="/accounts/?platform={facebook.id}&amp;status=retired"' in page
    # The link leads to every one of them.
    everything = client.get(f"/accounts/?platform={facebook.id}").text
    assert all(name in everything for name in listed)


def test_the_platforms_list_counts_to_a_limit_and_says_so(client: Any, login_as: Any) -> None:
    big, small = factories.make_platform("Facebook"), factories.make_platform("Mastodon")
    _accounts(big, COUNT_LIMIT + 1)
    _accounts(small, 3)
    _accounts(small, 4, status=AccountStatus.RETIRED)
    factories.make_profile(small, ProfileKind.ORGANISATION)
    db.session.commit()
    login_as(Role.IT)

    page = client.get("/platforms/").text
    rows = {name: page[page.index(f">{name}</a>") :].split("</tr>")[0] for name in ("Facebook", "Mastodon")}
    assert f'data-label="Accounts">more than {COUNT_LIMIT:,}</td>' in rows["Facebook"]
    assert 'data-label="Accounts">3</td>' in rows["Mastodon"]  # retired accounts left out
    assert 'data-label="Profiles">1</td>' in rows["Mastodon"]
    listed = platforms.list_platforms(Actor.system("test")).items
    assert {row.platform.name: (row.accounts.n, row.accounts.more) for row in listed} == {
        "Facebook": (COUNT_LIMIT, True),
        "Mastodon": (3, False),
    }


def test_a_department_page_lists_its_first_people_and_accounts_and_links_to_the_rest(
    client: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(departments, "DEPARTMENT_LIST", 2)
    lending = factories.make_department("Lending")
    for name in ("Ann", "Bo", "Cy"):
        factories.make_person(name, department=lending)
    factories.make_person("Dee", department=lending, status=PersonStatus.DEPARTED)
    _accounts(factories.make_platform("Facebook"), 4, department=lending)
    db.session.commit()
    login_as(Role.HR)

    page = client.get(f"/departments/{lending.id}").text
    assert ">Ann</a>" in page and ">Bo</a>" in page and ">Cy</a>" not in page and "Dee" not in page
    assert "(3 here now)" in page and "Showing the first 2 of 3." in page and "1 who left" in page
    assert "Account active 00001" in page and "Account active 00002" not in page
    assert "(4 in use)" in page and "Showing the first 2 of 4." in page
    assert f'href="/people/?department={lending.id}"' in page and f'href="/accounts/?department={lending.id}"' in page
    people = client.get(f"/people/?department={lending.id}").text
    assert all(f">{name}</a>" in people for name in ("Ann", "Bo", "Cy"))


def test_the_departments_list_counts_current_people_and_live_accounts(client: Any, login_as: Any) -> None:
    lending = factories.make_department("Lending")
    factories.make_person("Ann", department=lending)
    factories.make_person("Dee", department=lending, status=PersonStatus.DEPARTED)
    facebook = factories.make_platform("Facebook")
    _accounts(facebook, COUNT_LIMIT + 1, department=lending)
    db.session.commit()
    login_as(Role.HR)

    row = client.get("/departments/").text.split(">Lending</a>")[1].split("</tr>")[0]
    assert 'data-label="People">1</td>' in row
    assert f'data-label="Accounts">more than {COUNT_LIMIT:,}</td>' in row


@pytest.mark.parametrize("path", ["/people/", "/profiles/"])
def test_a_long_list_counts_its_total_to_a_limit_and_still_pages_on(client: Any, login_as: Any, path: str) -> None:
    facebook = factories.make_platform("Facebook")
    if path == "/people/":
        db.session.execute(
            sa.insert(Person),
            [{"name": f"Person {i:05d}", "work_email": f"p{i}@org.example"} for i in range(COUNT_LIMIT + 30)],
        )
    else:
        db.session.execute(
            sa.insert(Profile),
            [
                {"platform_id": facebook.id, "kind": ProfileKind.ORGANISATION, "name": f"Profile {i:05d}"}
                for i in range(COUNT_LIMIT + 30)
            ],
        )
    db.session.commit()
    login_as(Role.ADMIN)

    first = client.get(path).text
    assert f"of more than {COUNT_LIMIT:,}" in first and 'rel="next"' in first
    assert "00000" in first and "00025" not in first  # name order, 25 a page
    # Deep enough that its next page lies past the limit: counted that far, so still "more than".
    deep = client.get(f"{path}?page=41").text
    assert "01000" in deep and 'rel="next"' in deep
    # The last page: counted exactly there, so the total is shown and there is no next page.
    last = client.get(f"{path}?page=42").text
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Person if path == "/people/" else Profile))
    assert total > COUNT_LIMIT + 25 and f"of {total}</p>" in last and "01029" in last and 'rel="next"' not in last
    # Past the end: the last page.
    assert "01029" in client.get(f"{path}?page=999").text


def test_the_audit_log_s_filters_follow_what_it_records(app: Any, client: Any, login_as: Any) -> None:
    actor = Actor.system("test")
    audit.record_event(actor, "widget.polish", "widget", 1, "Polished a widget")
    db.session.commit()
    login_as(Role.ADMIN)
    assert audit.recorded_object_types().count("widget") == 1
    assert "widget.polish" in audit.recorded_actions("widget")

    # Read again only from the events appended since: a new kind of event shows at once.
    audit.record_event(actor, "gadget.tune", "gadget", 2, "Tuned a gadget")
    audit.record_event(actor, "widget.buff", "widget", 1, "Buffed a widget")
    db.session.commit()
    assert {"gadget", "widget"} <= set(audit.recorded_object_types())
    assert audit.recorded_actions("widget") == ["widget.buff", "widget.polish"]
    page = client.get("/audit/?object_type=widget").text
    assert '<option value="widget.buff"' in page and '<option value="gadget.tune"' not in page

    # A log that is not the one read before (a restored backup: the event it last read there carries
    # another link): read afresh, not added to.
    key = db.engine.url.render_as_string(hide_password=True)
    kept = audit._RECORDED[key]
    audit._RECORDED[key] = replace(kept, link="0" * 64, kinds=kept.kinds | {"gizmo": {"gizmo.make"}})
    assert "gizmo" not in audit.recorded_object_types()
    assert audit.recorded_actions("widget") == ["widget.buff", "widget.polish"]


def test_the_audit_log_counts_its_events_to_a_limit(client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    actor = Actor.system("test")
    for i in range(30):
        audit.record_event(actor, "widget.polish", "widget", i, f"Polished widget {i}")
    db.session.commit()
    assert "of the 30 events these filters select" in client.get("/audit/?object_type=widget").text
    for i in range(30, COUNT_LIMIT + 1):
        audit.record_event(actor, "widget.polish", "widget", i, f"Polished widget {i}")
    db.session.commit()
    page = client.get("/audit/?object_type=widget").text
    assert f"of all the events (more than {COUNT_LIMIT:,}) these filters select" in page and 'rel="next"' in page


def test_the_accounts_list_plans_its_joins_as_written_and_leaves_the_setting_as_it_was(app) -> None:
    """PostgreSQL: the list's own statements are planned in the order written (join_collapse_limit 1);
    the statements after them, in the same transaction, are planned as usual."""
    facebook = factories.make_platform("Facebook")
    factories.make_account(facebook, name="Page")
    db.session.commit()
    admin = factories.make_user(Role.ADMIN)
    seen: list[str] = []

    def watch(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM accounts" in statement and conn.dialect.name == "postgresql":
            seen.append(conn.exec_driver_sql("SHOW join_collapse_limit").scalar())

    usual = db.session.execute(sa.text("SHOW join_collapse_limit")).scalar() if db.engine.dialect.name == "postgresql" else None
    sa.event.listen(db.engine, "after_cursor_execute", watch)
    try:
        page = accounts_service.list_accounts(Actor.for_user(admin), accounts_service.AccountFilters())
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", watch)
    assert [a.name for a in page.items] == ["Page"]
    if usual is not None:
        assert seen and set(seen) == {"1"}, "the list's rows are planned as written"
        assert db.session.execute(sa.text("SHOW join_collapse_limit")).scalar() == usual


@pytest.mark.parametrize("sort", ["department", "reviewed", "status"])
@pytest.mark.parametrize("descending", [False, True])
def test_numbered_pages_near_the_end_read_backwards_give_the_list_s_rows_on_either_database(
    app: Any, sort: str, descending: bool
) -> None:
    """Past the middle a numbered page is read from the end in the reverse order: empty values,
    last either way in the list, come first read backwards, on PostgreSQL as on SQLite."""
    platform, arts = factories.make_platform("Bluesky"), factories.make_department("Arts")
    factories.make_accounts_to_sort([platform], arts)
    db.session.commit()
    admin, filters = Actor.system(), accounts_service.AccountFilters(sort=sort, descending=descending)
    expected = [a.id for a in accounts_service.list_accounts(admin, filters, page=1, per_page=50).items]
    pages = [accounts_service.list_accounts(admin, filters, page=n, per_page=3) for n in range(1, 5)]
    assert [a.id for p in pages for a in p.items] == expected and len(expected) == 11
    assert [p.has_next for p in pages] == [True, True, True, False]


def test_an_account_page_sends_the_same_statements_with_findings_or_without(client: Any, login_as: Any) -> None:
    """Its own statements, apart from the finding rules it runs (which depend on what the account
    has): the same for an account without findings as for one with some, on either database."""
    facebook = factories.make_platform("Facebook")
    steward = factories.make_person("Sam Steward")
    clean = factories.make_account(facebook, name="Clean Page", steward=steward, last_reviewed_at=datetime.now(UTC))
    for n in range(2):
        factories.make_admin(clean, factories.make_profile(facebook, ProfileKind.ORGANISATION, name=f"Admin {n}"))
    factories.make_recovery(clean)
    risky = factories.make_account(facebook, name="Risky Page")
    db.session.commit()
    login_as(Role.ADMIN)

    def statements(account: Account) -> Statements:
        client.get(f"/accounts/{account.id}")
        with counting(db.engine) as counted:
            assert client.get(f"/accounts/{account.id}").status_code == 200
        return counted

    without, with_findings = statements(clean), statements(risky)
    assert not without.by_rule and with_findings.by_rule, "one account without findings, one with"
    assert without.own == with_findings.own
