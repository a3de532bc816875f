"""Signing in as a new organisation does it, in a real browser, with email through a real SMTP server.

The first test is the whole path from an empty database: the first admin is made on the command
line, signs in, must set up two factors before anything else, invites IT; the invitation arrives by
email, IT sets a password from its link, must set up two factors too, then reveals a secret. The
second is a forgotten password: the link arrives by email, the new password ends the older session,
and the link works once.

The authenticator app is played by pyotp, reading the set-up key off the page as a person would
type it. A code is refused if reused within its 30-second step by the same user, so each user here
types one code only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from app.models import Role
from app.models.credential import CredentialKind
from app.services import credentials as vault
from app.services.context import Actor
from tests import factories
from tests.browser.conftest import LiveServer, new_context, start_live_server
from tests.browser.pages import (
    CredentialNotePage,
    LinkInvalidPage,
    LoginPage,
    MyAccountPage,
    NewPasswordPage,
    TwoFactorEnrolPage,
    UsersPage,
)
from tests.integration.test_mail import Inbox, body_of, start

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-sign-ins")]

ADMIN = "director.admin@riverside.example"
ADMIN_PASSWORD = "first admin's long passphrase"
IT = "ira.tech@riverside.example"
IT_PASSWORD = "ira's own pass phrase 2026"
NOTE = "Registrar login"
NOTE_VALUE = "correct-Horse-battery-7!"
REASON = "Renewing the domain before it lapses"
TWO_FACTOR = re.compile(r"/account/two-factor$")
RECOVERY_CODE = re.compile(r"^[a-z2-9]{5}-[a-z2-9]{5}$")


@pytest.fixture
def smtp() -> Iterator[Controller]:
    """A real SMTP server on a free local port (aiosmtpd); ``smtp.handler`` is its Inbox."""
    controller = start(Inbox())
    yield controller
    controller.stop()


@pytest.fixture
def live(smtp: Controller, sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on an empty database, as an organisation would run it: two factors required of
    admins and IT, email through the SMTP server above, links in emails pointing at this server."""
    server = start_live_server(
        sqlite_template,
        tmp_path,
        MFA_REQUIRED_ROLES=("admin", "it"),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_FROM="handover@riverside.example",
    )
    # The port is known only once the server listens; the app reads BASE_URL at each request.
    server.app.config["BASE_URL"] = server.url
    yield server
    server.stop()


def mail_to(inbox: Inbox, address: str, count: int = 1) -> EmailMessage:
    """The ``count``-th message to ``address`` (it is sent after the request's commit: wait a little)."""
    deadline = time.monotonic() + 10
    while len(inbox.to(address)) < count:
        assert time.monotonic() < deadline, f"no message #{count} to {address}; received: {inbox.subjects()}"
        time.sleep(0.05)
    return inbox.to(address)[count - 1]


def link_in(message: EmailMessage, path: str) -> str:
    """The one link in the message's body whose path starts with ``path``."""
    links = re.findall(rf"https?://\S+{re.escape(path)}\S+", body_of(message))
    assert len(links) == 1, f"expected one {path} link in:\n{body_of(message)}"
    return links[0]


def _registry() -> dict[str, Any]:
    """What the admin records before inviting IT: the IT person in the staff list, a domain and its login."""
    factories.make_person("Ira Tech", work_email=IT, job_title="Systems librarian")
    registrar = factories.make_platform("Domain registrar", slug="registrar")
    domain = factories.make_account(registrar, name="riverside.example domain")
    note = vault.create_note(
        Actor.system("Director Admin"), vault.NoteData(NOTE, CredentialKind.PASSWORD), NOTE_VALUE, account=domain
    )
    return {"note_id": note.id}


def test_a_new_organisation_sets_up_sign_ins_and_it_reveals_a_secret(browser: Any, live: LiveServer, smtp: Controller) -> None:
    inbox: Inbox = smtp.handler
    admin_context = new_context(browser, live)
    it_context = new_context(browser, live)
    try:
        # A new installation: nobody can sign in; the sign-in page says how to make the first admin.
        page = admin_context.new_page()
        login = LoginPage(page).open()
        expect(login.first_run_notice).to_contain_text("Nobody can sign in yet")
        result = live.app.test_cli_runner().invoke(args=["users", "create-admin", "--email", ADMIN, "--password", ADMIN_PASSWORD])
        assert result.exit_code == 0, result.output
        assert f"Created admin {ADMIN}." in result.output
        data = live.seed(_registry)
        login.open()
        expect(login.first_run_notice).to_have_count(0)

        # The admin signs in and is sent to set up two factors before anything else.
        login.sign_in(ADMIN, ADMIN_PASSWORD)
        expect(page).to_have_url(TWO_FACTOR)
        enrol = TwoFactorEnrolPage(page)
        expect(enrol.heading).to_have_text("Set up two factors")
        enrol.expect_flash("Your role needs a second factor")
        for path in ("/", "/users/invite", f"/credentials/{data['note_id']}", "/account/"):
            page.goto(path)
            expect(page, f"{path} must wait for two factors").to_have_url(TWO_FACTOR)
        response = page.goto("/account/two-factor")
        assert response is not None and "no-store" in response.headers.get("cache-control", ""), response
        expect(enrol.qr_code).to_be_visible()
        assert enrol.qr_code.bounding_box()["width"] >= 120, "a phone cannot scan a tiny QR code"  # type: ignore[index]
        admin_secret, shown = enrol.enrol()
        codes = shown.codes
        assert len(codes) == 10 and len(set(codes)) == 10, codes
        assert all(RECOVERY_CODE.match(code) for code in codes), codes
        expect(shown.main).to_contain_text("This is the only time they are shown.")
        account = shown.go_on()
        expect(account.two_factors).to_contain_text("10 of 10 recovery codes unused")

        # The admin invites IT; the person is found in the staff list by the work email.
        users = UsersPage(page)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
        expect(users.heading).to_have_text("Users")
        invitation = users.invite().fill(email=IT, role="IT").send()
        invitation.expect_flash(f"Invited {IT} as IT. The invitation email is on its way.")
        expect(invitation.heading).to_have_text(IT)
        expect(invitation.lede).to_contain_text("Invited")
        expect(invitation.lede).to_contain_text("Ira Tech")

        # The email reaches the SMTP server, with a link to this server.
        message = mail_to(inbox, IT)
        assert message["Subject"] == "You are invited to Handover"
        assert message["From"] == "handover@riverside.example"
        link = link_in(message, "/invite/")
        assert link.startswith(f"{live.url}/invite/"), link
        assert "You will sign in as IT" in body_of(message)

        # IT opens it in their own browser and chooses a password.
        it_page = it_context.new_page()
        welcome = NewPasswordPage(it_page)
        assert welcome.open(link).status == 200
        expect(welcome.heading).to_have_text("Welcome to Handover")
        expect(welcome.lede).to_have_text(f"You are invited as IT with the sign-in {IT}.")
        welcome.save(IT_PASSWORD)
        expect(it_page).to_have_url(TWO_FACTOR)
        welcome.expect_flash("Signed in as Ira Tech.")
        welcome.expect_flash("Welcome to Handover: your password is set.")

        # Nothing opens before IT sets up two factors either.
        for path in ("/accounts/", f"/credentials/{data['note_id']}", "/credentials/queue"):
            it_page.goto(path)
            expect(it_page, f"{path} must wait for two factors").to_have_url(TWO_FACTOR)
        it_enrol = TwoFactorEnrolPage(it_page).open()
        it_secret, it_codes = it_enrol.enrol()
        assert it_secret != admin_secret
        assert len(it_codes.codes) == 10 and not set(it_codes.codes) & set(codes)
        it_codes.go_on()

        # Now IT reveals the domain's login: the sign-in is fresh, so a reason is all it takes.
        note = CredentialNotePage(it_page).open(data["note_id"])
        expect(note.heading).to_contain_text(NOTE)
        expect(note.password).to_have_count(0)
        shown_secret = note.reveal(REASON, password=None)
        expect(shown_secret.value).to_have_text(NOTE_VALUE)
        note = shown_secret.back_to_note()
        [row] = note.reveal_rows()
        assert row.startswith("Ira Tech ") and REASON in row, row

        # The admin's list of users shows IT active, with two factors on.
        users.open()
        expect(users.cell(IT, "Status")).to_contain_text("Active")
        expect(users.cell(IT, "Two factors")).to_have_text("On")
        expect(users.cell(IT, "Person")).to_have_text("Ira Tech")
        expect(users.cell(ADMIN, "Two factors")).to_have_text("On")
        assert [m["To"] for m in inbox.messages] == [IT], inbox.subjects()
    finally:
        it_context.close()
        admin_context.close()


def test_a_forgotten_password_is_reset_by_email_once(browser: Any, live: LiveServer, smtp: Controller) -> None:
    inbox: Inbox = smtp.handler
    email = "sam.reader@riverside.example"
    new_password = "a brand new passphrase 42"
    live.seed(lambda: factories.make_user(Role.STAFF, email=email, person=factories.make_person("Sam Reader")).id)
    earlier = new_context(browser, live)
    browser_now = new_context(browser, live)
    try:
        # Sam is still signed in on an earlier browser.
        old_page = earlier.new_page()
        LoginPage(old_page).sign_in(email)

        # On another, Sam asks for a link. An unknown address gets the same answer, and no email.
        page = browser_now.new_page()
        login = LoginPage(page).open()
        sent = login.forgot_password().request("nobody@riverside.example")
        expect(sent.main).to_contain_text("If nobody@riverside.example has a Handover sign-in")
        sent.main.get_by_role("link", name="Back to sign in").click()
        sent = login.forgot_password().request(email)
        expect(sent.main).to_contain_text(f"If {email} has a Handover sign-in, a link to choose a new password is on its way.")
        expect(sent.main).to_contain_text("It works once, for 30 minutes.")

        message = mail_to(inbox, email)
        assert message["Subject"] == "Reset your Handover password"
        link = link_in(message, "/login/reset/")
        assert link.startswith(f"{live.url}/login/reset/"), link
        assert [m["To"] for m in inbox.messages] == [email], "the unknown address got an email"

        # The link: a new password, typed twice (a mismatch is refused first, and changes nothing).
        reset = NewPasswordPage(page)
        assert reset.open(link).status == 200
        expect(reset.heading).to_have_text("Choose a new password")
        expect(reset.lede).to_contain_text(email)
        assert reset.save(new_password, confirm="a different passphrase").status == 400
        expect(reset.problems).to_contain_text("The two passwords differ.")
        reset.save(new_password)
        expect(page).to_have_url(re.compile(r"/login$"))
        login.expect_flash("Your password is changed and every session of your sign-in has ended.")

        # The earlier browser is signed out at its next step.
        old_page.goto("/accounts/")
        expect(old_page).to_have_url(re.compile(r"/login"))
        expect(LoginPage(old_page).heading).to_have_text("Sign in to Handover")

        # The old password no longer works; the new one does.
        login.submit(email, factories.PASSWORD)
        expect(login.problems).to_contain_text("That email and password do not match an active sign-in.")
        login.sign_in(email, new_password)
        account = MyAccountPage(page).open()
        expect(account.this_sign_in).to_contain_text("password")

        # The link worked once.
        response = page.goto(link)
        assert response is not None and response.status == 400
        LinkInvalidPage(page).expect_shown("This link has already been used; each link works once.")
        assert len(inbox.messages) == 1, inbox.subjects()
    finally:
        browser_now.close()
        earlier.close()
