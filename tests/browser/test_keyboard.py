"""The core editing task with the keyboard alone: no clicks, no mouse, no programmatic focus.

Every step moves focus with Tab (as a keyboard user would) and acts with Enter or typing, so the
test shows the skip link comes first, the global search, result links, the edit link, the form's
select and its submit button are all reachable and work from the keyboard, in a sensible order.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.models import ProfileKind, Role
from tests import factories
from tests.browser.pages import AccountDetail, AccountForm, BasePage, LoginPage, SearchResultsPage, focused

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-keyboard")]

ACCOUNT = "Northside Branch Instagram"
#: More Tabs than any page here needs to reach its last control; a missing control fails, not hangs.
MAX_TABS = 40


def is_focused(locator: Locator) -> bool:
    return bool(locator.evaluate("el => el === document.activeElement"))


def tab_to(page: Page, target: Locator, max_tabs: int = MAX_TABS) -> int:
    """Press Tab until ``target`` has focus; returns how many presses it took."""
    expect(target).to_have_count(1)
    for presses in range(1, max_tabs + 1):
        page.keyboard.press("Tab")
        if is_focused(target):
            return presses
    raise AssertionError(f"{target} never got focus in {max_tabs} Tabs; focus ended on {focused(page)}")


def _registry() -> dict[str, Any]:
    it_user = factories.make_user(Role.IT, email="it@northside.example", person=factories.make_person("Ira Tech"))
    instagram = factories.make_platform("Instagram", slug="instagram", role_names=["admin", "editor"])
    org = factories.make_profile(instagram, ProfileKind.ORGANISATION, name="Northside Library", handle="@northsidelib")
    alex = factories.make_person("Alex Moreno")
    factories.make_person("Bea Sandoval")
    account = factories.make_account(instagram, name=ACCOUNT, handle="@northside_reads", steward=alex, owner_profile=org)
    factories.make_account(instagram, name="Northside Teens", handle="@northside_teens")
    return {"it_email": it_user.email, "account_id": account.id}


def test_find_and_edit_an_account_with_the_keyboard_only(live_server: Any, page: Page) -> None:
    data = live_server.seed(_registry)

    # Sign in: Tab to the email field, type, Tab to the password, type, Enter submits.
    page.goto("/login")
    login = LoginPage(page)
    tab_to(page, page.get_by_label("Email", exact=True))
    page.keyboard.type(data["it_email"])
    page.keyboard.press("Tab")
    assert is_focused(page.get_by_label("Password", exact=True)), focused(page)
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    login.expect_flash("Signed in as Ira Tech")

    # The first Tab lands on the skip link; from there Tab reaches the global search box.
    home = BasePage(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert is_focused(skip), focused(page)
    expect(skip).to_be_visible()  # it shows itself when focused
    tab_to(page, home.global_search, max_tabs=15)
    page.keyboard.type("northside branch")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=northside+branch")

    # Tab to the result link, Enter opens the account.
    results = SearchResultsPage(page)
    result = results.accounts.get_by_role("link", name=ACCOUNT, exact=True)
    tab_to(page, result)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{data['account_id']}")
    detail = AccountDetail(page)
    expect(detail.heading).to_contain_text(ACCOUNT)
    expect(detail.fact("Steward")).to_have_text("Alex Moreno")

    # Tab to "Edit account", Enter.
    tab_to(page, page.get_by_role("link", name="Edit account"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{data['account_id']}/edit")
    form = AccountForm(page)
    expect(form.heading).to_have_text(f"Edit {ACCOUNT}")

    # Tab to the steward box and type the new steward over the current one (Alex Moreno → Bea Sandoval).
    steward = form.field("Steward")
    expect(steward).to_have_value(re.compile(r"^Alex Moreno <"))
    tab_to(page, steward)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("Bea Sandoval")
    expect(steward).to_have_value("Bea Sandoval")

    # Tab on to the submit button, Enter saves.
    tab_to(page, form.main.get_by_role("button", name="Save changes"), max_tabs=5)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{data['account_id']}")
    detail.expect_flash(f"Saved your changes to {ACCOUNT}.")
    expect(detail.fact("Steward")).to_have_text("Bea Sandoval")
