"""CSV import in a real browser: an admin uploads an accounts file with two bad rows, sees both in
the preview by line and column, fixes the file, imports it, and finds the new accounts."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.models import ProfileKind, Role
from tests import factories
from tests.browser.pages import AccountsPage, BasePage, LoginPage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-flow")]

COLUMNS = ["platform", "handle", "name", "department", "steward_email", "admins", "recovery_contacts"]


def accounts_csv(*rows: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


class ImportPage(BasePage):
    """The upload page, and the preview it leads to (which has its own upload form when the file has problems)."""

    def upload(self, data: bytes, name: str = "accounts.csv") -> ImportPage:
        self.main.get_by_label("CSV file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Check the file").click()
        expect(self.heading).to_have_text(f"Check the import of {name}")
        return self

    @property
    def counts(self) -> Locator:
        return self.main.locator("#import-counts")

    @property
    def problems(self) -> list[list[str]]:
        """The problems table: line, column, problem (cells' text, whitespace squeezed)."""
        table = self.main.get_by_role("table", name="Problems by line and column")
        return [
            [" ".join(cell.split()) for cell in row.get_by_role("cell").all_inner_texts()]
            for row in table.locator("tbody tr").all()
        ]

    @property
    def import_button(self) -> Locator:
        return self.main.get_by_role("button", name=re.compile(r"^Import \d+ change"))


def preview(page: Page, kind: str, data: bytes, name: str) -> ImportPage:
    """Open the import page of ``kind`` and upload ``data``: the preview (used by the accessibility sweep too)."""
    page.goto(f"/imports/{kind}")
    return ImportPage(page).upload(data, name)


def _registry() -> dict[str, Any]:
    admin = factories.make_user(Role.ADMIN, email="admin@riverside.example", person=factories.make_person("Ada Admin"))
    factories.make_department("Outreach")
    factories.make_person("Dana Okafor", work_email="dana@riverside.example")
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor", "moderator"])
    factories.make_platform("Instagram", slug="instagram", role_names=["admin"])
    factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey")
    factories.make_profile(facebook, ProfileKind.ORGANISATION, name="Riverside Library", handle="riversidelib-org")
    return {"admin": admin.email}


def test_an_admin_fixes_two_bad_rows_then_imports_the_accounts(live_server: Any, page: Page) -> None:
    data = live_server.seed(_registry)
    LoginPage(page).open().sign_in(data["admin"])
    accounts = AccountsPage(page).open()
    accounts.main.get_by_role("link", name="Import or export CSV").click()
    upload = ImportPage(page)
    expect(upload.heading).to_have_text("Import accounts from CSV")
    expect(upload.main.get_by_role("table")).to_contain_text("recovery_contacts")  # the format is on the page

    good = [
        "Facebook",
        "@riversidelib",
        "Riverside Library Page",
        "Outreach",
        "dana@riverside.example",
        "Melvilla Dewey:admin; riversidelib-org:editor",
        "email:web@riverside.example",
    ]
    bad_platform = ["Myspace", "@riverside", "Riverside on Myspace", "", "", "", ""]
    bad_contact = [
        "Instagram",
        "@riverside.reads",
        "Riverside Reads",
        "Outreach",
        "dana@riverside.example",
        "",
        "phone:+1 555 0100; fax:555 0101",
    ]
    upload.upload(accounts_csv(good, bad_platform, bad_contact))
    expect(upload.counts).to_contain_text("2 with problems")
    assert upload.problems == [
        ["3", "platform (column A)", "There is no platform called “Myspace”. The platforms are: Facebook, Instagram."],
        [
            "4",
            "recovery_contacts (column G)",
            "“fax” is not a kind of recovery contact (email, phone, backup_codes_holder, trusted_contact); write kind:value.",
        ],
    ]
    expect(upload.import_button).to_have_count(0)  # nothing can be imported yet
    expect(upload.main).to_contain_text("Nothing has been saved.")

    # The fixed file goes in through the preview's own upload form.
    bad_platform[0] = "Instagram"
    bad_contact[6] = "phone:+1 555 0100"
    upload.upload(accounts_csv(good, bad_platform, bad_contact))
    expect(upload.counts).to_contain_text("3 to add")
    expect(upload.counts).to_contain_text("0 with problems")
    rows = upload.main.get_by_role("table", name="Rows that would be added or updated, or have problems")
    expect(rows).to_contain_text("Riverside on Myspace")
    with page.expect_navigation():
        upload.import_button.click()
    accounts = AccountsPage(page)
    expect(accounts.heading).to_have_text("Accounts")
    accounts.expect_flash("Imported accounts.csv: 3 accounts added, 0 accounts updated, 0 accounts unchanged.")
    for name in ("Riverside Library Page", "Riverside on Myspace", "Riverside Reads"):
        expect(accounts.table.get_by_role("link", name=name, exact=True)).to_be_visible()
    detail = accounts.open_account("Riverside Library Page")
    expect(detail.admins).to_contain_text("Melvilla Dewey")
    expect(detail.admins).to_contain_text("Riverside Library")

    # Importing the same file again changes nothing, and says so before anything is confirmed.
    again = preview(page, "accounts", accounts_csv(good, bad_platform, bad_contact), "accounts.csv")
    expect(again.main).to_contain_text("Every row already matches the registry: there is nothing to import.")
    expect(again.import_button).to_have_count(0)


# --- For the accessibility sweep (tests/browser/test_accessibility.py) ----------------------


def accounts_preview_with_problems(page: Page) -> None:
    """A preview with an update (and its changes), an addition and a problem, as admins and IT see it."""
    data = b"platform,handle,name,purpose\nFacebook,@riversidelib,Riverside Library Page,Changed purpose\nMyspace,@x,X,\nFacebook,@new,New page,\n"
    expect(preview(page, "accounts", data, "accounts.csv").counts).to_contain_text("1 with problems")


def people_preview(page: Page) -> None:
    """A preview without problems, with its Import button, as admins and HR see it."""
    expect(
        preview(page, "people", b"name,work_email\nNew Person,new.person@riverside.example\n", "people.csv").import_button
    ).to_be_visible()
