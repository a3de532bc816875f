"""The director's dashboard on the landing page: counts from one evaluation of the rules, charts
whose bars link to the filtered findings list, the daily snapshot and its trend, the CLI that
records it for cron; and the usual home page for everyone else."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, current_app, url_for

from app.extensions import db
from app.models import PersonStatus, ProfileKind, RecoveryKind, Role
from app.models.base import utcnow
from app.models.finding import FindingSnapshot
from app.services import dashboard, findings
from app.services.findings import RULES, FindingFilters, Severity
from tests import factories

#: A bar or point: its link and its accessible name.
LINK = re.compile(r'<a href="([^"]*)" aria-label="([^"]*)">')


def section(page: str, heading_id: str) -> str:
    match = re.search(rf'id="{heading_id}"(.*?)</section>', page, re.S)
    assert match, f"no section {heading_id}"
    return match.group(1)


def links(fragment: str) -> dict[str, str]:
    """accessible name → href, for every link drawn in an SVG fragment."""
    return {html.unescape(name): html.unescape(href) for href, name in LINK.findall(fragment)}


def url(endpoint: str, **args: Any) -> str:
    with current_app.test_request_context():
        return url_for(endpoint, **args)


def snapshots() -> list[FindingSnapshot]:
    db.session.rollback()  # see what the request committed
    return list(db.session.scalars(sa.select(FindingSnapshot).order_by(FindingSnapshot.taken_on)))


def findings_phrase(n: int) -> str:
    return f"{n} open finding" + ("" if n == 1 else "s")


@pytest.fixture
def registry(app: Flask) -> dict[str, Any]:
    """Two departments, a leaver's personal page with a lot wrong, a tidy organisation page, one accepted risk."""
    lending = factories.make_department("Lending")
    outreach = factories.make_department("Outreach & Events")
    facebook = factories.make_platform("Facebook", delegated_access=True)
    dee = factories.make_person("Dee Departed", status=PersonStatus.DEPARTED)
    ann = factories.make_person("Ann Active")
    org = factories.make_profile(facebook, ProfileKind.ORGANISATION, name="Riverside org")
    # owner-personal, held-by-leaver, single-admin (none), recovery-personal, no-steward, not-reviewed
    dees_page = factories.make_account(
        facebook,
        name="Dee's Page",
        department=lending,
        owner_profile=factories.make_profile(facebook, ProfileKind.PERSONAL, holder=dee, name="Dee D."),
    )
    factories.make_recovery(dees_page, "dee@mail.example", RecoveryKind.EMAIL, person=dee)
    # single-admin (one), login-without-note, recovery-missing; reviewed and stewarded
    events = factories.make_account(
        facebook,
        name="Events Page",
        department=outreach,
        owner_profile=org,
        steward=ann,
        has_own_login=True,
        last_reviewed_at=utcnow(),
    )
    factories.make_admin(events, org)
    # Nothing wrong at all.
    tidy = factories.make_account(facebook, name="Tidy Page", department=outreach, owner_profile=org, steward=ann)
    tidy.last_reviewed_at = utcnow()
    factories.make_admin(tidy, org)
    factories.make_admin(tidy, factories.make_profile(facebook, ProfileKind.PERSONA, name="Persona"))
    factories.make_recovery(tidy, "it@riverside.example")
    # An accepted risk: open counts leave it out.
    factories.make_acceptance(
        events, "recovery-missing", date.today() + timedelta(days=30), reason="A mailing list, no recovery exists"
    )
    db.session.commit()
    return {"dees_page": dees_page, "events": events, "tidy": tidy, "lending": lending, "outreach": outreach}


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.ADMIN])
def test_the_dashboard_counts_equal_the_findings_summary(
    client: Any, login_as: Any, registry: dict[str, Any], role: Role
) -> None:
    login_as(role)
    page = client.get("/").text
    expected = findings.summarize(findings.evaluate())
    assert expected.total > 0 and expected.by_severity[Severity.LOW] > 0

    assert "<h1>Dashboard</h1>" in page
    bars = links(section(page, "severity-title"))
    assert {name: href for name, href in bars.items()} == {
        f"{sev.label}: {findings_phrase(expected.by_severity[sev])}": url("findings.index", severity=sev.value)
        for sev in Severity
    }
    stats = re.search(r'<div class="stats[^"]*">(.*?)</div>', page, re.S).group(1)
    assert f'<span class="stat__value">{expected.total}</span> <span class="stat__label">open findings' in stats
    assert '1</span> <span class="stat__label">accepted risk' in stats  # the accepted one is counted apart


def test_every_rule_and_department_bar_links_to_the_filtered_list(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)
    page = client.get("/").text
    expected = findings.summarize(findings.evaluate())

    rule_bars = links(section(page, "rule-title"))
    assert len(rule_bars) == len(RULES)
    for rule in RULES.values():
        name = f"{rule.title} ({rule.severity.value} severity): {findings_phrase(expected.by_rule.get(rule.id, 0))}"
        assert rule_bars[name] == url("findings.index", rule=rule.id)

    department_bars = links(section(page, "department-title"))
    lending, outreach = registry["lending"], registry["outreach"]
    assert department_bars == {
        f"Lending: {findings_phrase(expected.by_department[lending.id][1])}": url("findings.index", department=lending.id),
        f"Outreach &amp; Events: {findings_phrase(expected.by_department[outreach.id][1])}".replace("&amp;", "&"): url(
            "findings.index", department=outreach.id
        ),
    }
    # The list the bar opens counts what the bar says (the same evaluation, narrowed in SQL).
    narrowed = findings.summarize(findings.evaluate(FindingFilters(department_id=lending.id)))
    assert narrowed.total == expected.by_department[lending.id][1]


def test_accounts_at_greatest_risk_are_ranked_by_weighted_findings(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)
    risk = section(client.get("/").text, "risk-title")
    dees, events, tidy = registry["dees_page"], registry["events"], registry["tidy"]
    # Dee's page: critical 8 + high 4 × 3 + medium 2 + low 1 = 23; Events: high 4 + medium 2 (the accepted one does not count).
    assert risk.index(f'href="{url("accounts.detail", account_id=dees.id)}"') < risk.index(
        f'href="{url("accounts.detail", account_id=events.id)}"'
    )
    assert "score 23" in risk and "score 6" in risk
    assert "Held by someone leaving or gone" in risk and "Own login but no credential note" in risk
    assert "No recovery contact" not in risk  # accepted
    assert "Tidy Page" not in risk

    spof = section(client.get("/").text, "spof-title")
    assert f'href="{url("accounts.detail", account_id=dees.id)}"' in spof and "No active admin is recorded." in spof
    assert f'href="{url("accounts.detail", account_id=events.id)}"' in spof
    assert f'href="{url("accounts.detail", account_id=tidy.id)}"' not in spof


def _twelve(name: str, critical: bool) -> None:
    """An account scoring 12: held by someone leaving (critical 8, owner-personal 4), or with a
    personal owner, one admin and a personal recovery address (three highs of 4)."""
    platform = factories.make_platform()
    org = factories.make_profile(platform, ProfileKind.ORGANISATION)
    holder = factories.make_person(status=PersonStatus.LEAVING if critical else PersonStatus.ACTIVE)
    account = factories.make_account(
        platform,
        name=name,
        owner_profile=factories.make_profile(platform, ProfileKind.PERSONAL, holder=holder),
        steward=factories.make_person(),
        last_reviewed_at=utcnow(),
    )
    factories.make_admin(account, org)
    if critical:
        factories.make_admin(account, factories.make_profile(platform, ProfileKind.ORGANISATION))
        factories.make_recovery(account, f"it@{platform.slug}.example")
    else:
        factories.make_recovery(account, "own@mail.example", person=holder)


def test_the_kept_ranking_is_the_ranking_of_a_full_evaluation(app: Flask) -> None:
    """The dashboard reads the kept risk scores; ``dashboard.rank_accounts`` says how accounts rank
    (weights, then more critical, then name ignoring case): the two agree on the order, the scores
    and each account's rules."""
    grow(4)  # scores 25 and 23
    _twelve("aaa no critical", critical=False)  # first by name, last of the twelves: no critical
    _twelve("Critical twelve", critical=True)
    _twelve("b critical", critical=True)  # before "Critical twelve" ignoring case, after it byte by byte
    db.session.commit()
    expected, with_findings = dashboard.rank_accounts(findings.evaluate(FindingFilters(show="all")), limit=20)
    kept, kept_with_findings = findings.riskiest_accounts(20)

    def shown(ranked: list[Any]) -> list[tuple[Any, ...]]:
        return [(a.name, a.score, [(rule.id, n) for rule, n in a.rules]) for a in ranked]

    assert shown(kept) == shown(expected)
    assert kept_with_findings == with_findings == 7
    assert [(a.name, a.score) for a in expected][-3:] == [("b critical", 12), ("Critical twelve", 12), ("aaa no critical", 12)]


def test_the_leavers_and_people_leaving_stay_on_the_dashboard(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)
    factories.make_person("Len Leaving", status=PersonStatus.LEAVING)
    db.session.commit()
    page = client.get("/").text
    assert "Dee&#39;s Page" in section(page, "leavers-title")
    assert "/findings/?rule=held-by-leaver" in section(page, "leavers-title")
    assert "Len Leaving" in section(page, "leaving-title")


def test_the_dashboard_draws_today_without_storing_it(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    """Reading never writes: today's point is drawn from the live counts; `flask findings snapshot` stores it."""
    login_as(Role.DIRECTOR)
    db.session.add(FindingSnapshot(taken_on=date.today() - timedelta(days=1), total=9, by_severity={"critical": 2}))
    db.session.commit()
    trend = section(client.get("/").text, "trend-title")
    expected = findings.summarize(findings.evaluate())
    assert f"{expected.total} today" in trend
    assert [s.taken_on for s in snapshots()] == [date.today() - timedelta(days=1)]


def test_the_trend_needs_two_days_then_draws_a_linked_line(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)
    trend = section(client.get("/").text, "trend-title")
    assert "Not enough history yet" in trend and "<svg" not in trend

    today = date.today()
    for days_ago, total in ((60, 14), (30, 11), (1, 9)):
        db.session.add(FindingSnapshot(taken_on=today - timedelta(days=days_ago), total=total, by_severity={"critical": 2}))
    db.session.add(FindingSnapshot(taken_on=today - timedelta(days=200), total=99))  # older than 90 days: not drawn
    db.session.commit()

    trend = section(client.get("/").text, "trend-title")
    assert "Not enough history" not in trend
    points = links(trend)
    total = findings.summarize(findings.evaluate()).total
    assert len(points) == 4
    assert set(points.values()) == {url("findings.index")}
    day = (today - timedelta(days=30)).strftime("%d %b %Y")
    assert f"{day}: 11 open findings (2 critical, 0 high, 0 medium, 0 low)" in points
    assert f"{total} today; 14 on {(today - timedelta(days=60)).strftime('%d %b %Y')}" in trend


def test_flask_findings_snapshot_records_todays_counts(app: Flask, registry: dict[str, Any]) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["findings", "snapshot"])
    again = runner.invoke(args=["findings", "snapshot"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    expected = findings.summarize(findings.evaluate())
    assert f"Recorded {expected.total} open findings for {date.today():%d %b %Y}" in first.output
    [snapshot] = snapshots()
    assert snapshot.total == expected.total and snapshot.taken_on == date.today()


@pytest.mark.parametrize("role", [Role.STAFF, Role.IT, Role.HR])
def test_other_roles_keep_their_home_page(client: Any, login_as: Any, registry: dict[str, Any], role: Role) -> None:
    user = login_as(role)
    factories.make_account(name="Their Page", steward_id=user.person_id)
    db.session.commit()
    page = client.get("/").text
    assert "<h1>Hello," in page and "<h1>Dashboard</h1>" not in page
    assert "<svg" not in page and 'id="risk-title"' not in page
    assert "Their Page" in section(page, "mine-title")
    if role is Role.STAFF:
        assert 'id="leavers-title"' not in page
    else:
        assert "Dee&#39;s Page" in section(page, "leavers-title")
        assert "held-by-leaver" not in section(page, "leavers-title")  # the dashboard's way to the findings
    assert snapshots() == []  # only the dashboard records the day's counts


def test_an_empty_registry_shows_the_first_run_panel(client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    db.session.execute(sa.delete(FindingSnapshot))
    # The admin's own Person row makes the registry non-empty; first-run is about no accounts and no people.
    from app.models import Person, User

    db.session.execute(sa.update(User).values(person_id=None))
    db.session.execute(sa.delete(Person))
    db.session.commit()
    page = client.get("/").text
    assert 'id="first-run-title"' in page and "Load the demo organisation" in page
    assert "<h1>Dashboard</h1>" not in page


def test_the_page_has_no_inline_style_or_script(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)
    for days_ago in (3, 2, 1):
        db.session.add(FindingSnapshot(taken_on=date.today() - timedelta(days=days_ago), total=days_ago))
    db.session.commit()
    response = client.get("/")
    page = response.text
    assert page.count("<svg") == 4
    assert not re.search(r"\sstyle\s*=|<style|<script|\son[a-z]+\s*=|javascript:", page, re.I)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# --- A fixed number of statements ---------------------------------------------------------


@contextmanager
def counting() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()


def grow(n: int) -> None:
    """n more accounts, each with findings of several rules, in several departments, with leavers."""
    platform = factories.make_platform()
    departments = [factories.make_department() for _ in range(3)]
    for i in range(n):
        leaver = factories.make_person(status=PersonStatus.LEAVING)
        account = factories.make_account(
            platform,
            department=departments[i % 3],
            owner_profile=factories.make_profile(platform, ProfileKind.PERSONAL, holder=leaver),
            has_own_login=bool(i % 2),
        )
        factories.make_recovery(account, f"r{i}@mail.example", person=leaver)
        factories.make_admin(account, factories.make_profile(platform))
    db.session.commit()


def test_the_dashboard_issues_the_same_statements_at_any_size(client: Any, login_as: Any, registry: dict[str, Any]) -> None:
    login_as(Role.DIRECTOR)

    def measure() -> tuple[int, int]:
        db.session.execute(sa.delete(FindingSnapshot))
        db.session.commit()
        with counting() as first_view:
            assert client.get("/").status_code == 200
        with counting() as later_view:
            assert client.get("/").status_code == 200
        return len(first_view), len(later_view)

    small = measure()
    grow(30)
    large = measure()
    print(f"\nstatements on the first view of the day / later views: {small} then {large}")
    assert small == large
    assert dashboard.rank_accounts(findings.evaluate())[1] > 30


def test_the_department_chart_draws_those_with_most_open_findings_and_counts_the_rest(client: Any, login_as: Any) -> None:
    login_as(Role.DIRECTOR)
    facebook = factories.make_platform("Facebook")
    # Fifteen departments holding one to four accounts (ties in their counts), named in either case.
    for i in range(15):
        letter = "abcdefghijklmno"[i]
        department = factories.make_department(f"{letter.upper() if i % 3 else letter}-department {i:02}")
        for _ in range(1 + i % 4):
            factories.make_account(facebook, department=department)
    factories.make_account(facebook)  # no department
    db.session.commit()

    page = section(client.get("/").text, "department-title")
    every = findings.summarize(findings.evaluate())
    ranked = sorted(every.by_department.items(), key=lambda kv: (-kv[1][1], kv[0] is None, kv[1][0].lower()))
    shown, hidden = ranked[: dashboard.DEPARTMENT_BARS], ranked[dashboard.DEPARTMENT_BARS :]
    # Drawn in that order (most first, then by name whatever the case); "No department" is not a link.
    assert list(links(page)) == [f"{name}: {findings_phrase(n)}" for key, (name, n) in shown if key is not None]
    assert len(hidden) == 4
    assert f"And 4 more departments with {sum(n for _, (_, n) in hidden)} open findings." in page
