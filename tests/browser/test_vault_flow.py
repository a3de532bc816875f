"""The credential vault in a real browser: IT finds a note in the rotation queue because someone
who revealed it is leaving, reveals it (with a reason, confirming the password because the sign-in
is old), sees the value once and its own reveal in the log, rotates it to a generated password
shown once, and the queue no longer asks for it. The note's own page never carries a secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import PersonStatus, Role
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialReveal
from app.services import credentials as vault
from app.services.context import Actor
from tests import factories
from tests.browser.conftest import age_sign_in
from tests.browser.pages import LoginPage, RevealedPage, RotationQueuePage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-vault")]

REGISTRAR = "Registrar login"
OLD_VALUE = "correct-Horse-battery-7!"
OTHER = "Newsletter API key"
OTHER_VALUE = "nl_live_9f8e7d6c5b4a"
OVERDUE = "Old forum admin"
LEAVER = "Dana Whitfield"
REASON = "Renewing the domain before it lapses"


def _vault() -> dict[str, Any]:
    it_user = factories.make_user(Role.IT, email="it@riverside.example", person=factories.make_person("Ira Tech"))
    leaver = factories.make_person(LEAVER, PersonStatus.LEAVING, job_title="Systems librarian")
    registrar = factories.make_platform("Domain registrar", slug="registrar")
    newsletter = factories.make_platform("Newsletter service", slug="newsletter")
    forum = factories.make_platform("Forum", slug="forum")
    domain = factories.make_account(registrar, name="riverside.example domain")
    mailing = factories.make_account(newsletter, name="Riverside newsletter")
    board = factories.make_account(forum, name="Riverside forum")

    it = Actor.for_user(it_user)
    note = vault.create_note(it, vault.NoteData(REGISTRAR, CredentialKind.PASSWORD), OLD_VALUE, account=domain)
    ok = vault.create_note(it, vault.NoteData(OTHER, CredentialKind.API_KEY), OTHER_VALUE, account=mailing)
    overdue = vault.create_note(it, vault.NoteData(OVERDUE, CredentialKind.PASSWORD), "forum-secret-1", account=board)
    # Last rotated a month ago; the leaver revealed it since, so it must be rotated.
    note.rotated_at = utcnow() - timedelta(days=30)
    note.due_at = note.rotated_at + timedelta(days=365)
    db.session.add(
        CredentialReveal(
            note=note,
            person=leaver,
            actor_name=LEAVER,
            reason="Checking the renewal date",
            revealed_at=note.rotated_at + timedelta(days=20),
        )
    )
    # A third note, past its rotation date: it stays in the queue after the registrar's is rotated.
    overdue.rotated_at = utcnow() - timedelta(days=400)
    overdue.due_at = overdue.rotated_at + timedelta(days=365)
    db.session.flush()
    states = {n.label: vault.state_of(n).state for n in (note, ok, overdue)}
    assert states == {REGISTRAR: vault.NoteState.MUST_ROTATE, OTHER: vault.NoteState.OK, OVERDUE: vault.NoteState.OVERDUE}
    return {"it_email": it_user.email, "note_id": note.id, "ok_id": ok.id}


#: Everything a page carries as text: its text nodes (title included), every attribute, and what the form fields hold.
_EVERYTHING = """() => [
    document.documentElement.textContent,
    ...[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.value)),
    ...[...document.querySelectorAll('input, textarea, select')].map(e => e.value),
].join('\\n')"""


def _occurrences(page: Any, value: str) -> int:
    """How often ``value`` is on the page (read from the DOM, so HTML escaping does not hide it)."""
    return page.evaluate(_EVERYTHING).count(value)


def _no_secret_on(page: Any, *values: str) -> None:
    for value in values:
        assert _occurrences(page, value) == 0, f"a secret value is on {page.url}"


def test_it_rotates_a_note_a_leaver_revealed(live_server: Any, page: Any) -> None:
    data = live_server.seed(_vault)

    # IT signed in a while ago (longer than the reveal window), then opens the rotation queue.
    LoginPage(page).open().sign_in(data["it_email"])
    age_sign_in(page.context, live_server, live_server.app.config["REVEAL_FRESH_AUTH_SECONDS"] + 60)
    queue = RotationQueuePage(page).open()
    assert queue.labels == [REGISTRAR, OVERDUE], "must-rotate first, then overdue; the OK note is not listed"
    state = queue.state(REGISTRAR)
    expect(state).to_contain_text("Must rotate")
    expect(state).to_contain_text(f"{LEAVER} (leaving) revealed it on")
    expect(queue.state(OVERDUE)).to_contain_text("Overdue")

    # The note's page: must rotate, because of the leaver; no value anywhere on it.
    note = queue.open_note(REGISTRAR)
    assert note.note_id == data["note_id"]
    expect(note.fact("State")).to_contain_text("Must rotate")
    expect(note.main).to_contain_text(f"Must be rotated: {LEAVER} (leaving) revealed it on")
    assert note.reveal_rows()[0].startswith(f"{LEAVER} (leaving)"), note.reveal_rows()
    _no_secret_on(page, OLD_VALUE)

    # The sign-in is old, so the reveal form asks for the password too.
    expect(note.reveal_section).to_contain_text("confirm your Handover password before a secret is shown")
    expect(note.password).to_be_visible()
    response = note.submit_reveal(REASON)
    assert response.status == 200
    assert "no-store" in response.headers.get("cache-control", ""), response.headers

    # The value, shown exactly once, on the reveal page.
    shown = RevealedPage(page)
    expect(shown.heading).to_have_text(f"“{REGISTRAR}”")
    expect(shown.value).to_have_text(OLD_VALUE)
    assert _occurrences(page, OLD_VALUE) == 1

    # Back on the note: their reveal heads the log, with the reason; the value is gone again.
    note = shown.back_to_note()
    rows = note.reveal_rows()
    assert len(rows) == 2, rows
    assert rows[0].startswith("Ira Tech "), rows
    assert REASON in rows[0], rows
    assert rows[0].endswith("127.0.0.1"), rows
    expect(note.reveal_log.get_by_role("heading")).to_have_text("Reveal log (2)")
    expect(note.password).to_have_count(0)  # the password just typed renewed the sign-in
    _no_secret_on(page, OLD_VALUE)

    # Rotate to a generated password of 32 characters: shown once, and not the old value.
    form = note.rotate()
    expect(form.characters.get_by_role("checkbox")).to_have_count(4)
    form.fill(generate=True, length=32, reason=f"{LEAVER} is leaving")
    response = form.submit()
    assert response.status == 200
    assert "no-store" in response.headers.get("cache-control", ""), response.headers
    expect(shown.heading).to_have_text(f"New value for “{REGISTRAR}”")
    expect(shown.main).to_contain_text("It is shown to you once")
    new_value = shown.value.inner_text()
    assert len(new_value) == 32, new_value
    assert new_value != OLD_VALUE
    assert _occurrences(page, new_value) == 1
    _no_secret_on(page, OLD_VALUE)

    # The note is OK now; the generated value's showing is logged; neither value is on the page.
    note = shown.back_to_note()
    expect(note.fact("State")).to_have_text("OK")
    expect(note.main).not_to_contain_text("Must be rotated")
    rows = note.reveal_rows()
    assert len(rows) == 3, rows
    assert rows[0].startswith("Ira Tech ") and f"generated at rotation ({LEAVER} is leaving)" in rows[0], rows
    expect(note.region("Earlier values")).to_contain_text("Replaced")
    _no_secret_on(page, OLD_VALUE, new_value)

    # The queue no longer lists it; the overdue note is still there.
    queue = RotationQueuePage(page).open()
    assert queue.labels == [OVERDUE]
    expect(queue.table).not_to_contain_text("Must rotate")

    # The other note was never in the queue and its page shows it is OK, without its value.
    other = note.open(data["ok_id"])
    expect(other.heading).to_contain_text(OTHER)
    expect(other.fact("State")).to_have_text("OK")
    expect(other.reveal_log).to_contain_text("Nobody has revealed it yet.")
    _no_secret_on(page, OTHER_VALUE, OLD_VALUE, new_value)
