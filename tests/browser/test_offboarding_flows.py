"""Offboarding in a real browser, on the demo organisation (DESIGN.md "Offboarding", issue 5).

Priya Natarajan is leaving and is the only admin of the YouTube channel: HR starts her case, a
colleague's profile is added as admin before hers is removed and that colleague confirms control,
IT rotates the backup codes she revealed, stewardship moves on, a director waives a step, and the
closed case's handover report names who did each step.

Dana Whitfield left two years ago without a case: HR starts a late one, the Facebook Page her
personal profile owns moves to the library's business portfolio and the Page's steward confirms,
her personal recovery inbox on the registrar is replaced, the case closes, and the director's
dashboard and findings no longer name her.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import Person
from app.models.user import Role
from app.services import demo, users
from app.services.context import Actor
from tests.browser.conftest import LiveServer, new_context
from tests.browser.pages import (
    FindingsPage,
    HomePage,
    LoginPage,
    MyTasksPage,
    OffboardingCasePage,
    PersonPage,
    StartOffboardingPage,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-offboarding")]

HR = "hr@riverside.example"  # Alan Brooks
ADMIN = "admin@riverside.example"  # Kevin O'Neill
IT = "it@riverside.example"  # Aisha Rahman
DIRECTOR = "director@riverside.example"  # Margaret Osei
STAFF = "staff@riverside.example"  # Jo Kim
#: Sign-ins the demo does not have, added for people who receive something and confirm they have control.
LILY = "lily.chen@riverside.example"
HELEN = "helen.park@riverside.example"

PRIYA = "Priya Natarajan"
TV = ("Riverside Library TV", "YouTube")
PAGE = ("Riverside Public Library", "Facebook")
X = ("Riverside Public Library on X", "X")
DOMAIN = ("riverside.example domain", "Domain registrar")


def _load_demo() -> dict[str, Any]:
    """The demo organisation, plus staff sign-ins for Lily Chen and Helen Park (who confirm control)."""
    system = Actor.system("demo")
    demo.load_demo(system)
    db.session.flush()
    people = {p.name: p for p in db.session.scalars(sa.select(Person))}
    for email, name in ((LILY, "Lily Chen"), (HELEN, "Helen Park")):
        users.create_user(system, email, demo.DEMO_PASSWORD, Role.STAFF, people[name].id)
    priya, dana = people["Priya Natarajan"], people["Dana Whitfield"]
    assert priya.last_day is not None and dana.left_on is not None
    return {
        "priya": priya.id,
        "priya_last_day": priya.last_day.isoformat(),
        "dana": dana.id,
        "dana_left_on": dana.left_on.isoformat(),
    }


class Browser:
    """One signed-in browser context (its own cookies) per person taking part."""

    def __init__(self, browser: Any, live: LiveServer) -> None:
        self.browser = browser
        self.live = live
        self.contexts: list[Any] = []

    def sign_in(self, email: str) -> Any:
        context = new_context(self.browser, self.live)
        self.contexts.append(context)
        page = context.new_page()
        LoginPage(page).open().sign_in(email, demo.DEMO_PASSWORD)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(browser: Any, live_server: LiveServer) -> Iterator[Browser]:
    contexts = Browser(browser, live_server)
    yield contexts
    contexts.close()


def _start_from_person_page(page: Any, person_id: int, name: str, last_day: str, reason: str) -> OffboardingCasePage:
    """HR opens the person's page, follows "Start offboarding" and starts the case."""
    person = PersonPage(page).open(person_id)
    expect(person.heading).to_contain_text(name)
    person.main.get_by_role("link", name="Start offboarding").click()
    form = StartOffboardingPage(page)
    expect(form.heading).to_have_text("Start offboarding")
    expect(form.person).to_have_value(re.compile(rf"^{re.escape(name)} "))
    case = form.fill(last_day=last_day, reason=reason).submit()
    case.expect_flash(f"Started offboarding {name}")
    expect(case.heading).to_contain_text(f"Offboarding {name}")
    return case


def _row(report: list[dict[str, str]], start: str) -> dict[str, str]:
    rows = [row for row in report if row["Step"].startswith(start)]
    assert len(rows) == 1, f"expected one step starting {start!r}, found {[r['Step'] for r in report]!r}"
    return rows[0]


def test_priya_leaves_the_channel_with_a_colleague(live_server: LiveServer, people: Browser) -> None:
    data = live_server.seed(_load_demo)
    priya = PRIYA

    # HR starts the case from Priya's page.
    hr = people.sign_in(HR)
    case = _start_from_person_page(hr, data["priya"], priya, data["priya_last_day"], "New job at the county archive")
    case_id = case.case_id
    tv = case.group(*TV)
    titles = case.titles(tv)
    add = next(n for n, t in enumerate(titles) if t.startswith("Add another admin"))
    remove = next(n for n, t in enumerate(titles) if t.startswith(f"Remove {priya}'s profile"))
    assert add < remove, f"“add an admin” must come before “remove admin”: {titles!r}"
    expect(case.item(tv, "Add another admin").locator).to_contain_text("is its only admin")
    total = len(titles) + len(case.titles(case.own_steps(priya)))
    expect(case.progress).to_contain_text(f"0 of {total} finished")

    # The admin records Lily Chen's Google profile as a manager of the channel; Lily must confirm.
    admin = people.sign_in(ADMIN)
    case = OffboardingCasePage(admin).open(case_id)
    tv = case.group(*TV)
    item = case.item(tv, "Add another admin").choose("Profile to add as admin", "Lily Chen").choose("Role", "manager")
    item.press("Add admin")
    case.expect_flash("It is now waiting for Lily Chen to confirm they have control.")
    item = case.item(case.group(*TV), "Add another admin")
    expect(item.fact("To confirm control")).to_have_text("Lily Chen")

    # The old role cannot go before Lily confirms.
    item = case.item(case.group(*TV), f"Remove {priya}'s profile")
    item.press("Remove admin role")
    expect(case.main.get_by_role("alert").first).to_be_visible()
    expect(case.main).to_contain_text("the new admin must confirm control")

    # Lily finds the confirmation in her tasks and confirms she has control.
    lily = people.sign_in(LILY)
    tasks = MyTasksPage(lily).open()
    expect(tasks.table).to_contain_text("Confirm control")
    lily_case = tasks.open_task("Add another admin")
    lily_item = lily_case.item(lily_case.group(*TV), "Add another admin")
    lily_item.confirm_control()
    lily_item = lily_case.item(lily_case.group(*TV), "Add another admin")
    expect(lily_item.fact("Confirmed by")).to_contain_text("Lily Chen")

    # Now the admin transfers ownership to the Brand Account, replaces the personal recovery inbox,
    # removes Priya's role and gives the channel a new steward.
    case.open(case_id)
    item = case.item(case.group(*TV), "Transfer ownership")
    item.choose("Profile that takes ownership", "Riverside Public Library Brand Account").press("Transfer ownership")
    case.expect_flash("Done: “Transfer ownership")
    case.item(case.group(*TV), "Transfer ownership").confirm_control()

    item = case.item(case.group(*TV), "Replace the recovery contact")
    item.choose("Kind", "Email").fill(**{"New address, number or name": "digital@riverside.example"})
    item.press("Replace recovery contact")
    case.expect_flash("Done: “Replace the recovery contact")

    case.item(case.group(*TV), f"Remove {priya}'s profile").press("Remove admin role")
    case.expect_flash(f"Done: “Remove {priya}'s profile")

    item = case.item(case.group(*TV), "Choose a new steward")
    item.choose("New person", "Tom Reyes").press("Reassign steward")
    case.expect_flash("Done: “Choose a new steward")
    expect(case.item(case.group(*TV), "Choose a new steward").fact("Now held by")).to_have_text("Tom Reyes")

    # IT rotates the backup codes she revealed (the new codes go into the vault, never onto the page).
    it = people.sign_in(IT)
    it_case = OffboardingCasePage(it).open(case_id)
    item = it_case.item(it_case.group(*TV), "Rotate the credential “2FA backup codes”")
    new_codes = "4821 0937 5512 7740 1186 3359"
    item.fill(**{"New value": new_codes, "Reason": f"{priya} revealed them and is leaving"}).press("Save the rotated credential")
    it_case.expect_flash("Done: “Rotate the credential")
    assert new_codes not in it.content()

    # The director waives the exit declaration, with a reason.
    director = people.sign_in(DIRECTOR)
    director_case = OffboardingCasePage(director).open(case_id)
    waive = director_case.item(director_case.own_steps(priya), "Fill in").waive()
    waive.waive("Priya went through every account with Tom at her exit interview; nothing is missing.")
    director_case.expect_flash("Waived “Fill in")

    # HR closes the case; the report lists every step and who did it.
    case = OffboardingCasePage(hr).open(case_id)
    expect(case.progress).to_contain_text(f"{total} of {total} finished")
    case.close_case()
    case.expect_flash(f"Closed the offboarding of {priya}")
    expect(case.heading).to_contain_text("Closed")
    report = case.report()
    expect(report.heading).to_have_text(f"Handover report: {priya}")
    expect(report.main).to_contain_text("closed by Alan Brooks")
    rows = report.rows()
    assert len(rows) == total, rows
    add_row = _row(rows, "Add another admin")
    assert add_row["Done by"].startswith("Kevin O'Neill") and add_row["Confirmed by"].startswith("Lily Chen"), add_row
    assert "Lily Chen" in add_row["Held now"] and "manager" in add_row["Held now"], add_row
    owner_row = _row(rows, "Transfer ownership")
    assert "Brand Account" in owner_row["Held now"] and owner_row["Confirmed by"].startswith("Kevin O'Neill"), owner_row
    assert _row(rows, "Replace the recovery contact")["Held now"] == "Email digital@riverside.example"
    assert _row(rows, f"Remove {priya}'s profile")["Done by"].startswith("Kevin O'Neill")
    assert _row(rows, "Choose a new steward")["Held now"] == "Tom Reyes"
    rotate = _row(rows, "Rotate the credential")
    assert rotate["Done by"].startswith("Aisha Rahman") and rotate["Status"] == "Done", rotate
    waived = _row(rows, "Fill in")
    assert waived["Status"].startswith("Waived: Priya went through every account"), waived
    assert waived["Done by"].startswith("Margaret Osei"), waived
    for row in rows:
        assert row["Status"] == "Done" or row["Status"].startswith("Waived"), row
        assert row["Done by"] != "—", row
    assert new_codes not in hr.content()


def test_a_late_case_for_dana_clears_her_findings(live_server: LiveServer, people: Browser) -> None:
    data = live_server.seed(_load_demo)
    dana = "Dana Whitfield"

    # Before: the director's dashboard and the findings name her.
    director = people.sign_in(DIRECTOR)
    dashboard = HomePage(director).open()
    expect(dashboard.heading).to_have_text("Dashboard")
    expect(dashboard.main).to_contain_text(dana)
    held = FindingsPage(director).open("held-by-leaver")
    expect(held.table).to_contain_text(f"{dana} (departed)")

    # HR starts a late case: she has been gone two years.
    hr = people.sign_in(HR)
    case = _start_from_person_page(hr, data["dana"], dana, data["dana_left_on"], "Left without a handover")
    case_id = case.case_id
    page_group = case.group(*PAGE)
    titles = case.titles(page_group)
    assert titles[0].startswith("Transfer ownership"), titles

    # The admin moves the Page to the library's business portfolio; Helen Park, its steward, confirms.
    admin = people.sign_in(ADMIN)
    case = OffboardingCasePage(admin).open(case_id)
    item = case.item(case.group(*PAGE), "Transfer ownership")
    item.choose("Profile that takes ownership", "Riverside Public Library business portfolio").press("Transfer ownership")
    case.expect_flash("It is now waiting for Helen Park to confirm they have control.")

    helen = people.sign_in(HELEN)
    tasks = MyTasksPage(helen).open()
    helen_case = tasks.open_task("Transfer ownership")
    helen_case.item(helen_case.group(*PAGE), "Transfer ownership").confirm_control()
    # Helen, as the Page's steward, also removes Dana's old admin role (her item).
    helen_case.item(helen_case.group(*PAGE), f"Remove {dana}'s profile").press("Remove admin role")
    helen_case.expect_flash(f"Done: “Remove {dana}'s profile")

    # Jo Kim, steward of the X account, replaces Dana's phone there.
    jo = people.sign_in(STAFF)
    jo_case = MyTasksPage(jo).open().open_task("Replace the recovery contact")
    item = jo_case.item(jo_case.group(*X), "Replace the recovery contact")
    item.choose("Kind", "Email").fill(**{"New address, number or name": "social@riverside.example"})
    item.press("Replace recovery contact")
    jo_case.expect_flash("Done: “Replace the recovery contact")

    # The admin replaces her personal recovery inbox on the registrar with an institutional address.
    case.open(case_id)
    item = case.item(case.group(*DOMAIN), "Replace the recovery contact")
    item.choose("Kind", "Email").fill(**{"New address, number or name": "domains@riverside.example"})
    item.press("Replace recovery contact")
    case.expect_flash("Done: “Replace the recovery contact")
    expect(case.item(case.group(*DOMAIN), "Replace the recovery contact").fact("Now held by")).to_have_text(
        "Email domains@riverside.example"
    )

    # IT rotates the registrar password she revealed.
    it = people.sign_in(IT)
    it_case = OffboardingCasePage(it).open(case_id)
    item = it_case.item(it_case.group(*DOMAIN), "Rotate the credential “Registrar password”")
    item.fill(**{"New value": "Tidal-Lantern-Quarry-2031", "Reason": f"{dana} revealed it before she left"})
    item.press("Save the rotated credential")
    it_case.expect_flash("Done: “Rotate the credential")

    # HR records her exit declaration (nothing else) and closes the case.
    case = OffboardingCasePage(hr).open(case_id)
    case = case.exit_declaration().nothing_to_declare()
    case.expect_flash("the exit declaration says there are no other accounts")
    case.close_case()
    case.expect_flash(f"Closed the offboarding of {dana}")
    rows = case.report().rows()
    assert all(row["Status"] == "Done" for row in rows), rows
    owner_row = _row(rows, "Transfer ownership")
    assert "business portfolio" in owner_row["Held now"] and owner_row["Confirmed by"].startswith("Helen Park"), owner_row
    recovery = [row for row in rows if row["Step"].startswith("Replace the recovery contact")]
    done_by = sorted(row["Done by"] for row in recovery)
    assert len(done_by) == 2 and done_by[0].startswith("Jo Kim") and done_by[1].startswith("Kevin O'Neill"), recovery
    assert not any("dana.whitfield@mail.example" in row["Held now"] for row in rows), rows

    # After: her findings are gone from the dashboard and the findings list.
    dashboard = HomePage(director).open()
    expect(dashboard.heading).to_have_text("Dashboard")
    expect(dashboard.main).not_to_contain_text(dana)
    findings = FindingsPage(director)
    for rule, still in (
        ("held-by-leaver", "Ben Carter (departed)"),
        ("owner-personal", "Ben Carter"),
        ("recovery-personal", "Ben Carter"),
        ("credential-leaver", f"{PRIYA} (leaving)"),
    ):
        findings.open(rule)
        expect(findings.table).to_contain_text(still)  # the rule still finds others: the list is not just empty
        expect(findings.table).not_to_contain_text(dana)
