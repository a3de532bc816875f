"""axe-core on the main pages, as each role sees them: no "serious" or "critical" violation.

One browser context per role (signed in once) visits every page that role may see, with the
registry filled so the pages show their badges, notices, lists, history and pagination, an open
review campaign, an offboarding case with open, awaiting-confirmation and done items, and a
closed case with its handover report, and sign-ins in every state (invited, leaving, with two
factors). The pages only read (the forms with errors save nothing) except the vault's reveal and
generated rotation, which only add log rows and rotate a note of their own, and the sign-in pages'
own test, which uses sign-ins of its own, so one server and one seeded database serve the whole
module. Each violation is printed with its id, impact, help text and the nodes it was found on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import current_app
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import AccountStatus, PersonStatus, ProfileKind, RecoveryKind, Role
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialReveal
from app.models.offboarding import ItemKind, ItemStatus
from app.services import accounts as account_service
from app.services import checklist, mail, offboarding, reviews, two_factor
from app.services import credentials as vault
from app.services import findings as findings_service
from app.services import users as user_service
from app.services.context import Actor
from tests import factories
from tests.browser import test_csv_import as csv_pages
from tests.browser.conftest import LiveServer, age_sign_in, new_context, start_live_server
from tests.browser.pages import (
    AccountDetail,
    AccountForm,
    CredentialNoteForm,
    CredentialNotePage,
    DeactivateUserPage,
    InviteUserPage,
    LinkInvalidPage,
    LoginPage,
    NewPasswordPage,
    RotatePage,
    TwoFactorEnrolPage,
    TwoFactorSignInPage,
    totp_now,
)

# No xdist group: with ``-n 2 --dist loadgroup`` the roles spread over both workers (each starts its own server).
pytestmark = pytest.mark.browser

FAIL_ON = ("serious", "critical")
#: Rows per list page here: small, so the lists paginate without many rows for axe to check.
PER_PAGE = 8
axe = Axe()


# --- Data ---------------------------------------------------------------------------------


def _registry() -> dict[str, Any]:
    """A small library system with every kind of profile, status and risk the pages can show."""
    adult = factories.make_department("Adult Services")
    youth = factories.make_department("Youth Services")
    jo = factories.make_person("Jo Kim", department=youth, job_title="Teen librarian")
    dana = factories.make_person("Dana Okafor", department=adult, job_title="Outreach librarian", manager=jo)
    sam = factories.make_person(
        "Sam Leaver",
        PersonStatus.LEAVING,
        department=adult,
        last_day=date.today() + timedelta(days=10),
        personal_email="sam@home.example",
        hr_id="HR-0042",
    )
    pat = factories.make_person("Pat Gone", PersonStatus.DEPARTED, personal_email="pat@home.example")
    users = {role: factories.make_user(role).email for role in (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)}
    users[Role.STAFF] = factories.make_user(Role.STAFF, person=jo).email

    facebook = factories.make_platform(
        "Facebook",
        slug="facebook",
        role_names=["admin", "editor", "moderator"],
        delegated_access=True,
        owner_hint="A Page is created from a personal profile; that profile holds it until the role is handed on.",
    )
    youtube = factories.make_platform("YouTube", slug="youtube", role_names=["owner", "manager", "editor"])
    registrar = factories.make_platform("Domain registrar", slug="registrar", role_names=["account holder"])
    personal = factories.make_profile(
        facebook, ProfileKind.PERSONAL, holder=sam, name="Sam Leaver", handle="samreads", speaks_for_organisation=True
    )
    persona = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[dana])
    shared = factories.make_profile(youtube, ProfileKind.SHARED_LOGIN, name="reference@", custodians=[jo, pat])
    org = factories.make_profile(registrar, ProfileKind.ORGANISATION, name="Riverside Library System")

    page = factories.make_account(
        facebook,
        name="Riverside Library Page",
        handle="@riversidelib",
        url="https://facebook.example/riversidelib",
        purpose="News, events and patron questions.",
        department=adult,
        owner_profile=personal,
        steward=jo,
        has_own_login=False,
    )
    factories.make_admin(page, persona, "admin", since=date(2020, 5, 1))
    factories.make_admin(page, personal, "editor")
    factories.make_recovery(page, "pat@home.example", RecoveryKind.EMAIL, person=pat)
    factories.make_recovery(page, "+1 555 0100", RecoveryKind.PHONE)
    factories.make_connection(page, "Hootsuite", profile=personal, purpose="Schedules posts")
    tube = factories.make_account(
        youtube, name="Riverside YouTube", status=AccountStatus.DORMANT, owner_profile=shared, steward=dana
    )
    domain = factories.make_account(
        registrar, name="riverside.example domain", owner_profile=org, steward=pat, has_own_login=True
    )
    old_page = factories.make_account(facebook, name="Old Friends Page", status=AccountStatus.RETIRED)
    for n in range(1, PER_PAGE - 2):  # more than one page of accounts
        factories.make_account(registrar, name=f"Branch mailing list {n:02}", department=youth)

    # Two edits through the service, so the account's history shows a diff.
    actor = Actor.system("Ira Tech")
    for purpose in ("News and events.", "News, events and patron questions."):
        data = account_service.AccountData(
            platform_id=facebook.id,
            name=page.name,
            handle=page.handle,
            url=page.url,
            purpose=purpose,
            department_id=adult.id,
            status=page.status,
            owner_profile_id=personal.id,
            steward_id=jo.id,
        )
        account_service.update_account(actor, page, data, page.version)
    notes = _vault(actor, sam, domain=domain, tube=tube, persona=persona, old_page=old_page)
    work = _reviews_and_offboarding(sam, personal=personal, persona=persona, jo=jo, dana=dana, adult=adult)
    sign_ins = _sign_ins(sam, dana)
    return {"users": users, "account_id": page.id, "jo_id": jo.id, "sam_id": sam.id, **notes, **work, **sign_ins}


#: The sign-ins the sign-in pages' own test uses (nobody else signs in with them).
TWO_FACTOR_USER = "tess.two@org.example"
ENROLLING_USER = "enid.enrol@org.example"


def _sign_ins(sam: Any, dana: Any) -> dict[str, Any]:
    """Sign-ins in each state the users pages show, and the links emails would carry (email is off here)."""
    admin = Actor.system("Admin Istrator")
    # Sam is leaving and invited (the users pages say when the sign-in stops); Dana's invitation is pending too.
    invited, invite_link = user_service.invite_user(admin, "sam.work@org.example", Role.STAFF, sam.id, "", 72)
    user_service.invite_user(admin, "dana.new@org.example", Role.HR, dana.id, "", 72)
    # Two factors on (for the code step of signing in, and the users page's reset form).
    tess = factories.make_user(Role.STAFF, email=TWO_FACTOR_USER, person=factories.make_person("Tess Two"))
    enrolment = two_factor.start_enrolment(tess)
    two_factor.confirm_enrolment(admin, tess, totp_now(enrolment.secret), enrolment.pending)
    factories.make_user(Role.STAFF, email=ENROLLING_USER, person=factories.make_person("Enid Enrol"))
    # A reset link, read from the email waiting for the commit.
    user_service.request_password_reset(ENROLLING_USER, "")
    [reset_mail] = [m for m in mail.pending() if m.to == ENROLLING_USER]
    reset_link = next(word for word in reset_mail.body.split() if word.startswith("/login/reset/"))
    assert invite_link.startswith("/invite/"), invite_link
    return {"invited_id": invited.id, "two_factor_id": tess.id, "invite_link": invite_link, "reset_link": reset_link}


def _reviews_and_offboarding(sam: Any, *, personal: Any, persona: Any, jo: Any, dana: Any, adult: Any) -> dict[str, Any]:
    """An open review campaign (Jo, the staff user, has a task); Sam's case with an item in each state;
    a closed case (with its handover report) of someone who held nothing; a finding to accept."""
    hr = Actor.system("Hana HR")
    campaign = reviews.open_campaign(hr, "Spring access review", date.today() + timedelta(days=30))
    task = next(t for t in campaign.tasks if t.assignee_id == jo.id)
    # A second Page owned by Sam's personal profile, so its transfer can await confirmation without
    # changing the account the other visits show.
    events = factories.make_account(
        personal.platform, name="Riverside Events Page", department=adult, owner_profile=personal, steward=dana
    )
    db.session.flush()
    case = offboarding.start_case(hr, sam, sam.last_day, "Moving to another city")
    items = {item.kind: item for item in case.items if item.account_id in (None, events.id)}
    transfer = items[ItemKind.TRANSFER_OWNERSHIP]
    checklist.complete_item(hr, transfer, {"new_owner_profile_id": persona.id}, transfer.version)
    declaration = items[ItemKind.EXIT_DECLARATION]
    checklist.complete_item(hr, declaration, {"declared": []}, declaration.version)
    db.session.flush()
    assert {ItemStatus.OPEN, ItemStatus.AWAITING_CONFIRMATION, ItemStatus.DONE} <= {i.status for i in case.items}

    lee = factories.make_person("Lee Short", department=adult, job_title="Page")
    closed = offboarding.start_case(hr, lee, date.today() + timedelta(days=3), "End of contract")
    for item in closed.items:
        if item.kind is ItemKind.EXIT_DECLARATION:
            checklist.complete_item(hr, item, {"declared": []}, item.version)
        else:
            checklist.waive_item(hr, item, "Not needed for a short contract", item.version)
    db.session.flush()
    checklist.close_case(hr, closed)

    finding = next(
        f
        for f in findings_service.evaluate(review_interval_days=current_app.config["REVIEW_INTERVAL_DAYS"])
        if f.subject_type == "account"
    )
    return {
        "campaign_id": campaign.id,
        "task_id": task.id,
        "case_id": case.id,
        "closed_case_id": closed.id,
        "department_id": adult.id,
        "accept_path": f"/findings/{finding.rule.id}/account/{finding.subject_id}/accept",
        "finding_rule": finding.rule.id,
    }


def _vault(actor: Actor, leaver: Any, *, domain: Any, tube: Any, persona: Any, old_page: Any) -> dict[str, int]:
    """Credential notes in every state the queue shows, with a reveal log and a kept earlier value."""
    password, codes, api_key = CredentialKind.PASSWORD, CredentialKind.BACKUP_CODES, CredentialKind.API_KEY
    # Must rotate: rotated once (so an earlier value is kept), then revealed by someone who is leaving.
    registrar = vault.create_note(actor, vault.NoteData("Registrar login", password), "first-Value-1", account=domain)
    vault.rotate_note(actor, registrar, "second-Value-2", "yearly rotation")
    db.session.add(
        CredentialReveal(
            note=registrar, person=leaver, actor_name=leaver.name, reason="Renewing the domain", revealed_at=utcnow()
        )
    )
    # Overdue, and due soon (2FA codes on a persona: several lines, so its rotate form has a textarea).
    overdue = vault.create_note(actor, vault.NoteData("YouTube API key", api_key), "yt-key-0001", account=tube)
    overdue.rotated_at = utcnow() - timedelta(days=400)
    overdue.due_at = overdue.rotated_at + timedelta(days=365)
    due = vault.create_note(actor, vault.NoteData("Melvilla backup codes", codes), "1111 2222\n3333 4444", profile=persona)
    due.due_at = utcnow() + timedelta(days=10)
    due.rotated_at = due.due_at - timedelta(days=365)
    # OK, and rotated to a generated password by the test of each role (its own note: the others stay put).
    scratch = vault.create_note(actor, vault.NoteData("Old Friends login", password), "old-friends-1", account=old_page)
    db.session.flush()
    assert [vault.state_of(n).state.value for n in (registrar, overdue, due, scratch)] == ["must_rotate", "overdue", "due", "ok"]
    return {"registrar_note": registrar.id, "codes_note": due.id, "scratch_note": scratch.id, "domain_id": domain.id}


# --- Pages --------------------------------------------------------------------------------


@dataclass
class Visit:
    name: str
    go: Callable[[Page], None]
    roles: tuple[Role, ...] = tuple(Role)


def _goto(path: str, status: int = 200) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        response = page.goto(path)
        assert response is not None and response.status == status, f"{path}: {response.status if response else None}"

    return go


def _open_details(page: Page) -> None:
    """Open every <details> (the add-role/recovery/connection forms) so axe checks them too."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")


def _account_detail(account_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        _goto(f"/accounts/{account_id}")(page)
        _open_details(page)

    return go


def _admin_form_with_errors(account_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        detail = AccountDetail(page).open(account_id)
        detail.admins.get_by_text("Add an admin role", exact=True).click()
        detail.admins.get_by_role("button", name="Add role").click()
        detail.expect_flash("The role was not added")
        _open_details(page)

    return go


def _new_account_with_errors(page: Page) -> None:
    form = AccountForm(page).open_new()
    form.save()
    expect(form.problems).to_contain_text("Give the account a name.")


def _edit_with_errors(account_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        form = AccountForm(page).open_edit(account_id)
        form.fill(name="", url="not a url")
        form.save()
        expect(form.problems).to_contain_text("Give the account a name.")

    return go


def _reveal_form_with_errors(note_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        note = CredentialNotePage(page).open(note_id)
        assert note.submit_reveal("").status == 400
        expect(note.problems).to_contain_text("Say why you need the secret")

    return go


def _revealed(note_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        CredentialNotePage(page).open(note_id).reveal("Checking the accessibility of the reveal page")

    return go


def _rotate_with_errors(note_id: int, *, no_characters: bool = False) -> Callable[[Page], None]:
    """The rotate form refused: with no reason, or (``no_characters``) generating from no kind of character."""

    def go(page: Page) -> None:
        form = RotatePage(page).open(note_id)
        if no_characters:
            names = ("Lower-case", "Capital", "Digits", "Symbols")
            form.fill(generate=True, characters=dict.fromkeys(names, False), reason="Yearly rotation")
        assert form.submit().status == 400
        expect(form.problems).to_contain_text("Choose at least one kind" if no_characters else "Say why it is rotated")

    return go


def _generated(note_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        RotatePage(page).open(note_id).fill(generate=True, reason="Yearly rotation").rotate_and_show()

    return go


def _new_note_with_errors(account_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        form = CredentialNoteForm(page).open_new(account_id).save()
        expect(form.problems).to_contain_text("Give the note a label")

    return go


def _password_prompt(live: LiveServer, note_id: int, wrong_password: bool = False) -> Callable[[Page], None]:
    """The note page once the sign-in is older than the reveal window: the reveal form asks for the password."""

    def go(page: Page) -> None:
        age_sign_in(page.context, live, live.app.config["REVEAL_FRESH_AUTH_SECONDS"] + 60)
        note = CredentialNotePage(page).open(note_id)
        expect(note.password).to_be_visible()
        if wrong_password:
            assert note.submit_reveal("Checking the accessibility", password="not-my-password").status == 401
            expect(note.problems).to_contain_text("That is not your password")

    return go


def vault_visits(live: LiveServer, data: dict[str, Any]) -> list[Visit]:
    """The credential pages; last, because the password-prompt visits leave the sign-in old."""
    note, codes, scratch = data["registrar_note"], data["codes_note"], data["scratch_note"]
    readers, keepers = (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT), (Role.ADMIN, Role.IT)
    return [
        Visit("credential note (reveal form, or why not)", _goto(f"/credentials/{note}"), readers),
        Visit("credential note, reveal form with errors", _reveal_form_with_errors(note), keepers),
        Visit("revealed secret", _revealed(note), keepers),
        Visit("rotate form (one line)", _goto(f"/credentials/{note}/rotate"), keepers),
        Visit("rotate form (several lines) with errors", _rotate_with_errors(codes), keepers),
        Visit("rotate form, no kind of character", _rotate_with_errors(codes, no_characters=True), keepers),
        Visit("generated value shown once", _generated(scratch), keepers),
        Visit("rotation queue", _goto("/credentials/queue"), keepers),
        Visit("add credential note form", _goto(f"/credentials/new?account={data['domain_id']}"), keepers),
        Visit("add credential note form with errors", _new_note_with_errors(data["domain_id"]), keepers),
        Visit("credential note, password prompt", _password_prompt(live, note), keepers),
        Visit("credential note, wrong password", _password_prompt(live, note, wrong_password=True), keepers),
    ]


def _problems_shown(page: Page) -> None:
    expect(page.get_by_role("main").get_by_role("alert").first).to_be_visible()


def _two_factor_set_up(page: Page) -> None:
    """Setting up two factors: the QR code and the key to type (it only makes a pending key)."""
    expect(TwoFactorEnrolPage(page).open().qr_code).to_be_visible()


def _invite_form_with_errors(page: Page) -> None:
    """Inviting an address that already has a sign-in: refused, nobody invited."""
    form = InviteUserPage(page).open().fill(email="sam.work@org.example", role="HR")
    form.send()
    expect(form.problems).to_contain_text("already has a sign-in")


def _deactivate_with_errors(user_id: int) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        assert DeactivateUserPage(page).open(user_id).submit("").status == 400
        _problems_shown(page)

    return go


def sign_in_visits(data: dict[str, Any]) -> list[Visit]:
    """Everyone's own account and two-factor set-up; the users pages (admins)."""
    admins = (Role.ADMIN,)
    invited, with_two_factors = data["invited_id"], data["two_factor_id"]
    return [
        Visit("my account", _goto("/account/")),
        Visit("two-factor set-up (QR code)", _two_factor_set_up),
        Visit("users list", _goto("/users/"), admins),
        Visit("users list, nobody matches", _goto("/users/?q=nobody&status=deactivated"), admins),
        Visit("invite form", _goto("/users/invite"), admins),
        Visit("invite form with errors", _invite_form_with_errors, admins),
        Visit("user: invited, leaving", _goto(f"/users/{invited}"), admins),
        Visit("user: two factors on", _goto(f"/users/{with_two_factors}"), admins),
        Visit("deactivate form", _goto(f"/users/{invited}/deactivate"), admins),
        Visit("deactivate form with errors", _deactivate_with_errors(with_two_factors), admins),
    ]


def _with_details(path: str) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        _goto(path)(page)
        _open_details(page)

    return go


def _dashboard(page: Page) -> None:
    """Directors' and admins' home: the dashboard, with its charts."""
    _goto("/")(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("main").locator("svg").first).to_be_visible()


def _campaign_form_with_errors(page: Page) -> None:
    _goto("/reviews/new")(page)
    page.get_by_label("Name", exact=True).fill("")
    with page.expect_navigation():
        page.get_by_role("main").get_by_role("button", name="Open campaign").click()
    expect(page.get_by_role("main").get_by_role("alert").first).to_be_visible()


def work_visits(data: dict[str, Any]) -> list[Visit]:
    """Findings and reports, review campaigns, offboarding."""
    readers, deciders, keepers = (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT), (Role.ADMIN, Role.DIRECTOR), (Role.ADMIN, Role.HR)
    case = data["case_id"]
    return [
        Visit("findings list", _goto("/findings/")),
        Visit("findings list, filtered", _goto(f"/findings/?rule={data['finding_rule']}&show=all")),
        Visit("organisation report", _goto("/findings/report"), readers),
        Visit("department report", _goto(f"/findings/report/department/{data['department_id']}"), readers),
        Visit("risk-acceptance form", _goto(data["accept_path"]), deciders),
        Visit("reviews list", _goto("/reviews/")),
        Visit("campaign page", _goto(f"/reviews/{data['campaign_id']}"), readers),
        Visit("new-campaign form", _goto("/reviews/new"), deciders),
        Visit("new-campaign form with errors", _campaign_form_with_errors, deciders),
        Visit("review task page", _goto(f"/reviews/tasks/{data['task_id']}"), (Role.ADMIN, Role.STAFF)),
        Visit("offboarding cases", _goto("/offboarding/"), readers),
        Visit("offboarding case (item forms open)", _with_details(f"/offboarding/{case}"), (*readers, Role.STAFF)),
        Visit("start-offboarding form", _goto("/offboarding/new"), keepers),
        Visit("my tasks", _goto("/offboarding/tasks")),
        Visit("closed case's handover report", _goto(f"/offboarding/{data['closed_case_id']}/report"), readers),
    ]


def visits(data: dict[str, Any]) -> list[Visit]:
    account = data["account_id"]
    readers, editors = (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT), (Role.ADMIN, Role.IT)
    return [
        Visit("home page", _goto("/"), (Role.HR, Role.IT, Role.STAFF)),
        Visit("dashboard (home of directors and admins)", _dashboard, (Role.ADMIN, Role.DIRECTOR)),
        Visit("accounts list", _goto("/accounts/")),
        Visit("account detail (sub-forms open)", _account_detail(account)),
        Visit("account edit form", _goto(f"/accounts/{account}/edit"), (*editors, Role.STAFF)),
        Visit("new account form with errors", _new_account_with_errors, editors),
        Visit("account edit form with errors", _edit_with_errors(account), (Role.STAFF,)),
        Visit("account detail, add-role form with errors", _admin_form_with_errors(account), editors),
        Visit("people list", _goto("/people/"), readers),
        Visit("person page (footprint)", _goto(f"/people/{data['sam_id']}"), readers),
        Visit("own person page", _goto(f"/people/{data['jo_id']}"), (Role.STAFF,)),
        Visit("search results", _goto("/search?q=riverside")),
        Visit("404 page", _goto("/accounts/999999", 404)),
        Visit("people import page", _goto("/imports/people"), (Role.ADMIN, Role.HR)),
        Visit("people import preview", csv_pages.people_preview, (Role.ADMIN, Role.HR)),
        Visit("accounts import page", _goto("/imports/accounts"), editors),
        Visit("accounts import preview with problems", csv_pages.accounts_preview_with_problems, editors),
    ]


# --- Checking -----------------------------------------------------------------------------


def _describe(violation: dict[str, Any]) -> str:
    lines = [f"  [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"]:
        why = " ".join(node.get("failureSummary", "").split())
        lines.append(f"      at {', '.join(str(t) for t in node['target'])}: {why}")
    return "\n".join(lines)


def audit(page: Page, where: str) -> list[str]:
    """Run axe on the page; returns the report lines of serious/critical violations (and prints all)."""
    results = axe.run(page)
    violations = results.response["violations"]
    failing = [v for v in violations if v["impact"] in FAIL_ON]
    print(f"{where}: {len(violations)} violation(s), {len(failing)} serious/critical")
    for violation in violations:
        print(_describe(violation))
    return [f"{where} ({page.url}):\n{_describe(v)}" for v in failing]


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, _chromium_installed: None
) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    live = start_live_server(sqlite_template, tmp_path_factory.mktemp("a11y"), PER_PAGE=PER_PAGE)
    try:
        yield live, live.seed(_registry)
    finally:
        live.stop()


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "anonymous")
def test_pages_have_no_serious_accessibility_violations(
    browser: Any, registry: tuple[LiveServer, dict[str, Any]], role: Role | None
) -> None:
    live, data = registry
    context = new_context(browser, live)
    try:
        page = context.new_page()
        problems: list[str] = []
        login = LoginPage(page).open()
        if role is None:
            expect(login.main.get_by_role("link", name="Forgotten your password?")).to_be_visible()
            problems += audit(page, "anonymous: sign-in page")
            page.get_by_role("button", name="Sign in").click()
            expect(login.main.get_by_role("alert")).to_contain_text("Enter your email address.")
            problems += audit(page, "anonymous: sign-in page with errors")
        else:
            login.sign_in(data["users"][role])
            for visit in [*visits(data), *work_visits(data), *sign_in_visits(data), *vault_visits(live, data)]:
                if role in visit.roles:
                    visit.go(page)
                    problems += audit(page, f"{role.value}: {visit.name}")
        assert not problems, "axe found serious or critical violations:\n" + "\n".join(problems)
    finally:
        context.close()


def test_sign_in_pages_have_no_serious_accessibility_violations(
    browser: Any, registry: tuple[LiveServer, dict[str, Any]]
) -> None:
    """The pages on the way in: a forgotten password, the links emails carry, the two-factor step,
    setting up two factors and the recovery codes shown once (with their error states)."""
    live, data = registry
    context = new_context(browser, live)
    try:
        page = context.new_page()
        problems: list[str] = []

        # A forgotten password: the form, the form with errors, the answer.
        forgot = LoginPage(page).open().forgot_password()
        problems += audit(page, "forgotten password form")
        with page.expect_navigation():
            forgot.main.get_by_role("button", name="Email me a link").click()
        expect(forgot.problems).to_contain_text("Enter the email you sign in with.")
        problems += audit(page, "forgotten password form with errors")
        forgot.request("someone@org.example")
        problems += audit(page, "check your email")

        # The links emails carry: a new password (and its errors), an invitation, a link that cannot be used.
        chooser = NewPasswordPage(page)
        assert chooser.open(data["reset_link"]).status == 200
        expect(chooser.heading).to_have_text("Choose a new password")
        problems += audit(page, "reset link: choose a new password")
        assert chooser.save("one long passphrase", confirm="another long passphrase").status == 400
        expect(chooser.problems).to_contain_text("The two passwords differ.")
        problems += audit(page, "reset link with errors")
        assert chooser.open(data["invite_link"]).status == 200
        expect(chooser.heading).to_have_text("Welcome to Handover")
        problems += audit(page, "invitation")
        assert chooser.open("/login/reset/not-a-real-token").status == 400
        LinkInvalidPage(page).expect_shown("This link is not valid")
        problems += audit(page, "link that cannot be used")

        # The two-factor step of signing in, and a wrong code.
        LoginPage(page).open().submit(TWO_FACTOR_USER, factories.PASSWORD)
        step = TwoFactorSignInPage(page)
        expect(step.heading).to_have_text("Confirm it is you")
        problems += audit(page, "two-factor step")
        step.submit("000000")
        expect(step.problems).to_contain_text("That code is not right")
        problems += audit(page, "two-factor step with errors")

        # Setting up two factors (a wrong code first), the recovery codes, two factors on.
        LoginPage(page).open().sign_in(ENROLLING_USER)
        enrol = TwoFactorEnrolPage(page).open()
        assert enrol.submit("000000").status == 400
        expect(enrol.problems).to_contain_text("That code does not match")
        problems += audit(page, "two-factor set-up with errors")
        _, shown = enrol.enrol()
        assert len(shown.codes) == 10
        problems += audit(page, "recovery codes")
        _goto("/account/two-factor")(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Two factors")
        problems += audit(page, "two factors on")
        assert not problems, "axe found serious or critical violations:\n" + "\n".join(problems)
    finally:
        context.close()
