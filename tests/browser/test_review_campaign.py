"""An access review in a real browser: a director opens a campaign; the steward confirms one account
and corrects another on its own page; the director sees the progress, and the corrected account's
history shows the change and the review."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from app.models import RecoveryKind, Role
from tests import factories
from tests.browser.conftest import new_context
from tests.browser.pages import CampaignPage, LoginPage, RemovePartPage, ReviewsPage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-reviews")]


def _organisation() -> dict[str, Any]:
    director = factories.make_user(Role.DIRECTOR, email="director@riverside.example", person=factories.make_person("Dee Rector"))
    outreach = factories.make_department("Outreach")
    factories.make_department("Finance")
    dana = factories.make_person("Dana Okafor", department=outreach, personal_email="dana.okafor@gmail.example")
    steward = factories.make_user(Role.STAFF, email="dana@riverside.example", person=dana)
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor"])
    persona = factories.make_profile(facebook, name="Riverside Library")
    page = factories.make_account(facebook, name="Riverside Library Page", department=outreach, steward=dana)
    factories.make_admin(page, persona)
    factories.make_recovery(page, value="social@riverside.example")
    events = factories.make_account(facebook, name="Riverside Events", department=outreach, steward=dana)
    factories.make_recovery(events, value="dana.okafor@gmail.example", kind=RecoveryKind.EMAIL, person=dana)
    return {"director": director.email, "steward": steward.email, "events_id": events.id}


def test_a_campaign_from_opening_to_a_corrected_account(live_server: Any, browser: Any, page: Any, today: date) -> None:
    data = live_server.seed(_organisation)
    due = today + timedelta(days=21)

    # The director opens a campaign for Outreach.
    LoginPage(page).open().sign_in(data["director"])
    form = ReviewsPage(page).open().open_campaign_form()
    form.fill(name="Spring access review", due_on=due.isoformat(), departments=["Outreach"])
    campaign = form.submit()
    campaign.expect_flash(f"Opened Spring access review: 2 accounts to review by {due:%d %b %Y}")
    expect(campaign.heading).to_contain_text("Spring access review")
    expect(campaign.overall).to_have_attribute("value", "0")
    expect(campaign.progress).to_contain_text("0 of 2")
    campaign_url = page.url

    # The steward signs in (their own browser) and finds both accounts under "My reviews".
    steward_context = new_context(browser, live_server)
    try:
        mine = steward_context.new_page()
        LoginPage(mine).open().sign_in(data["steward"])
        reviews = ReviewsPage(mine).open()
        assert reviews.my_accounts() == ["Riverside Events — Facebook", "Riverside Library Page — Facebook"]

        # One is right as it stands.
        task = reviews.open_task("Riverside Library Page")
        expect(task.recovery).to_contain_text("social@riverside.example")
        reviews = task.everything_is_right()
        reviews.expect_flash("Riverside Library Page is confirmed as right")
        assert reviews.my_accounts() == ["Riverside Events — Facebook"]

        # The other sends password resets to the steward's personal inbox: they fix it on the account page...
        task = reviews.open_task("Riverside Events")
        expect(task.recovery).to_contain_text("dana.okafor@gmail.example")
        detail = task.correct_recovery_contacts()
        detail.add_recovery_contact("Email", "outreach@riverside.example")
        detail.expect_flash("Added recovery email outreach@riverside.example.")
        detail.recovery.get_by_role("link", name="Remove recovery contact dana.okafor@gmail.example").click()
        detail = RemovePartPage(mine).confirm()
        detail.expect_flash("Removed the recovery contact from Riverside Events.")
        expect(detail.recovery).not_to_contain_text("dana.okafor@gmail.example")

        # ...then come back and say what they corrected.
        task = ReviewsPage(mine).open().open_task("Riverside Events")
        expect(task.recovery).to_contain_text("outreach@riverside.example")
        reviews = task.i_corrected_it("Replaced my personal email with outreach@ as the recovery email")
        reviews.expect_flash("Riverside Events is marked as corrected. That was the campaign's last account: it is now closed.")
        expect(reviews.mine).to_contain_text("Nothing waits for your review")

        # A staff member cannot open the campaign page itself.
        assert mine.goto(campaign_url).status == 403
    finally:
        steward_context.close()

    # The director sees the campaign done, by department, and who did what.
    page.goto(campaign_url)
    campaign = CampaignPage(page)
    expect(campaign.heading).to_contain_text("Closed")
    expect(campaign.overall).to_have_attribute("value", "2")
    expect(campaign.progress).to_contain_text("2 of 2 (100%)")
    expect(campaign.department_row("Outreach")).to_contain_text("2 of 2 (100%)")
    rows = campaign.report_rows()
    assert len(rows) == 2, rows
    assert rows[0].endswith("Dana Okafor Riverside Library Page — Facebook Everything is right —"), rows
    assert rows[1].endswith(
        "Dana Okafor Riverside Events — Facebook Corrected Replaced my personal email with outreach@ as the recovery email"
    ), rows

    # The corrected account's change history shows the correction and the review.
    detail = campaign.open_account("Riverside Events")
    assert detail.account_id == data["events_id"]
    history = detail.region("Change history")
    entries = [" ".join(t.split()) for t in history.get_by_role("listitem").filter(has=page.locator("strong")).all_inner_texts()]
    summaries = [e for e in entries if re.match(r"^(Added|Removed|Reviewed)", e)]
    assert summaries[0].startswith(
        "Reviewed Riverside Events in campaign Spring access review: corrected — Replaced my personal email"
    ), summaries
    # A person's own address is described in history, not copied (it is erased after they leave).
    assert any(s.startswith("Removed recovery email Dana Okafor's personal email") for s in summaries), summaries
    assert any(s.startswith("Added recovery email outreach@riverside.example (institutional)") for s in summaries), summaries
    expect(detail.fact("Last reviewed")).to_have_text(date.today().strftime("%d %b %Y"))
