"""The registry's core flow in a real browser: IT records a Facebook Page, who holds roles on it
and where recovery would go; the steward's footprint shows it; two tabs editing at once do not
silently overwrite each other."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from app.models import ProfileKind, Role
from tests import factories
from tests.browser.pages import AccountDetail, AccountForm, AccountsPage, LoginPage, PersonPage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-flow")]

ACCOUNT = "Riverside Library Page"
RENAMED = "Riverside Library (Facebook)"


def _registry() -> dict[str, Any]:
    it_user = factories.make_user(Role.IT, email="it@riverside.example", person=factories.make_person("Ira Tech"))
    outreach = factories.make_department("Outreach")
    steward = factories.make_person("Dana Okafor", department=outreach, job_title="Outreach librarian")
    leaver = factories.make_person("David King")
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor", "moderator"])
    factories.make_platform("Instagram", slug="instagram")
    persona = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[steward])
    personal = factories.make_profile(facebook, ProfileKind.PERSONAL, holder=leaver, name="David King", handle="davidleeking")
    return {
        "it_email": it_user.email,
        "steward_id": steward.id,
        "persona": persona.label,
        "personal": personal.label,
    }


def test_it_records_an_account_and_its_people_and_a_stale_edit_is_caught(live_server: Any, page: Any) -> None:
    data = live_server.seed(_registry)

    # IT signs in and adds the Facebook Page, with a staff member as its steward.
    LoginPage(page).open().sign_in(data["it_email"])
    form = AccountsPage(page).open().add_account()
    form.fill(name=ACCOUNT, platform="Facebook", handle="@riversidelib", purpose="News and events", steward="Dana Okafor")
    detail = form.save_and_open()
    detail.expect_flash(f"Added {ACCOUNT}")
    expect(detail.heading).to_contain_text(ACCOUNT)
    expect(detail.fact("Steward")).to_have_text("Dana Okafor")
    expect(detail.admins).to_contain_text("Single point of failure")
    account_id = detail.account_id

    # Two admin roles, each held by a Facebook profile.
    detail.add_admin(data["persona"], role="admin")
    detail.expect_flash(f"Melvilla Dewey now holds the admin role on {ACCOUNT}")
    detail.add_admin(data["personal"], role="editor", since="2021-03-15")
    detail.expect_flash(f"David King (davidleeking) now holds the editor role on {ACCOUNT}")
    admins = detail.items(detail.admins)
    assert len(admins) == 2, admins
    assert admins[0].startswith("Melvilla Dewey Persona — admin"), admins
    assert "kept by Dana Okafor" in admins[0], admins
    assert admins[1].startswith("David King (davidleeking) Personal — editor since 15 Mar 2021"), admins
    assert "held by David King" in admins[1], admins
    expect(detail.admins).not_to_contain_text("Single point of failure")
    expect(detail.admins.get_by_role("heading")).to_have_text("Admins and roles (2)")

    # A recovery contact: the Page's institutional mailbox.
    detail.add_recovery_contact("Email", "social@riverside.example", last_verified="2024-01-10")
    detail.expect_flash("Added recovery email social@riverside.example.")
    assert detail.items(detail.recovery) == [
        # "recovery contact …" is the visually hidden end of the Remove link's name.
        "Email: social@riverside.example Institutional Last verified 10 Jan 2024 Remove recovery contact social@riverside.example"
    ]

    # The accounts list's own search finds it by handle...
    listing = AccountsPage(page).open().search("@riversidelib")
    expect(listing.table.get_by_role("row")).to_have_count(2)  # the header and the account
    detail = listing.open_account(ACCOUNT)

    # ...and so does the global search box (type, Enter); the result opens it.
    results = detail.search_everywhere("riverside library")
    expect(results.global_search).to_have_value("riverside library")
    detail = results.open_account(ACCOUNT)
    assert detail.account_id == account_id

    # The steward's person page lists it in their footprint.
    person = detail.open_steward()
    expect(person.heading).to_contain_text("Dana Okafor")
    assert page.url.endswith(f"/people/{data['steward_id']}")
    assert person.items(person.stewarded) == [f"{ACCOUNT} Facebook"]
    expect(person.stewarded.get_by_role("heading")).to_have_text("Accounts they steward (1)")
    assert person.items(person.kept)[0].startswith("Melvilla Dewey Persona on Facebook")
    expect(person.kept).to_contain_text(f"{ACCOUNT} — admin")

    # Two tabs open the edit form; the first saves a new name...
    first = AccountForm(page).open_edit(account_id)
    second = AccountForm(page.context.new_page()).open_edit(account_id)
    expect(second.field("Name")).to_have_value(ACCOUNT)
    first.fill(name=RENAMED)
    first.save_and_open().expect_flash(f"Saved your changes to {RENAMED}.")

    # ...then the second, still showing the old version, saves a different change: refused, with the first change shown.
    second.fill(handle="@riverside_reads")
    second.save()
    expect(second.page).to_have_url(re.compile(rf"/accounts/{account_id}/edit$"))
    stale = second.problems.filter(has_text="changed by someone else")
    expect(stale).to_contain_text(
        f"The account “{RENAMED}” was changed by someone else after you opened this form. Nothing was saved"
    )
    theirs = second.problems.filter(has_text="Someone else changed this while you were editing")
    expect(theirs.get_by_role("listitem")).to_have_count(1)
    expect(theirs.get_by_role("listitem")).to_contain_text(f"Ira Tech changed name from “{ACCOUNT}” to “{RENAMED}”")
    # The form now shows the current values, ready to make the change again.
    expect(second.field("Name")).to_have_value(RENAMED)
    expect(second.field("Handle")).to_have_value("@riversidelib")

    # The account keeps the first change only.
    final = AccountDetail(second.page).open(account_id)
    expect(final.heading).to_contain_text(RENAMED)
    expect(final.main).to_contain_text("@riversidelib")
    expect(final.main).not_to_contain_text("@riverside_reads")
    expect(PersonPage(page).open(data["steward_id"]).stewarded).to_contain_text(RENAMED)
