"""The credential vault pages: who may reveal and rotate, reasons, re-authentication, the value
shown only once and never cached, rotation with kept versions, the rotation queue, and the forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AuditEvent,
    CredentialKind,
    CredentialNote,
    CredentialReveal,
    CredentialVersion,
    Person,
    PersonStatus,
    ProfileKind,
    Role,
)
from app.models.base import utcnow
from app.services import credentials, crypto
from app.services.context import Actor
from tests import factories
from tests.integration.browser_form import form_values

ACCOUNT_SECRET = "canary-registrar-Q7x9pw"
PERSONA_SECRET = "canary-melvilla-K3m8pw"
REASON = "Posting the closure notice"


@dataclass
class Vault:
    account_id: int
    persona_id: int
    account_note_id: int
    persona_note_id: int
    steward: Person
    keeper: Person


@pytest.fixture
def vault(app: Any) -> Vault:
    """An account note (steward: Sam) and a note on a persona profile (custodian: Kim)."""
    department = factories.make_department("Branch services")
    registrar = factories.make_platform("Registrar", rotation_days=90)
    steward = factories.make_person("Sam Steward")
    keeper = factories.make_person("Kim Keeper")
    account = factories.make_account(registrar, name="Domain registrar", steward=steward, department=department)
    persona = factories.make_profile(registrar, kind=ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[keeper])
    admin = Actor.system("Test Admin")
    on_account = credentials.create_note(
        admin, credentials.NoteData("Registrar login", CredentialKind.PASSWORD), ACCOUNT_SECRET, account=account
    )
    on_persona = credentials.create_note(
        admin, credentials.NoteData("Melvilla password", CredentialKind.PASSWORD), PERSONA_SECRET, profile=persona
    )
    db.session.commit()
    return Vault(account.id, persona.id, on_account.id, on_persona.id, steward, keeper)


def note(note_id: int) -> CredentialNote | None:
    db.session.rollback()  # a fresh view of what the requests committed
    return db.session.get(CredentialNote, note_id)


def value_of(note_id: int) -> str:
    current = note(note_id)
    assert current is not None
    aad = crypto.associated_data("credential_notes", current.id, "secret")
    return crypto.current_keyring().open(current.secret, aad)


def reveals(note_id: int | None = None) -> list[CredentialReveal]:
    db.session.rollback()
    stmt = sa.select(CredentialReveal).order_by(CredentialReveal.id)
    if note_id is not None:
        stmt = stmt.where(CredentialReveal.note_id == note_id)
    return list(db.session.scalars(stmt))


def events(action: str, note_id: int | None = None) -> list[AuditEvent]:
    db.session.rollback()
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if note_id is not None:
        stmt = stmt.where(AuditEvent.object_id == note_id)
    return list(db.session.scalars(stmt))


def count(model: type) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def shown_value(page: str) -> str:
    match = re.search(r"<pre[^>]*>(.*?)</pre>", page, re.S)
    assert match, "no value on the page"
    return html.unescape(match.group(1))


def sign_out(client: Any) -> None:
    """Before signing in as someone else (the sign-in page sends a signed-in visitor home)."""
    assert client.submit("/logout").status_code == 302


def make_stale(client: Any, seconds: int = 3600) -> None:
    with client.session_transaction() as session:
        session["auth_at"] = utcnow().timestamp() - seconds


# --- Who may reveal and rotate ------------------------------------------------------------

#: (who, which note, may view, may reveal and rotate)
CASES = [
    ("admin", "persona", True, True),
    ("admin", "account", True, True),
    ("director", "persona", True, False),
    ("director", "account", True, False),
    ("hr", "persona", True, False),
    ("hr", "account", True, False),
    ("it", "persona", True, True),
    ("it", "account", True, True),
    ("staff custodian", "persona", True, True),
    ("staff custodian", "account", False, False),
    ("staff not custodian", "persona", False, False),
    ("staff not custodian", "account", False, False),
    ("staff steward", "persona", False, False),
    ("staff steward", "account", True, False),
]


def sign_in(login_as: Any, vault: Vault, who: str) -> Any:
    if who == "staff custodian":
        return login_as(Role.STAFF, person=vault.keeper)
    if who == "staff steward":
        return login_as(Role.STAFF, person=vault.steward)
    if who == "staff not custodian":
        return login_as(Role.STAFF)
    return login_as(Role(who))


def ids(case: tuple[str, str, bool, bool]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_reveal_is_allowed_or_refused_for_each_role(client, login_as, vault, case):
    who, which, may_view, may_reveal = case
    user = sign_in(login_as, vault, who)
    note_id = vault.persona_note_id if which == "persona" else vault.account_note_id
    secret = PERSONA_SECRET if which == "persona" else ACCOUNT_SECRET

    detail = client.get(f"/credentials/{note_id}")
    # A note the role may not see is answered as a missing one (404); one it sees but may not reveal, 403.
    denied = 403 if may_view else 404
    assert detail.status_code == (200 if may_view else 404)
    assert secret not in detail.text
    assert (f'action="/credentials/{note_id}/reveal"' in detail.text) is may_reveal

    response = client.submit(f"/credentials/{note_id}/reveal", {"reason": REASON})

    if may_reveal:
        assert response.status_code == 200
        assert secret in response.text
        assert response.headers["Cache-Control"] == "no-store"
        [row] = reveals(note_id)
        assert (row.user_id, row.person_id, row.reason, row.remote_addr) == (user.id, user.person_id, REASON, "127.0.0.1")
        [event] = events("credential.reveal", note_id)
        assert event.actor_id == user.id and REASON in event.summary
        assert secret not in event.summary and secret not in str(event.after)
    else:
        assert response.status_code == denied
        assert secret not in response.text
        assert reveals() == [] and events("credential.reveal") == []


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_rotate_is_allowed_or_refused_for_each_role(client, login_as, vault, case):
    who, which, may_view, may_rotate = case
    user = sign_in(login_as, vault, who)
    note_id = vault.persona_note_id if which == "persona" else vault.account_note_id
    secret = PERSONA_SECRET if which == "persona" else ACCOUNT_SECRET

    denied = 403 if may_view else 404
    assert client.get(f"/credentials/{note_id}/rotate").status_code == (200 if may_rotate else denied)
    response = client.submit(f"/credentials/{note_id}/rotate", {"new_secret": "canary-rotated-Z1", "reason": "Yearly rotation"})

    if may_rotate:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/credentials/{note_id}")
        assert value_of(note_id) == "canary-rotated-Z1"
        [version] = note(note_id).versions  # type: ignore[union-attr]
        assert version.replaced_by == user.display_name
        [event] = events("credential.rotate", note_id)
        assert event.actor_id == user.id and "Yearly rotation" in event.summary
        assert reveals() == []  # a typed value was already known to whoever typed it
    else:
        assert response.status_code == denied
        assert value_of(note_id) == secret
        assert count(CredentialVersion) == 0 and events("credential.rotate") == []


# --- Reveal: reason, re-authentication, no caching, fail closed ---------------------------


def test_a_reveal_needs_a_reason_and_nothing_is_logged_without_one(client, login_as, vault):
    login_as(Role.IT)
    url = f"/credentials/{vault.account_note_id}/reveal"

    for reason in ("", "   ", "why"):
        response = client.submit(url, {"reason": reason})
        assert response.status_code == 400, reason
        assert "Say why you need the secret" in response.text
        assert ACCOUNT_SECRET not in response.text
    assert reveals() == [] and events("credential.reveal") == []


def test_a_stale_sign_in_must_confirm_the_password_before_a_reveal(client, login_as, vault):
    user = login_as(Role.IT)
    url = f"/credentials/{vault.account_note_id}/reveal"
    fresh_page = client.get(f"/credentials/{vault.account_note_id}").text
    assert 'name="password"' not in fresh_page
    make_stale(client)

    page = client.get(f"/credentials/{vault.account_note_id}").text
    assert "Confirm your password" in page and 'name="password"' in page
    assert "You signed in more than 5 minutes ago" in page

    without = client.submit(url, {"reason": REASON})
    assert without.status_code == 401
    assert "Confirm your password" in without.text and ACCOUNT_SECRET not in without.text

    wrong = client.submit(url, {"reason": REASON, "password": "not-my-password-at-all"})
    assert wrong.status_code == 401
    assert "That is not your password" in wrong.text and ACCOUNT_SECRET not in wrong.text
    assert "not-my-password-at-all" not in wrong.text
    assert reveals() == [] and events("credential.reveal") == []

    right = client.submit(url, {"reason": REASON, "password": factories.PASSWORD})
    assert right.status_code == 200 and ACCOUNT_SECRET in right.text
    assert factories.PASSWORD not in right.text
    [row] = reveals()
    assert row.user_id == user.id
    # The confirmation counts as a fresh sign-in: the next reveal needs no password.
    again = client.submit(url, {"reason": "Checking the renewal date"})
    assert again.status_code == 200 and len(reveals()) == 2


def test_a_session_without_a_sign_in_time_counts_as_stale(client, login_as, vault):
    login_as(Role.ADMIN)
    with client.session_transaction() as session:
        session.pop("auth_at", None)
    response = client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON})
    assert response.status_code == 401 and ACCOUNT_SECRET not in response.text
    assert reveals() == []


def test_the_value_is_only_in_the_reveal_response_which_is_never_cached(client, login_as, vault):
    login_as(Role.IT)
    response = client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON})

    assert response.status_code == 200
    assert shown_value(response.text) == ACCOUNT_SECRET
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert "Hide / back to note" in response.text
    for url in (
        f"/credentials/{vault.account_note_id}",
        f"/accounts/{vault.account_id}",
        f"/credentials/{vault.account_note_id}/rotate",
        f"/credentials/{vault.account_note_id}/edit",
        f"/credentials/{vault.account_note_id}/delete",
        "/credentials/queue",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert ACCOUNT_SECRET not in page.text, url
        assert page.headers["Cache-Control"] != "no-store"
    # The reveal log on the note's page says who, when, why and from where.
    detail = client.get(f"/credentials/{vault.account_note_id}").text
    assert "IT User" in detail and REASON in detail and "127.0.0.1" in detail


def test_the_reveal_log_is_visible_to_everyone_who_can_see_the_note(client, login_as, vault):
    login_as(Role.IT)
    assert client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON}).status_code == 200
    sign_out(client)
    login_as(Role.STAFF, person=vault.steward)
    page = client.get(f"/credentials/{vault.account_note_id}")
    assert page.status_code == 200
    assert REASON in page.text and "IT User" in page.text
    assert ACCOUNT_SECRET not in page.text
    assert "Only IT, admins and the custodians" in page.text


def test_if_the_reveal_cannot_be_logged_the_value_is_not_shown(client, login_as, vault, monkeypatch):
    login_as(Role.IT)
    before = count(AuditEvent)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("app.services.audit.record_event", broken)
    response = client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON})

    assert response.status_code == 500
    assert ACCOUNT_SECRET not in response.text
    assert reveals() == [] and count(AuditEvent) == before


def test_if_the_commit_fails_the_value_is_not_shown(client, login_as, vault, monkeypatch):
    login_as(Role.IT)
    before = count(AuditEvent)

    def refused() -> None:
        raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(db.session, "commit", refused)
    response = client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON})
    monkeypatch.undo()

    assert response.status_code == 500
    assert ACCOUNT_SECRET not in response.text
    assert reveals() == [] and count(AuditEvent) == before


# --- Rotation, generated values, kept versions, restore -----------------------------------


def test_rotating_with_a_generated_value_shows_it_once_and_logs_it_as_a_reveal(client, login_as, vault):
    user = login_as(Role.IT)
    url = f"/credentials/{vault.account_note_id}/rotate"
    form = form_values(client.get(url).text, "reason")
    assert form["length"] == "24" and form["classes"]  # every class ticked by default

    response = client.submit(
        url, {"generate": "y", "length": "20", "classes": ["lower", "digits"], "reason": "Dana Whitfield left"}
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert "Set this on Registrar now" in response.text
    generated = shown_value(response.text)
    assert len(generated) == 20 and re.fullmatch(r"[a-z0-9]+", generated)
    assert re.search(r"[a-z]", generated) and re.search(r"[0-9]", generated)
    assert value_of(vault.account_note_id) == generated
    [row] = reveals(vault.account_note_id)
    assert row.user_id == user.id and row.reason.startswith("generated at rotation")
    assert [e.action for e in events("credential.rotate")] == ["credential.rotate"]
    # Shown once: the note's page does not carry it.
    assert generated not in client.get(f"/credentials/{vault.account_note_id}").text

    # The previous value is kept as a version and can be restored.
    [version] = note(vault.account_note_id).versions  # type: ignore[union-attr]
    restore_url = f"/credentials/{vault.account_note_id}/versions/{version.id}/restore"
    detail = client.get(f"/credentials/{vault.account_note_id}").text
    assert restore_url in detail
    confirm = client.get(restore_url)
    assert confirm.status_code == 200 and "Restore the earlier value" in confirm.text
    assert ACCOUNT_SECRET not in confirm.text
    assert value_of(vault.account_note_id) == generated  # the confirmation page changed nothing

    refused = client.submit(restore_url, {"reason": ""})
    assert refused.status_code == 400 and value_of(vault.account_note_id) == generated

    done = client.submit(restore_url, {"reason": "The registrar refused the new password"})
    assert done.status_code == 302
    assert value_of(vault.account_note_id) == ACCOUNT_SECRET
    [kept] = note(vault.account_note_id).versions  # type: ignore[union-attr]
    aad = crypto.associated_data("credential_versions", kept.id, "secret")
    assert crypto.current_keyring().open(kept.secret, aad) == generated  # the restore can be undone too
    assert "Restored the value" in client.get(f"/credentials/{vault.account_note_id}").text


def test_an_expired_version_cannot_be_restored(client, login_as, vault):
    login_as(Role.IT)
    client.submit(f"/credentials/{vault.account_note_id}/rotate", {"new_secret": "canary-new-A1", "reason": "Yearly rotation"})
    [version] = note(vault.account_note_id).versions  # type: ignore[union-attr]
    version.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    url = f"/credentials/{vault.account_note_id}/versions/{version.id}/restore"

    confirm = client.get(url)
    assert confirm.status_code == 200 and "can no longer be restored" in confirm.text
    assert url not in client.get(f"/credentials/{vault.account_note_id}").text
    refused = client.submit(url, {"reason": "Try it anyway please"})
    assert refused.status_code == 400 and "expired" in refused.text
    assert value_of(vault.account_note_id) == "canary-new-A1"


ROTATE_ERRORS = [
    ({"reason": "Yearly rotation"}, "Type the new value, or generate one."),
    ({"new_secret": "canary-typed-B2", "reason": ""}, "Say why it is rotated"),
    ({"new_secret": ACCOUNT_SECRET, "reason": "Yearly rotation"}, "The new value is the same as the current one."),
    ({"new_secret": "canary-typed-B2", "generate": "y", "reason": "Yearly rotation"}, "not both"),
    ({"generate": "y", "length": "5", "reason": "Yearly rotation"}, "Choose a length from 12 to 128."),
    ({"generate": "y", "length": "20", "reason": "Yearly rotation"}, "Choose at least one kind of character."),
]


def test_bad_rotations_are_refused_and_change_nothing(client, login_as, vault):
    login_as(Role.IT)
    for data, message in ROTATE_ERRORS:
        response = client.submit(f"/credentials/{vault.account_note_id}/rotate", data)
        assert response.status_code == 400, data
        assert message in response.text, data
        assert "canary-typed-B2" not in response.text and ACCOUNT_SECRET not in response.text
    assert value_of(vault.account_note_id) == ACCOUNT_SECRET
    assert count(CredentialVersion) == 0 and reveals() == [] and events("credential.rotate") == []


def test_backup_codes_are_rotated_in_a_box_of_several_lines(client, login_as, app):
    login_as(Role.IT)
    account = factories.make_account(name="Workspace")
    codes = credentials.create_note(
        Actor.system("Test Admin"),
        credentials.NoteData("Backup codes", CredentialKind.BACKUP_CODES),
        "code-1111\ncode-2222",
        account=account,
    )
    db.session.commit()
    url = f"/credentials/{codes.id}/rotate"
    page = client.get(url).text
    assert 'name="new_secret_lines"' in page and 'name="new_secret"' not in page

    same = client.submit(url, {"new_secret_lines": "code-1111\ncode-2222", "reason": "New codes printed"})
    assert same.status_code == 400 and "same as the current one" in same.text
    assert "code-1111" not in same.text  # the box is never filled back in

    assert client.submit(url, {"new_secret_lines": "code-3333\ncode-4444", "reason": "New codes printed"}).status_code == 302
    assert value_of(codes.id) == "code-3333\ncode-4444"


# --- The rotation queue -------------------------------------------------------------------


def test_the_queue_orders_must_rotate_then_overdue_then_due_and_filters(client, login_as, app):
    login_as(Role.IT)
    admin = Actor.system("Test Admin")
    north, south = factories.make_department("North branch"), factories.make_department("South branch")
    mail, social = factories.make_platform("Mailhost", rotation_days=365), factories.make_platform("Chirper", rotation_days=365)
    leaver = factories.make_person("Lee Leaving", status=PersonStatus.LEAVING)
    persona = factories.make_profile(social, kind=ProfileKind.PERSONA, name="Library Bird", custodians=[leaver])
    north_account = factories.make_account(mail, name="North mail", department=north)
    south_account = factories.make_account(mail, name="South mail", department=south)

    def add(label: str, **holder: Any) -> CredentialNote:
        return credentials.create_note(admin, credentials.NoteData(label, CredentialKind.PASSWORD), f"value of {label}", **holder)

    must = add("Zeta bird login", profile=persona)
    overdue = add("Yankee north login", account=north_account)
    overdue.rotated_at = utcnow() - timedelta(days=400)
    overdue.due_at = overdue.rotated_at + timedelta(days=365)
    due = add("Xray south login", account=south_account)
    due.due_at = utcnow() + timedelta(days=10)
    add("Whiskey fine login", account=north_account)
    db.session.commit()
    assert credentials.state_of(must).state is credentials.NoteState.MUST_ROTATE

    page = client.get("/credentials/queue")
    assert page.status_code == 200
    text = page.text
    assert text.index("Zeta bird login") < text.index("Yankee north login") < text.index("Xray south login")
    assert "Whiskey fine login" not in text
    assert "Lee Leaving (leaving) keeps this profile" in text
    assert "Must rotate" in text and "Overdue" in text and "Due soon" in text

    by_department = client.get(f"/credentials/queue?department={north.id}").text
    assert "Yankee north login" in by_department
    assert "Zeta bird login" not in by_department and "Xray south login" not in by_department
    by_platform = client.get(f"/credentials/queue?platform={social.id}").text
    assert "Zeta bird login" in by_platform
    assert "Yankee north login" not in by_platform and "Xray south login" not in by_platform
    none_here = client.get(f"/credentials/queue?department={north.id}&platform={social.id}").text
    assert "Nothing to rotate here" in none_here

    # A long queue comes in pages, in the same order.
    app.config["PER_PAGE"] = 2
    first, second = client.get("/credentials/queue").text, client.get("/credentials/queue?page=2").text
    assert "Zeta bird login" in first and "Yankee north login" in first and "Xray south login" not in first
    assert "Showing 1–2 of 3" in first and 'rel="next"' in first
    assert "Xray south login" in second and "Zeta bird login" not in second and 'rel="prev"' in second


def test_an_empty_queue_says_all_is_well(client, login_as, vault):
    login_as(Role.ADMIN)
    page = client.get("/credentials/queue")
    assert page.status_code == 200 and "All is well" in page.text
    assert "Registrar login" not in page.text


def test_the_rotation_queue_is_in_the_navigation_of_it_and_admin_only(client, login_as):
    login_as(Role.IT)
    assert "Rotation queue" in client.get("/").text
    sign_out(client)
    login_as(Role.DIRECTOR)
    assert "Rotation queue" not in client.get("/").text


# --- Create, edit, delete -----------------------------------------------------------------


def test_it_adds_a_note_to_an_account(client, login_as, vault):
    login_as(Role.IT)
    url = f"/credentials/new?account={vault.account_id}"
    form = client.get(url)
    assert form.status_code == 200
    assert "Leave empty for the platform’s default (Registrar: every 90 days)" in form.text

    response = client.submit(url, {"label": "Billing API", "kind": "api_key", "secret": "canary-api-C3", "rotation_days": ""})

    assert response.status_code == 302
    added = db.session.scalar(sa.select(CredentialNote).where(CredentialNote.label == "Billing API"))
    assert response.headers["Location"].endswith(f"/credentials/{added.id}")
    assert added.kind is CredentialKind.API_KEY and added.rotation_days is None
    assert added.due_at - added.rotated_at == timedelta(days=90)
    assert "canary-api-C3" not in added.secret and value_of(added.id) == "canary-api-C3"
    [event] = events("credential.create", added.id)
    assert "canary-api-C3" not in str(event.after) + event.summary
    detail = client.get(response.headers["Location"]).text
    assert "Added the credential note" in detail and "canary-api-C3" not in detail
    account_page = client.get(f"/accounts/{vault.account_id}").text
    assert "Billing API" in account_page and "API key" in account_page and "Add a credential note" in account_page


def test_backup_codes_go_in_the_box_of_several_lines_on_a_persona(client, login_as, vault):
    login_as(Role.ADMIN)
    url = f"/credentials/new?profile={vault.persona_id}"
    response = client.submit(
        url,
        {"label": "Melvilla backup codes", "kind": "backup_codes", "secret_lines": "1234-5678\n9012-3456", "rotation_days": "30"},
    )
    assert response.status_code == 302
    added = db.session.scalar(sa.select(CredentialNote).where(CredentialNote.label == "Melvilla backup codes"))
    assert added.profile_id == vault.persona_id and added.rotation_days == 30
    assert value_of(added.id) == "1234-5678\n9012-3456"
    profile_page = client.get(f"/profiles/{vault.persona_id}").text
    assert "Melvilla backup codes" in profile_page and "2FA backup codes" in profile_page


CREATE_ERRORS = [
    ({"label": "Spare login", "secret": ""}, "secret", "Type the secret to keep."),
    (
        {"label": "Spare login", "secret": "canary-bad-D4", "rotation_days": "0"},
        "rotation_days",
        "Rotate at least every 10 years",
    ),
    ({"label": "Spare login", "secret_lines": "canary-bad-D4", "rotation_days": "0"}, "rotation_days", "Rotate at least"),
    ({"label": "Spare login", "secret": "canary-bad-D4", "rotation_days": "soon"}, "rotation_days", "Not a valid integer"),
    ({"label": "", "secret": "canary-bad-D4"}, "label", "Give the note a label"),
    ({"label": "Spare login", "secret": "canary-bad-D4", "secret_lines": "canary-bad-D4"}, "secret_lines", "not both"),
]


@pytest.mark.parametrize(("data", "field", "message"), CREATE_ERRORS, ids=[c[1] + "-" + c[2][:12] for c in CREATE_ERRORS])
def test_bad_input_to_the_add_form_is_shown_by_its_field_and_nothing_is_saved(client, login_as, vault, data, field, message):
    login_as(Role.IT)
    before_notes, before_events = count(CredentialNote), count(AuditEvent)

    response = client.submit(f"/credentials/new?account={vault.account_id}", {"kind": "password", **data})

    assert response.status_code == 400
    assert re.search(rf'id="{field}-error"[^>]*>.*?{re.escape(message)}', response.text, re.S)
    assert "canary-bad-D4" not in response.text  # never sent back, not even to re-fill the box
    assert count(CredentialNote) == before_notes and count(AuditEvent) == before_events


def test_notes_go_only_on_an_account_or_a_persona_or_shared_login(client, login_as, vault):
    login_as(Role.IT)
    personal = factories.make_profile(kind=ProfileKind.PERSONAL, holder=vault.steward)
    db.session.commit()
    assert client.get(f"/credentials/new?profile={personal.id}").status_code == 400
    assert client.get("/credentials/new").status_code == 404
    assert client.get(f"/credentials/new?account={vault.account_id}&profile={vault.persona_id}").status_code == 404


def test_it_edits_a_note_and_a_stale_edit_is_refused(client, login_as, vault):
    login_as(Role.IT, person=factories.make_person("Ivy Tech"))
    url = f"/credentials/{vault.account_note_id}/edit"
    first_tab = client.get(url)
    assert first_tab.status_code == 200 and 'value="Registrar login"' in first_tab.text
    assert ACCOUNT_SECRET not in first_tab.text
    form = form_values(first_tab.text, "label")

    bad = client.submit(url, {**form, "rotation_days": "0"})
    assert bad.status_code == 400 and "Rotate at least every 10 years" in bad.text

    saved = client.submit(url, {**form, "label": "Registrar admin login", "rotation_days": "60"})
    assert saved.status_code == 302
    edited = note(vault.account_note_id)
    assert (edited.label, edited.rotation_days) == ("Registrar admin login", 60)
    assert edited.due_at - edited.rotated_at == timedelta(days=60)
    assert [e.action for e in events("credential.update")] == ["credential.update"]

    stale = client.submit(url, {**form, "label": "Old tab label"})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    assert "Ivy Tech changed <strong>label</strong>" in stale.text
    assert note(vault.account_note_id).label == "Registrar admin login"


def test_delete_asks_for_confirmation_and_a_reason(client, login_as, vault):
    login_as(Role.IT)
    client.submit(f"/credentials/{vault.account_note_id}/reveal", {"reason": REASON})
    url = f"/credentials/{vault.account_note_id}/delete"

    confirm = client.get(url)
    assert confirm.status_code == 200 and "Delete the credential note “Registrar login”?" in confirm.text
    assert note(vault.account_note_id) is not None

    refused = client.submit(url, {"reason": ""})
    assert refused.status_code == 400 and "Give a reason." in refused.text
    assert note(vault.account_note_id) is not None

    done = client.submit(url, {"reason": "Domain moved to another registrar"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/accounts/{vault.account_id}")
    assert note(vault.account_note_id) is None
    assert reveals(vault.account_note_id) == []
    [event] = events("credential.delete", vault.account_note_id)
    assert "Domain moved to another registrar" in event.summary
    assert "Deleted the credential note" in client.get(done.headers["Location"]).text


# --- The notes on account and profile pages -----------------------------------------------


def test_account_and_profile_pages_list_notes_with_their_state(client, login_as, vault):
    login_as(Role.DIRECTOR)
    account_page = client.get(f"/accounts/{vault.account_id}").text
    assert "Credential notes" in account_page and "Registrar login" in account_page
    assert "Password" in account_page and "badge--ok" in account_page
    assert "Add a credential note" not in account_page and ACCOUNT_SECRET not in account_page
    profile_page = client.get(f"/profiles/{vault.persona_id}").text
    assert "Melvilla password" in profile_page and PERSONA_SECRET not in profile_page

    sign_out(client)
    login_as(Role.STAFF, person=vault.steward)
    stewarded = client.get(f"/accounts/{vault.account_id}").text
    assert "Registrar login" in stewarded and "Add a credential note" not in stewarded

    sign_out(client)
    login_as(Role.IT)
    assert f"/credentials/new?profile={vault.persona_id}" in client.get(f"/profiles/{vault.persona_id}").text
    organisation = factories.make_profile(kind=ProfileKind.ORGANISATION)
    db.session.commit()
    assert "Credential notes" not in client.get(f"/profiles/{organisation.id}").text
