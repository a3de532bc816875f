"""Page objects for the browser tests (in the style of SecureDrop's app_navigators).

Each object wraps one page of Handover and finds things the way a person (or a screen reader)
does: by label, role and accessible name. A test that passes here also shows those labels and
names are right. CSS selectors are used only where the page offers no label or role.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
from playwright.sync_api import Locator, Page, expect

from tests.factories import PASSWORD


def _starts_with(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}")


def choose(select: Locator, text: str) -> None:
    """Pick the option of ``select`` whose label is ``text``, or starts with it (e.g. a profile label
    followed by " — persona").

    A person or profile picker is a text box, not a select (issue "Scale"): type ``text`` into it and
    the server resolves it when the form is sent.
    """
    if select.evaluate("element => element.tagName") == "INPUT":
        select.fill(text)
        return
    labels: list[str] = select.locator("option").all_text_contents()
    matches = [label for label in labels if label.strip() == text] or [
        label for label in labels if label.strip().startswith(text)
    ]
    assert len(matches) == 1, f"expected one option like {text!r}, found {matches!r} among {labels!r}"
    select.select_option(label=matches[0])


class BasePage:
    """What every signed-in page has: the header (global search), the flash messages, the heading."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def main(self) -> Locator:
        return self.page.get_by_role("main")

    @property
    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    @property
    def flash(self) -> Locator:
        """The flash messages (a status region, so screen readers announce them)."""
        return self.page.get_by_role("status")

    @property
    def global_search(self) -> Locator:
        return self.page.get_by_role("searchbox", name="Search people, accounts and profiles")

    def search_everywhere(self, text: str) -> SearchResultsPage:
        """Type into the header's search box and press Enter."""
        box = self.global_search
        box.fill(text)
        with self.page.expect_navigation(url=re.compile(r"/search\?")):
            box.press("Enter")
        return SearchResultsPage(self.page)

    def region(self, title: str) -> Locator:
        """A card section (``<section aria-labelledby>``), by the start of its heading."""
        return self.main.get_by_role("region", name=_starts_with(title))

    def expect_flash(self, text: str | re.Pattern[str]) -> None:
        expect(self.flash).to_contain_text(text)


class LoginPage(BasePage):
    def open(self) -> LoginPage:
        self.page.goto("/login")
        expect(self.heading).to_have_text("Sign in to Handover")
        return self

    def sign_in(self, email: str, password: str = PASSWORD) -> HomePage:
        if "/login" not in self.page.url:
            self.open()
        self.page.get_by_label("Email", exact=True).fill(email)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        home = HomePage(self.page)
        home.expect_flash("Signed in as")
        return home

    def submit(self, email: str, password: str) -> LoginPage:
        """Type an email and password and press Sign in; the caller checks where it landed
        (home, the two-factor step, two-factor set-up, or this page with a problem)."""
        if "/login" not in self.page.url:
            self.open()
        self.main.get_by_label("Email", exact=True).fill(email)
        self.main.get_by_label("Password", exact=True).fill(password)
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Sign in").click()
        return self

    def sign_in_with_code(self, email: str, password: str, code: str) -> HomePage:
        """Password, then the code from the authenticator app at the two-factor step."""
        self.submit(email, password)
        return TwoFactorSignInPage(self.page).sign_in(code)

    @property
    def first_run_notice(self) -> Locator:
        """The "Nobody can sign in yet" note of a new installation."""
        return self.main.get_by_role("note")

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")

    def forgot_password(self) -> ForgotPasswordPage:
        self.main.get_by_role("link", name="Forgotten your password?").click()
        forgot = ForgotPasswordPage(self.page)
        expect(forgot.heading).to_have_text("Forgotten your password?")
        return forgot


class HomePage(BasePage):
    def open(self) -> HomePage:
        self.page.goto("/")
        return self


class SearchResultsPage(BasePage):
    def open(self, query: str) -> SearchResultsPage:
        self.page.goto(f"/search?q={query}")
        return self

    @property
    def accounts(self) -> Locator:
        return self.region("Accounts")

    def open_account(self, name: str) -> AccountDetail:
        self.accounts.get_by_role("link", name=name, exact=True).click()
        detail = AccountDetail(self.page)
        expect(detail.heading).to_contain_text(name)
        return detail


class AccountsPage(BasePage):
    def open(self) -> AccountsPage:
        self.page.goto("/accounts/")
        expect(self.heading).to_have_text("Accounts")
        return self

    def search(self, text: str) -> AccountsPage:
        filters = self.page.get_by_role("form", name="Filter accounts")
        filters.get_by_label("Search name, handle or URL").fill(text)
        with self.page.expect_navigation():
            filters.get_by_role("button", name="Apply").click()
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table")

    def open_account(self, name: str) -> AccountDetail:
        self.table.get_by_role("link", name=name, exact=True).click()
        detail = AccountDetail(self.page)
        expect(detail.heading).to_contain_text(name)
        return detail

    def add_account(self) -> AccountForm:
        self.page.get_by_role("link", name="Add an account").click()
        form = AccountForm(self.page)
        expect(form.heading).to_have_text("Add an account")
        return form


class AccountForm(BasePage):
    """The add/edit account form."""

    def open_new(self) -> AccountForm:
        self.page.goto("/accounts/new")
        return self

    def open_edit(self, account_id: int) -> AccountForm:
        self.page.goto(f"/accounts/{account_id}/edit")
        return self

    def field(self, label: str) -> Locator:
        return self.main.get_by_label(label, exact=True)

    def fill(
        self,
        *,
        name: str | None = None,
        platform: str | None = None,
        handle: str | None = None,
        url: str | None = None,
        purpose: str | None = None,
        department: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        steward: str | None = None,
        has_own_login: bool | None = None,
    ) -> AccountForm:
        for label, value in (("Name", name), ("Handle", handle), ("Address (URL)", url), ("Purpose", purpose)):
            if value is not None:
                self.field(label).fill(value)
        for label, option in (
            ("Platform", platform),
            ("Department", department),
            ("Status", status),
            ("Owner profile", owner),
            ("Steward", steward),
        ):
            if option is not None:
                choose(self.field(label), option)
        if has_own_login is not None:
            self.main.get_by_label(_starts_with("Has its own login")).set_checked(has_own_login)
        return self

    def save(self) -> AccountForm:
        """Submit; the caller checks where it landed (the account page, or this form with errors)."""
        with self.page.expect_navigation():
            self.main.get_by_role("button", name=re.compile(r"^(Add account|Save changes)$")).click()
        return self

    def save_and_open(self) -> AccountDetail:
        self.save()
        detail = AccountDetail(self.page)
        expect(self.page).to_have_url(re.compile(r"/accounts/\d+$"))
        return detail

    @property
    def problems(self) -> Locator:
        """The error summaries at the top (role=alert): field errors and stale-edit messages."""
        return self.main.get_by_role("alert")


class AccountDetail(BasePage):
    def open(self, account_id: int) -> AccountDetail:
        self.page.goto(f"/accounts/{account_id}")
        return self

    @property
    def account_id(self) -> int:
        match = re.search(r"/accounts/(\d+)", self.page.url)
        assert match, self.page.url
        return int(match.group(1))

    @property
    def control(self) -> Locator:
        return self.region("Who controls it")

    @property
    def admins(self) -> Locator:
        return self.region("Admins and roles")

    @property
    def recovery(self) -> Locator:
        return self.region("Recovery contacts")

    @property
    def connections(self) -> Locator:
        return self.region("Connected tools")

    def items(self, section: Locator) -> list[str]:
        """The entries listed in a section, as their visible text."""
        return [" ".join(text.split()) for text in section.get_by_role("listitem").all_inner_texts()]

    def _open_sub_form(self, section: Locator, summary: str) -> Locator:
        disclosure = section.locator("details")
        if disclosure.get_attribute("open") is None:
            section.get_by_text(summary, exact=True).click()
        form = disclosure.locator("form")
        expect(form).to_be_visible()
        return form

    def add_admin(self, profile: str, role: str | None = None, since: str | None = None) -> AccountDetail:
        form = self._open_sub_form(self.admins, "Add an admin role")
        choose(form.get_by_label("Profile", exact=True), profile)
        if role is not None:
            choose(form.get_by_label("Role", exact=True), role)
        if since is not None:
            form.get_by_label("Since", exact=True).fill(since)
        with self.page.expect_navigation():
            form.get_by_role("button", name="Add role").click()
        return self

    def add_recovery_contact(
        self, kind: str, value: str, person: str | None = None, last_verified: str | None = None
    ) -> AccountDetail:
        form = self._open_sub_form(self.recovery, "Add a recovery contact")
        choose(form.get_by_label("Kind", exact=True), kind)
        form.get_by_label("Address, number or name", exact=True).fill(value)
        if person is not None:
            choose(form.get_by_label("Tied to person", exact=True), person)
        if last_verified is not None:
            form.get_by_label("Last verified", exact=True).fill(last_verified)
        with self.page.expect_navigation():
            form.get_by_role("button", name="Add recovery contact").click()
        return self

    def fact(self, term: str) -> Locator:
        """The value of one "Who controls it" fact (a <dd> after its <dt>: they have no roles)."""
        return self.control.locator(f"dt:text-is('{term}') + dd")

    def edit(self) -> AccountForm:
        self.page.get_by_role("link", name="Edit account").click()
        form = AccountForm(self.page)
        expect(form.heading).to_contain_text("Edit ")
        return form

    def open_steward(self) -> PersonPage:
        self.fact("Steward").get_by_role("link").click()
        return PersonPage(self.page)


class PersonPage(BasePage):
    def open(self, person_id: int) -> PersonPage:
        self.page.goto(f"/people/{person_id}")
        return self

    @property
    def stewarded(self) -> Locator:
        return self.region("Accounts they steward")

    @property
    def admin_roles(self) -> Locator:
        return self.region("Admin roles")

    @property
    def kept(self) -> Locator:
        return self.region("Personas and shared logins they keep")

    def items(self, section: Locator) -> list[str]:
        return [" ".join(text.split()) for text in section.get_by_role("listitem").all_inner_texts()]


def focused(page: Page) -> Any:
    """A short description of the focused element (for assertion messages)."""
    return page.evaluate(
        "() => { const e = document.activeElement; return e ? `${e.tagName.toLowerCase()}#${e.id} "
        "${(e.getAttribute('aria-label') || e.textContent || e.value || '').trim().slice(0, 40)}` : null }"
    )


# --- The credential vault -----------------------------------------------------------------


def _column(table: Locator, row: Locator, header: str) -> Locator:
    """The cell of ``row`` under the column headed ``header`` (cells have no name of their own)."""
    headers = [" ".join(text.split()) for text in table.get_by_role("columnheader").all_inner_texts()]
    assert header in headers, f"no column {header!r} among {headers!r}"
    return row.get_by_role("cell").nth(headers.index(header))


class RotationQueuePage(BasePage):
    """IT's rotation queue: the notes to rotate, must-rotate first, then overdue, then due."""

    def open(self) -> RotationQueuePage:
        self.page.goto("/credentials/queue")
        expect(self.heading).to_have_text("Rotation queue")
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table", name="Credential notes to rotate, most urgent first")

    @property
    def labels(self) -> list[str]:
        """The notes listed, in queue order (each row's first cell links to its note)."""
        rows = self.table.locator("tbody").get_by_role("row").all()
        return [row.get_by_role("cell").first.get_by_role("link").inner_text().strip() for row in rows]

    def row(self, label: str) -> Locator:
        return self.table.get_by_role("row").filter(has=self.page.get_by_role("link", name=label, exact=True))

    def state(self, label: str) -> Locator:
        """The State cell of a note's row: its badge ("Must rotate", "Overdue", "Due soon") and why."""
        return _column(self.table, self.row(label), "State")

    def open_note(self, label: str) -> CredentialNotePage:
        self.row(label).get_by_role("link", name=label, exact=True).click()
        note = CredentialNotePage(self.page)
        expect(note.heading).to_contain_text(label)
        return note


class CredentialNotePage(BasePage):
    """A credential note: what it is, its state, the reveal form, the reveal log (never the value)."""

    def open(self, note_id: int) -> CredentialNotePage:
        self.page.goto(f"/credentials/{note_id}")
        return self

    @property
    def note_id(self) -> int:
        match = re.search(r"/credentials/(\d+)", self.page.url)
        assert match, self.page.url
        return int(match.group(1))

    @property
    def reveal_section(self) -> Locator:
        return self.region("Reveal the value")

    @property
    def reveal_form(self) -> Locator:
        return self.reveal_section.locator("form")

    @property
    def reason(self) -> Locator:
        return self.reveal_section.get_by_label("Why do you need it?", exact=True)

    @property
    def password(self) -> Locator:
        """The password prompt, shown when the sign-in is older than the reveal window."""
        return self.reveal_section.get_by_label("Confirm your password", exact=True)

    @property
    def reveal_log(self) -> Locator:
        return self.region("Reveal log")

    @property
    def reveal_log_table(self) -> Locator:
        return self.reveal_log.get_by_role("table")

    def reveal_rows(self) -> list[str]:
        """The reveal log's rows, newest first, as their visible text (without the header row)."""
        rows = self.reveal_log_table.locator("tbody").get_by_role("row").all_inner_texts()
        return [" ".join(text.split()) for text in rows]

    def fact(self, term: str) -> Locator:
        """One fact of the About section (a <dd> after its <dt>: they have no roles)."""
        return self.region("About").locator(f"dt:text-is('{term}') + dd")

    def submit_reveal(self, reason: str, password: str | None = PASSWORD) -> Any:
        """Fill the reason (and the password, when the page asks for it) and press Reveal; returns the response."""
        self.reason.fill(reason)
        if password is not None and self.password.count():
            self.password.fill(password)
        with self.page.expect_navigation() as navigation:
            self.reveal_section.get_by_role("button", name="Reveal").click()
        return navigation.value

    def reveal(self, reason: str, password: str | None = PASSWORD) -> RevealedPage:
        self.submit_reveal(reason, password)
        shown = RevealedPage(self.page)
        expect(shown.value).to_be_visible()
        return shown

    def rotate(self) -> RotatePage:
        self.main.get_by_role("link", name="Rotate…").click()
        form = RotatePage(self.page)
        expect(form.heading).to_have_text(re.compile(r"^Rotate “.*”$"))
        return form

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class RevealedPage(BasePage):
    """The one page that shows a secret: after a reveal, or a password generated at rotation."""

    @property
    def value(self) -> Locator:
        return self.main.get_by_label(re.compile(r"^The (secret|new value)$"))

    def back_to_note(self) -> CredentialNotePage:
        self.main.get_by_role("link", name="Hide / back to note").click()
        note = CredentialNotePage(self.page)
        expect(note.reveal_section).to_be_visible()
        return note


class RotatePage(BasePage):
    """Rotate a note: type the new value, or generate one (length, kinds of character)."""

    def open(self, note_id: int) -> RotatePage:
        self.page.goto(f"/credentials/{note_id}/rotate")
        return self

    @property
    def new_value(self) -> Locator:
        return self.main.get_by_label("New value", exact=True)

    @property
    def generate(self) -> Locator:
        return self.main.get_by_label(_starts_with("Generate a random password"))

    @property
    def length(self) -> Locator:
        return self.main.get_by_label("Length", exact=True)

    @property
    def characters(self) -> Locator:
        """The "Characters to use" group of checkboxes."""
        return self.main.get_by_role("group", name="Characters to use")

    @property
    def reason(self) -> Locator:
        return self.main.get_by_label("Reason", exact=True)

    def fill(
        self,
        *,
        reason: str | None = None,
        value: str | None = None,
        generate: bool | None = None,
        length: int | None = None,
        characters: dict[str, bool] | None = None,
    ) -> RotatePage:
        """``characters`` maps the start of a checkbox's label ("Symbols") to ticked or not."""
        if value is not None:
            self.new_value.fill(value)
        if generate is not None:
            self.generate.set_checked(generate)
        if length is not None:
            self.length.fill(str(length))
        for label, ticked in (characters or {}).items():
            self.characters.get_by_label(_starts_with(label)).set_checked(ticked)
        if reason is not None:
            self.reason.fill(reason)
        return self

    def submit(self) -> Any:
        """Press Rotate; returns the response (the caller checks where it landed)."""
        with self.page.expect_navigation() as navigation:
            self.main.get_by_role("button", name="Rotate").click()
        return navigation.value

    def rotate_and_show(self) -> RevealedPage:
        """Submit with "generate" ticked: the new value is shown once."""
        self.submit()
        shown = RevealedPage(self.page)
        expect(shown.value).to_be_visible()
        return shown

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class CredentialNoteForm(BasePage):
    """Add a credential note (from an account's or a profile's page)."""

    def open_new(self, account_id: int) -> CredentialNoteForm:
        self.page.goto(f"/credentials/new?account={account_id}")
        expect(self.heading).to_have_text("Add a credential note")
        return self

    def field(self, label: str) -> Locator:
        return self.main.get_by_label(label, exact=True)

    def save(self) -> CredentialNoteForm:
        with self.page.expect_navigation():
            self.main.get_by_role("button", name=re.compile(r"^(Add credential note|Save changes)$")).click()
        return self

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


# --- Access reviews -------------------------------------------------------------------------


class ReviewsPage(BasePage):
    """/reviews/: the campaigns (for those who follow them) and "My reviews" (the signed-in person's tasks)."""

    def open(self) -> ReviewsPage:
        self.page.goto("/reviews/")
        expect(self.heading).to_have_text("Reviews")
        return self

    @property
    def mine(self) -> Locator:
        return self.region("My reviews")

    @property
    def campaigns(self) -> Locator:
        return self.main.get_by_role("table", name="Review campaigns, open ones first")

    def my_accounts(self) -> list[str]:
        """The accounts waiting for the signed-in person, in the order listed (overdue first)."""
        rows = self.mine.locator("tbody").get_by_role("row").all()
        return [" ".join(row.get_by_role("cell").first.inner_text().split()) for row in rows]

    def open_task(self, account: str) -> ReviewTaskPage:
        self.mine.get_by_role("link", name=f"Review {account}", exact=True).click()
        task = ReviewTaskPage(self.page)
        expect(task.heading).to_contain_text(f"Review {account}")
        return task

    def open_campaign_form(self) -> CampaignForm:
        self.main.get_by_role("link", name="Open a review campaign").first.click()
        form = CampaignForm(self.page)
        expect(form.heading).to_have_text("Open a review campaign")
        return form

    def open_campaign(self, name: str) -> CampaignPage:
        self.campaigns.get_by_role("link", name=name, exact=True).click()
        campaign = CampaignPage(self.page)
        expect(campaign.heading).to_contain_text(name)
        return campaign


class CampaignForm(BasePage):
    def fill(self, *, name: str, due_on: str | None = None, departments: list[str] | None = None) -> CampaignForm:
        self.main.get_by_label("Name", exact=True).fill(name)
        if due_on is not None:
            self.main.get_by_label("Due date", exact=True).fill(due_on)
        if departments is not None:
            self.main.get_by_label("Departments", exact=True).select_option(label=departments)
        return self

    def submit(self) -> CampaignPage:
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Open campaign").click()
        return CampaignPage(self.page)

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class CampaignPage(BasePage):
    """A campaign: progress overall and by department, its accounts, and who confirmed what."""

    @property
    def progress(self) -> Locator:
        return self.region("Progress")

    @property
    def overall(self) -> Locator:
        """The overall progress bar (a native <progress>, named by its aria-label)."""
        return self.progress.get_by_role("progressbar", name=_starts_with("All accounts"))

    def department_row(self, name: str) -> Locator:
        return self.progress.get_by_role("row").filter(has=self.page.get_by_role("rowheader", name=name, exact=True))

    @property
    def tasks(self) -> Locator:
        return self.region("Accounts")

    @property
    def report(self) -> Locator:
        return self.region("Who confirmed what")

    def report_rows(self) -> list[str]:
        rows = self.report.locator("tbody").get_by_role("row").all_inner_texts()
        return [" ".join(text.split()) for text in rows]

    def open_account(self, name: str) -> AccountDetail:
        self.tasks.get_by_role("link", name=name, exact=True).click()
        detail = AccountDetail(self.page)
        expect(detail.heading).to_contain_text(name)
        return detail


class ReviewTaskPage(BasePage):
    """One account to review: what controls it, links to correct it, and the two answers."""

    @property
    def recovery(self) -> Locator:
        return self.region("Recovery contacts")

    @property
    def answer(self) -> Locator:
        return self.region("Your answer")

    def everything_is_right(self, note: str | None = None) -> ReviewsPage:
        if note is not None:
            self.answer.get_by_label(_starts_with("Anything to add")).fill(note)
        with self.page.expect_navigation():
            self.answer.get_by_role("button", name="Everything is right").click()
        return ReviewsPage(self.page)

    def i_corrected_it(self, note: str) -> ReviewsPage:
        self.answer.get_by_label(_starts_with("What did you correct?")).fill(note)
        with self.page.expect_navigation():
            self.answer.get_by_role("button", name="I corrected it").click()
        return ReviewsPage(self.page)

    def correct_recovery_contacts(self) -> AccountDetail:
        """Follow the link to the account page's recovery contacts (the steward edits them in place)."""
        self.recovery.get_by_role("link", name=_starts_with("Change the recovery contacts")).click()
        detail = AccountDetail(self.page)
        expect(detail.recovery).to_be_visible()
        return detail


class RemovePartPage(BasePage):
    """The confirmation page before a role, recovery contact or connection is removed from an account."""

    def confirm(self) -> AccountDetail:
        with self.page.expect_navigation():
            self.main.get_by_role("button", name=_starts_with("Remove")).click()
        return AccountDetail(self.page)


# --- Offboarding ----------------------------------------------------------------------------


class OffboardingCasesPage(BasePage):
    """/offboarding/: the cases, open ones first, with a link to start one (HR and admins)."""

    def open(self, status: str | None = None) -> OffboardingCasesPage:
        self.page.goto("/offboarding/" + (f"?status={status}" if status else ""))
        expect(self.heading).to_have_text("Offboarding")
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table")

    def start(self) -> StartOffboardingPage:
        self.main.get_by_role("link", name="Start offboarding").click()
        form = StartOffboardingPage(self.page)
        expect(form.heading).to_have_text("Start offboarding")
        return form


class StartOffboardingPage(BasePage):
    """Start a case: who is leaving, their last day, why. Reached from the cases list or a person's page."""

    def open(self, person_id: int | None = None) -> StartOffboardingPage:
        self.page.goto("/offboarding/new" + (f"?person={person_id}" if person_id else ""))
        expect(self.heading).to_have_text("Start offboarding")
        return self

    @property
    def person(self) -> Locator:
        return self.main.get_by_label("Person leaving", exact=True)

    def fill(self, *, person: str | None = None, last_day: str | None = None, reason: str | None = None) -> StartOffboardingPage:
        if person is not None:
            choose(self.person, person)
        if last_day is not None:
            self.main.get_by_label("Last working day", exact=True).fill(last_day)
        if reason is not None:
            self.main.get_by_label(_starts_with("Reason")).fill(reason)
        return self

    def submit(self) -> OffboardingCasePage:
        """Press "Start offboarding"; the caller checks where it landed (the case, or this form with errors)."""
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Start offboarding").click()
        return OffboardingCasePage(self.page)

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class ChecklistEntry:
    """One item of a case's checklist (a list item of its account's group): its facts and its small forms."""

    def __init__(self, case: OffboardingCasePage, locator: Locator) -> None:
        self.case = case
        self.page = case.page
        self.locator = locator

    @property
    def title(self) -> str:
        return " ".join(self.locator.get_by_role("paragraph").first.inner_text().split())

    def fact(self, term: str) -> Locator:
        """One of the item's facts ("Assigned to", "Done by", "Now held by"…): a <dd> after its <dt>."""
        return self.locator.locator(f"dt:text-is('{term}') + dd")

    def field(self, label: str) -> Locator:
        return self.locator.get_by_label(label, exact=True)

    def fill(self, **fields: str) -> ChecklistEntry:
        """Type into the item's text fields, by label (``fields`` maps label to value)."""
        for label, value in fields.items():
            self.field(label).fill(value)
        return self

    def choose(self, label: str, option: str) -> ChecklistEntry:
        choose(self.field(label), option)
        return self

    def press(self, button: str) -> OffboardingCasePage:
        """Press one of the item's buttons ("Add admin", "Confirm I have control"…) and wait for the page to come back."""
        with self.page.expect_navigation():
            self.locator.get_by_role("button", name=button, exact=True).click()
        return self.case

    def confirm_control(self) -> OffboardingCasePage:
        self.press("Confirm I have control")
        self.case.expect_flash("you confirmed you have control")
        return self.case

    def waive(self) -> WaiveItemPage:
        self.locator.get_by_role("link", name=_starts_with("Waive this item")).click()
        form = WaiveItemPage(self.page)
        expect(form.heading).to_contain_text("Waive “")
        return form

    @property
    def problems(self) -> Locator:
        return self.locator.get_by_role("alert")


class OffboardingCasePage(BasePage):
    """A case: progress, the checklist grouped by account (then profile, then the person's own steps), the timeline."""

    def open(self, case_id: int) -> OffboardingCasePage:
        self.page.goto(f"/offboarding/{case_id}")
        expect(self.heading).to_contain_text("Offboarding ")
        return self

    @property
    def case_id(self) -> int:
        match = re.search(r"/offboarding/(\d+)", self.page.url)
        assert match, self.page.url
        return int(match.group(1))

    @property
    def progress(self) -> Locator:
        return self.region("Progress")

    @property
    def timeline(self) -> Locator:
        return self.region("Timeline")

    def group(self, account: str, platform: str) -> Locator:
        """The items about one account (a section named by the account and its platform)."""
        return self.main.get_by_role("region", name=re.compile(rf"^\s*{re.escape(account)}\s+{re.escape(platform)}\s*$"))

    def own_steps(self, person: str) -> Locator:
        """The person-level items: sign-in, exit declaration, the organisation's own steps."""
        return self.region(f"{person}: sign-in, declaration")

    def item(self, group: Locator, title: str) -> ChecklistEntry:
        """The item of ``group`` whose title starts with ``title``."""
        entry = group.get_by_role("listitem").filter(has_text=_starts_with(title))
        expect(entry).to_have_count(1)
        return ChecklistEntry(self, entry)

    def titles(self, group: Locator) -> list[str]:
        """The titles of a group's items, in checklist order."""
        entries = group.get_by_role("listitem").filter(has=self.page.get_by_role("paragraph")).all()
        return [ChecklistEntry(self, entry).title for entry in entries]

    def _case_button(self, name: str) -> None:
        with self.page.expect_navigation():
            self.progress.get_by_role("button", name=name, exact=True).click()

    def close_case(self) -> OffboardingCasePage:
        """Press "Close case"; the caller checks the flash (closed) or :attr:`problems` (what is left)."""
        self._case_button("Close case")
        return self

    def refresh(self) -> OffboardingCasePage:
        self._case_button("Refresh")
        return self

    def exit_declaration(self) -> ExitDeclarationPage:
        self.main.get_by_role("link", name="Fill in the exit declaration").click()
        form = ExitDeclarationPage(self.page)
        expect(form.heading).to_contain_text("Exit declaration of ")
        return form

    def report(self) -> HandoverReportPage:
        self.main.get_by_role("link", name="Handover report", exact=True).click()
        report = HandoverReportPage(self.page)
        expect(report.heading).to_contain_text("Handover report: ")
        return report

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class WaiveItemPage(BasePage):
    def waive(self, reason: str) -> OffboardingCasePage:
        self.main.get_by_label("Why is this item not needed?", exact=True).fill(reason)
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Waive the item").click()
        return OffboardingCasePage(self.page)


class ExitDeclarationPage(BasePage):
    def nothing_to_declare(self) -> OffboardingCasePage:
        """Tick "no other accounts" and send the declaration."""
        self.main.get_by_label("There are no other organisation accounts to declare", exact=True).check()
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Send the declaration").click()
        return OffboardingCasePage(self.page)


class HandoverReportPage(BasePage):
    """The report frozen when a case closes: per account, each step, who held it before and now, who did it."""

    def rows(self) -> list[dict[str, str]]:
        """Every step of the report, as {column header: cell text}, in order."""
        out: list[dict[str, str]] = []
        for table in self.main.get_by_role("table").all():
            headers = [" ".join(t.split()) for t in table.get_by_role("columnheader").all_inner_texts()]
            for row in table.locator("tbody").get_by_role("row").all():
                cells = [" ".join(t.split()) for t in row.get_by_role("cell").all_inner_texts()]
                out.append(dict(zip(headers, cells, strict=True)))
        return out


class MyTasksPage(BasePage):
    def open(self) -> MyTasksPage:
        self.page.goto("/offboarding/tasks")
        expect(self.heading).to_have_text("My tasks")
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table", name="My offboarding tasks, overdue first")

    def open_task(self, title: str) -> OffboardingCasePage:
        self.table.get_by_role("link", name=_starts_with(title)).click()
        case = OffboardingCasePage(self.page)
        expect(case.heading).to_contain_text("Offboarding ")
        return case


class FindingsPage(BasePage):
    def open(self, rule: str | None = None) -> FindingsPage:
        self.page.goto("/findings/" + (f"?rule={rule}" if rule else ""))
        expect(self.heading).to_have_text("Findings")
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table", name="Findings, most severe first")


# --- Sign-ins: the two-factor step, forgotten passwords, invitations, my account, users -----


def totp_now(secret: str) -> str:
    """The code an authenticator app holding ``secret`` shows now (what a person types)."""
    return pyotp.TOTP(secret).now()


class TwoFactorSignInPage(BasePage):
    """/login/two-factor: after the password, a code from the app or a recovery code."""

    @property
    def code(self) -> Locator:
        return self.main.get_by_label("Code", exact=True)

    def submit(self, code: str) -> TwoFactorSignInPage:
        """Type the code and press Sign in; the caller checks where it landed."""
        self.code.fill(code)
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Sign in").click()
        return self

    def sign_in(self, code: str) -> HomePage:
        self.submit(code)
        home = HomePage(self.page)
        home.expect_flash("Signed in as")
        return home

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class ForgotPasswordPage(BasePage):
    """/login/forgot: the email to send a reset link to."""

    def open(self) -> ForgotPasswordPage:
        self.page.goto("/login/forgot")
        expect(self.heading).to_have_text("Forgotten your password?")
        return self

    def request(self, email: str) -> CheckEmailPage:
        """Ask for a link: the answer is "Check your email" whether or not the address has a sign-in."""
        self.main.get_by_label("Email", exact=True).fill(email)
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Email me a link").click()
        sent = CheckEmailPage(self.page)
        expect(sent.heading).to_have_text("Check your email")
        return sent

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class CheckEmailPage(BasePage):
    """What /login/forgot answers: a link is on its way (if the address has a sign-in)."""


class NewPasswordPage(BasePage):
    """The page a link in an email opens: /invite/<token> ("Welcome to Handover") or
    /login/reset/<token> ("Choose a new password"). Both ask for a new password twice."""

    def open(self, link: str) -> Any:
        """Open the link (the whole URL from the email); returns the response."""
        return self.page.goto(link)

    @property
    def lede(self) -> Locator:
        return self.main.locator(".lede")

    def fill(self, password: str, confirm: str | None = None) -> NewPasswordPage:
        self.main.get_by_label("New password", exact=True).fill(password)
        self.main.get_by_label("Type it again", exact=True).fill(password if confirm is None else confirm)
        return self

    def save(self, password: str, confirm: str | None = None) -> Any:
        """Type the password twice and press the button; returns the response (the caller checks where it landed)."""
        self.fill(password, confirm)
        with self.page.expect_navigation() as navigation:
            self.main.get_by_role("button", name=re.compile(r"^(Save the new password|Set my password and sign in)$")).click()
        return navigation.value

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class LinkInvalidPage(BasePage):
    """A used, cancelled, expired or altered link: "This link cannot be used", and why."""

    def expect_shown(self, why: str) -> LinkInvalidPage:
        expect(self.heading).to_have_text("This link cannot be used")
        expect(self.main).to_contain_text(why)
        expect(self.main).to_contain_text("Nothing was changed.")
        return self


class MyAccountPage(BasePage):
    """/account/: this sign-in, two factors, the password form, the last sign-ins."""

    def open(self) -> MyAccountPage:
        self.page.goto("/account/")
        expect(self.heading).to_have_text("My account")
        return self

    @property
    def this_sign_in(self) -> Locator:
        return self.region("This sign-in")

    @property
    def two_factors(self) -> Locator:
        return self.region("Two factors")

    @property
    def sign_ins(self) -> Locator:
        return self.region("Your last sign-ins")

    def sign_out_everywhere(self) -> LoginPage:
        with self.page.expect_navigation():
            self.this_sign_in.get_by_role("button", name="Sign out everywhere").click()
        return LoginPage(self.page)


class TwoFactorEnrolPage(BasePage):
    """/account/two-factor before two factors are on: the QR code, the key to type, the code to confirm."""

    def open(self) -> TwoFactorEnrolPage:
        self.page.goto("/account/two-factor")
        expect(self.heading).to_have_text("Set up two factors")
        return self

    @property
    def qr_code(self) -> Locator:
        """The QR code (an inline SVG titled "QR code") in its figure."""
        return self.region("1. Add Handover").get_by_role("figure").locator("svg")

    @property
    def secret(self) -> str:
        """The set-up key, as a person would copy it into the app."""
        return self.page.locator("#totp-secret").inner_text().strip()

    @property
    def code(self) -> Locator:
        return self.main.get_by_label("Code from the app", exact=True)

    def submit(self, code: str) -> Any:
        """Type ``code`` and press "Turn on two factors"; returns the response."""
        self.code.fill(code)
        with self.page.expect_navigation() as navigation:
            self.main.get_by_role("button", name="Turn on two factors").click()
        return navigation.value

    def turn_on(self, code: str) -> RecoveryCodesPage:
        self.submit(code)
        codes = RecoveryCodesPage(self.page)
        expect(codes.heading).to_have_text("Two factors are on")
        return codes

    def enrol(self) -> tuple[str, RecoveryCodesPage]:
        """Read the key off the page, as an authenticator app would, and type the code it shows now."""
        secret = self.secret
        return secret, self.turn_on(totp_now(secret))

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class RecoveryCodesPage(BasePage):
    """The ten recovery codes, shown once (after enrolment, or when new ones are made)."""

    @property
    def codes(self) -> list[str]:
        return [code.strip() for code in self.region("Recovery codes").get_by_role("listitem").all_inner_texts()]

    def go_on(self) -> MyAccountPage:
        self.main.get_by_role("link", name="I have kept them: go on").click()
        account = MyAccountPage(self.page)
        expect(account.heading).to_have_text("My account")
        return account


class UsersPage(BasePage):
    """/users/ (admins): who can sign in, with which role and how."""

    def open(self, query: str = "") -> UsersPage:
        self.page.goto("/users/" + (f"?{query}" if query else ""))
        expect(self.heading).to_have_text("Users")
        return self

    @property
    def table(self) -> Locator:
        return self.main.get_by_role("table", name="Users")

    def row(self, email: str) -> Locator:
        return self.table.get_by_role("row").filter(has=self.page.get_by_role("link", name=email, exact=True))

    def cell(self, email: str, header: str) -> Locator:
        return _column(self.table, self.row(email), header)

    def invite(self) -> InviteUserPage:
        self.main.get_by_role("link", name="Invite someone").first.click()
        form = InviteUserPage(self.page)
        expect(form.heading).to_have_text("Invite someone")
        return form

    def open_user(self, email: str) -> UserPage:
        self.row(email).get_by_role("link", name=email, exact=True).click()
        user = UserPage(self.page)
        expect(user.heading).to_have_text(email)
        return user


class InviteUserPage(BasePage):
    """/users/invite: the email, the role and (optionally) the person the sign-in belongs to."""

    def open(self) -> InviteUserPage:
        self.page.goto("/users/invite")
        expect(self.heading).to_have_text("Invite someone")
        return self

    def fill(self, *, email: str | None = None, role: str | None = None, person: str | None = None) -> InviteUserPage:
        if email is not None:
            self.main.get_by_label("Email", exact=True).fill(email)
        if role is not None:
            choose(self.main.get_by_label("Role", exact=True), role)
        if person is not None:
            choose(self.main.get_by_label("Person", exact=True), person)
        return self

    def send(self) -> UserPage:
        """Press "Send the invitation"; the caller checks where it landed (the user's page, or this form)."""
        with self.page.expect_navigation():
            self.main.get_by_role("button", name="Send the invitation").click()
        return UserPage(self.page)

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")


class UserPage(BasePage):
    """/users/<id>: one sign-in, what can be changed about it, its last sign-ins and history."""

    def open(self, user_id: int) -> UserPage:
        self.page.goto(f"/users/{user_id}")
        return self

    @property
    def user_id(self) -> int:
        match = re.search(r"/users/(\d+)", self.page.url)
        assert match, self.page.url
        return int(match.group(1))

    @property
    def lede(self) -> Locator:
        """Role · status · person."""
        return self.main.locator(".lede").first

    def fact(self, term: str) -> Locator:
        return self.region("Sign-in").locator(f"dt:text-is('{term}') + dd")

    def deactivate(self) -> DeactivateUserPage:
        self.main.get_by_role("link", name="Deactivate…").click()
        form = DeactivateUserPage(self.page)
        expect(form.heading).to_contain_text("Deactivate ")
        return form


class DeactivateUserPage(BasePage):
    """/users/<id>/deactivate: why, then the sign-in stops."""

    def open(self, user_id: int) -> DeactivateUserPage:
        self.page.goto(f"/users/{user_id}/deactivate")
        return self

    def submit(self, reason: str) -> Any:
        self.main.get_by_label("Reason", exact=True).fill(reason)
        with self.page.expect_navigation() as navigation:
            self.main.get_by_role("button", name="Deactivate").click()
        return navigation.value

    @property
    def problems(self) -> Locator:
        return self.main.get_by_role("alert")
