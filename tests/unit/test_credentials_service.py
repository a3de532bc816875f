"""Credential notes without HTTP: who may create, reveal and rotate; what is stored (never the
plaintext); when a note is due, overdue or must be rotated because someone who knows it left;
the rotation queue; kept versions; generated passwords; and the reveal log."""

from __future__ import annotations

import itertools
import string
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AccountStatus, AuditEvent, MustRotateNote, PersonStatus, ProfileKind, Role
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal, CredentialVersion
from app.services import credentials as service
from app.services import crypto
from app.services.context import Actor
from app.services.credentials import FreshSignInRequired, NoteData, NoteState
from app.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests import factories

IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
ADMIN = Actor(user_id=None, name="Ada Admin", role=Role.ADMIN)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
HR = Actor(user_id=None, name="Hal HR", role=Role.HR)
STAFF = Actor(user_id=None, name="Sam Staff", role=Role.STAFF)
SECRET = "Tr0ub4dor&3-registrar"
REASON = "renewing the domain"


def _note(secret: str = SECRET, *, account: Any = None, profile: Any = None, **data: Any) -> CredentialNote:
    if account is None and profile is None:
        account = factories.make_account()
    data.setdefault("label", "Registrar login")
    data.setdefault("kind", CredentialKind.PASSWORD)
    return service.create_note(IT, NoteData(**data), secret, account=account, profile=profile)


def _persona(*custodians: Any, platform: Any = None) -> Any:
    return factories.make_profile(platform=platform, kind=ProfileKind.PERSONA, custodians=list(custodians))


def _actor(role: Role, person: Any = None, remote_addr: str = "") -> Actor:
    user = factories.make_user(role, person=person)
    return Actor.for_user(user, remote_addr=remote_addr)


def _count(model: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _events(action: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def _plain(note: CredentialNote) -> str:
    return crypto.current_keyring().open(note.secret, crypto.associated_data("credential_notes", note.id, "secret"))


def _age(note: CredentialNote, days: float) -> CredentialNote:
    """Pretend the note was last rotated ``days`` ago."""
    note.rotated_at = utcnow() - timedelta(days=days)
    service._restamp(note)
    db.session.flush()
    return note


def _assert_no_secret_in_audit(*secrets: str) -> None:
    for event in _events():
        text = f"{event.summary} {event.before!r} {event.after!r}"
        for secret in secrets:
            assert secret not in text, f"{event.action} records the secret"


# --- Create -------------------------------------------------------------------------------


def test_a_note_is_created_sealed_and_audited(app: Flask) -> None:
    account = factories.make_account(name="Riverside domain")
    note = _note(account=account, label="  Registrar login  ")
    db.session.commit()
    assert (note.label, note.kind, note.account_id, note.profile_id) == (
        "Registrar login",
        CredentialKind.PASSWORD,
        account.id,
        None,
    )
    assert note.key_id == crypto.current_keyring().primary.key_id == crypto.key_id_of(note.secret)
    assert _plain(note) == SECRET
    [event] = _events()
    assert (event.action, event.object_type, event.object_id) == ("credential.create", "credential", note.id)
    assert "Registrar login" in event.summary and "Riverside domain" in event.summary
    _assert_no_secret_in_audit(SECRET)


def test_the_stored_secret_never_contains_the_plaintext(app: Flask) -> None:
    secrets = [SECRET, "ünïcödé-пароль-🔑", "x" * 5000, "123456789012", "2FA: 1111 2222 3333 4444"]
    for secret in secrets:
        _note(secret)
    db.session.commit()
    rows = db.session.execute(sa.text("SELECT * FROM credential_notes")).all()
    assert len(rows) == len(secrets)
    dump = repr(rows)
    for secret in secrets:
        assert secret not in dump
        assert secret[:8] not in dump
    for (stored,) in db.session.execute(sa.text("SELECT secret FROM credential_notes")):
        assert stored.startswith("hv1:test-key-1:")


def test_a_note_needs_exactly_one_holder(app: Flask) -> None:
    account = factories.make_account()
    profile = _persona()
    for holders in ({}, {"account": account, "profile": profile}):
        with pytest.raises(ValidationFailed) as refused:
            service.create_note(IT, NoteData("Login", CredentialKind.PASSWORD), SECRET, **holders)
        assert "holder" in refused.value.field_errors
    assert _count(CredentialNote) == 0 and _events() == []


@pytest.mark.parametrize("kind", [ProfileKind.PERSONAL, ProfileKind.ORGANISATION])
def test_only_persona_and_shared_login_profiles_carry_notes(app: Flask, kind: ProfileKind) -> None:
    holder = factories.make_person() if kind is ProfileKind.PERSONAL else None
    profile = factories.make_profile(kind=kind, holder=holder)
    with pytest.raises(ValidationFailed) as refused:
        service.create_note(IT, NoteData("Login", CredentialKind.PASSWORD), SECRET, profile=profile)
    assert "holder" in refused.value.field_errors
    assert _count(CredentialNote) == 0
    for ok_kind in (ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN):
        ok = factories.make_profile(kind=ok_kind)
        assert service.create_note(IT, NoteData("Login", CredentialKind.PASSWORD), SECRET, profile=ok).profile_id == ok.id


def test_an_empty_secret_or_label_is_refused(app: Flask) -> None:
    account = factories.make_account()
    with pytest.raises(ValidationFailed) as refused:
        service.create_note(IT, NoteData("Login", CredentialKind.PASSWORD), "", account=account)
    assert "secret" in refused.value.field_errors
    with pytest.raises(ValidationFailed) as refused:
        service.create_note(IT, NoteData("   ", CredentialKind.PASSWORD), SECRET, account=account)
    assert "label" in refused.value.field_errors
    assert _count(CredentialNote) == 0 and _events() == []


@pytest.mark.parametrize("days", [0, -1, 3651, 100_000])
def test_a_rotation_interval_out_of_range_is_refused(app: Flask, days: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _note(rotation_days=days)
    assert "rotation_days" in refused.value.field_errors
    assert _count(CredentialNote) == 0


@pytest.mark.parametrize("days", [1, 90, 3650])
def test_a_rotation_interval_in_range_sets_the_due_date(app: Flask, days: int) -> None:
    note = _note(rotation_days=days)
    assert note.due_at == note.rotated_at + timedelta(days=days)


def test_without_an_interval_the_platform_default_applies(app: Flask) -> None:
    platform = factories.make_platform(rotation_days=180)
    on_account = _note(account=factories.make_account(platform=platform))
    on_profile = _note(profile=_persona(platform=platform))
    for note in (on_account, on_profile):
        assert service.interval_days(note) == 180
        assert note.due_at == note.rotated_at + timedelta(days=180)
    # Editing the interval moves the due date.
    service.update_note(IT, on_account, NoteData("Registrar login", CredentialKind.PASSWORD, 30), on_account.version)
    assert on_account.due_at == on_account.rotated_at + timedelta(days=30)


@pytest.mark.parametrize("actor", [DIRECTOR, HR, STAFF], ids=["director", "hr", "staff"])
def test_only_it_and_admins_create_notes(app: Flask, actor: Actor) -> None:
    with pytest.raises(PermissionDenied):
        service.create_note(actor, NoteData("Login", CredentialKind.PASSWORD), SECRET, account=factories.make_account())
    assert _count(CredentialNote) == 0 and _events() == []


def test_it_and_admins_create_notes(app: Flask) -> None:
    account = factories.make_account()
    for actor in (IT, ADMIN):
        service.create_note(actor, NoteData("Login", CredentialKind.API_KEY), SECRET, account=account)
    assert _count(CredentialNote) == 2


# --- State --------------------------------------------------------------------------------


def test_state_is_ok_due_then_overdue(app: Flask) -> None:
    note = _note(rotation_days=90)
    assert service.state_of(note).state is NoteState.OK
    due = note.due_at
    assert service.state_of(note, now=due - timedelta(days=31)).state is NoteState.OK
    assert service.state_of(note, now=due - timedelta(days=30)).state is NoteState.DUE
    assert service.state_of(note, now=due - timedelta(days=1)).state is NoteState.DUE
    report = service.state_of(note, now=due)
    assert report.state is NoteState.OVERDUE and "due every 90 days" in report.reasons[0]
    assert service.state_of(_age(note, 100)).state is NoteState.OVERDUE
    assert service.state_of(_age(note, 70)).state is NoteState.DUE


@pytest.mark.parametrize("status", [PersonStatus.LEAVING, PersonStatus.DEPARTED])
def test_a_note_revealed_by_someone_who_is_leaving_must_be_rotated(app: Flask, status: PersonStatus) -> None:
    dana = factories.make_person("Dana Whitfield")
    note = _note()
    service.reveal_note(_actor(Role.IT, dana), note, REASON, fresh_sign_in=True)
    db.session.commit()
    assert service.state_of(note).state is NoteState.OK  # still here: nothing to do yet
    dana.status = status
    if status is PersonStatus.LEAVING:
        dana.last_day = date.today() + timedelta(days=14)
    else:
        dana.left_on = date.today()
    db.session.commit()
    db.session.expire_all()
    report = service.state_of(note)
    assert report.state is NoteState.MUST_ROTATE
    assert any("Dana Whitfield" in reason and "revealed" in reason for reason in report.reasons)
    # Rotating clears it: Dana never saw the new value.
    service.rotate_note(IT, note, SECRET + "-new", "Dana Whitfield left")
    assert service.state_of(note).state is NoteState.OK


def test_a_reveal_before_the_last_rotation_does_not_count(app: Flask) -> None:
    dana = factories.make_person("Dana Whitfield")
    note = _note()
    service.reveal_note(_actor(Role.IT, dana), note, REASON, fresh_sign_in=True)
    service.rotate_note(IT, note, SECRET + "-2", "routine rotation")
    dana.status, dana.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    db.session.expire_all()
    assert service.state_of(note).state is NoteState.OK


def test_a_reveal_by_someone_still_active_does_not_count(app: Flask) -> None:
    note = _note()
    service.reveal_note(_actor(Role.IT, factories.make_person()), note, REASON, fresh_sign_in=True)
    assert service.state_of(note).state is NoteState.OK


def test_a_leaving_custodian_makes_the_profile_notes_must_rotate(app: Flask) -> None:
    jo = factories.make_person("Jo Kim")
    note = _note(profile=_persona(jo))
    assert service.state_of(note).state is NoteState.OK
    jo.status, jo.last_day = PersonStatus.LEAVING, date.today() + timedelta(days=7)
    db.session.flush()
    report = service.state_of(note)
    assert report.state is NoteState.MUST_ROTATE
    assert report.reasons == ["Jo Kim (leaving) keeps this profile"]
    # While Jo still keeps the profile a rotation does not help: Jo can read the new value too.
    service.rotate_note(IT, note, SECRET + "-2", "Jo Kim is leaving")
    assert service.state_of(note).state is NoteState.MUST_ROTATE


def test_a_departed_custodian_counts_until_the_note_is_rotated_after_they_left(app: Flask) -> None:
    jo = factories.make_person("Jo Kim", status=PersonStatus.DEPARTED, left_on=date.today() - timedelta(days=3))
    note = _age(_note(profile=_persona(jo)), 10)  # last rotated before Jo left
    report = service.state_of(note)
    assert report.state is NoteState.MUST_ROTATE and "Jo Kim (departed) keeps this profile" in report.reasons
    service.rotate_note(IT, note, SECRET + "-2", "Jo Kim left")
    assert service.state_of(note).state is NoteState.OK


def test_a_note_rotated_after_the_custodian_left_is_fine(app: Flask) -> None:
    jo = factories.make_person("Jo Kim", status=PersonStatus.DEPARTED, left_on=date.today() - timedelta(days=20))
    note = _age(_note(profile=_persona(jo)), 10)
    assert service.state_of(note).state is NoteState.OK


def test_rotating_on_the_day_the_custodian_left_clears_it(app: Flask) -> None:
    """HR records the departure (left today), then IT rotates the same day: that is the one action
    that clears it, and it must not stay "must rotate" for ever."""
    jo = factories.make_person("Jo Kim")
    note = _note(profile=_persona(jo))
    jo.status, jo.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    assert service.state_of(note).state is NoteState.MUST_ROTATE
    service.rotate_note(IT, note, SECRET + "-2", "Jo Kim left today")
    db.session.commit()
    db.session.expire_all()
    assert service.state_of(note).state is NoteState.OK


def test_a_rotation_before_the_departure_was_recorded_does_not_clear_it(app: Flask) -> None:
    """Rotated in the morning while Jo still kept the profile, departure recorded afterwards with
    the same date: Jo may know the new value."""
    jo = factories.make_person("Jo Kim", status=PersonStatus.LEAVING, last_day=date.today())
    note = _note(profile=_persona(jo))
    service.rotate_note(IT, note, SECRET + "-2", "Jo Kim leaves today")
    db.session.commit()
    jo.status, jo.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    db.session.expire_all()
    assert service.state_of(note).state is NoteState.MUST_ROTATE
    service.rotate_note(IT, note, SECRET + "-3", "Jo Kim has left")
    assert service.state_of(note).state is NoteState.OK


def test_must_rotate_lists_every_reason_once(app: Flask) -> None:
    dana = factories.make_person("Dana Whitfield")
    jo = factories.make_person("Jo Kim", status=PersonStatus.LEAVING, last_day=date.today())
    note = _note(profile=_persona(jo))
    dana_actor = _actor(Role.IT, dana)
    service.reveal_note(dana_actor, note, REASON, fresh_sign_in=True)
    service.reveal_note(dana_actor, note, REASON + " again", fresh_sign_in=True)
    dana.status, dana.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    db.session.expire_all()
    report = service.state_of(note)
    assert report.state is NoteState.MUST_ROTATE
    assert len(report.reasons) == 2
    assert any("Dana Whitfield (departed) revealed it" in r for r in report.reasons)
    assert "Jo Kim (leaving) keeps this profile" in report.reasons


# --- Rotation queue -----------------------------------------------------------------------


def test_the_rotation_queue_orders_and_filters(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    lending, archive = factories.make_department("Lending"), factories.make_department("Archive")
    facebook, youtube = factories.make_platform("Facebook"), factories.make_platform("YouTube")
    a_lending = factories.make_account(platform=facebook, department=lending)
    a_archive = factories.make_account(platform=youtube, department=archive)
    leaver = factories.make_person("Dana Whitfield")
    custodian = factories.make_person("Jo Kim", status=PersonStatus.LEAVING, last_day=date.today())

    must = _note(account=a_lending, label="must (revealed)")
    service.reveal_note(_actor(Role.IT, leaver), must, REASON, fresh_sign_in=True)
    leaver.status, leaver.left_on = PersonStatus.DEPARTED, date.today()
    kept = _note(profile=_persona(custodian, platform=youtube), label="must (custodian)")
    overdue_old = _age(_note(account=a_lending, label="overdue 500"), 500)
    overdue = _age(_note(account=a_archive, label="overdue 400"), 400)
    due = _age(_note(account=a_lending, label="due"), 350)
    _note(account=a_lending, label="fine")
    db.session.commit()

    def labels(**filters: Any) -> list[str]:
        return [note.label for note, _ in service.rotation_queue(IT, **filters).items]

    queue = service.rotation_queue(ADMIN).items
    assert [(n.label, s.state) for n, s in queue] == [
        ("must (revealed)", NoteState.MUST_ROTATE),
        ("must (custodian)", NoteState.MUST_ROTATE),
        ("overdue 500", NoteState.OVERDUE),
        ("overdue 400", NoteState.OVERDUE),
        ("due", NoteState.DUE),
    ]
    assert "Dana Whitfield" in queue[0][1].reasons[0] and "Jo Kim" in queue[1][1].reasons[0]
    assert labels(department_id=lending.id) == ["must (revealed)", "overdue 500", "due"]
    assert labels(department_id=archive.id) == ["overdue 400"]
    assert labels(platform_id=youtube.id) == ["must (custodian)", "overdue 400"]
    assert labels(platform_id=facebook.id) == ["must (revealed)", "overdue 500", "due"]
    assert labels(department_id=lending.id, platform_id=youtube.id) == []
    # Rotating takes a note off the queue.
    service.rotate_note(IT, overdue_old, "fresh-value-1", "routine rotation")
    service.rotate_note(IT, due, "fresh-value-2", "routine rotation")
    assert labels() == ["must (revealed)", "must (custodian)", "overdue 400"]
    assert kept.id and overdue.id

    # Pages cut across the three parts of the queue, in the same order as the whole.
    queue_before = labels()
    pages = [service.rotation_queue(IT, page=n, per_page=2) for n in (1, 2)]
    assert [p.total for p in pages] == [3, 3] and pages[1].pages == 2
    assert [n.label for p in pages for n, _ in p.items] == queue_before
    assert [n.label for n, _ in service.rotation_queue(IT, page=9, per_page=2).items] == ["overdue 400"], (
        "past the end: the last page"
    )
    # A long queue is counted only so far: "more than" that, and every page still reachable.
    monkeypatch.setattr(service, "QUEUE_COUNT_LIMIT", 2)
    first = service.rotation_queue(IT, per_page=1)
    assert (first.total, first.total_capped, first.has_next) == (2, True, True)
    third = service.rotation_queue(IT, page=3, per_page=1)
    assert (third.total, third.total_capped, [n.label for n, _ in third.items]) == (3, False, ["overdue 400"])


def test_a_retired_account_s_note_that_must_rotate_leads_the_queue(app: Flask) -> None:
    # The findings leave retired accounts out; the queue does not: the platform account may
    # still open with the value a leaver knows.
    retired = factories.make_account(name="Old newsletter", status=AccountStatus.RETIRED)
    leaver = factories.make_person("Dana Whitfield")
    note = _note(account=retired, label="newsletter login")
    _note(account=factories.make_account(), label="recent")
    service.reveal_note(_actor(Role.IT, leaver), note, REASON, fresh_sign_in=True)
    leaver.status, leaver.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    assert [(n.label, s.state) for n, s in service.rotation_queue(IT).items] == [("newsletter login", NoteState.MUST_ROTATE)]


def test_the_kept_must_rotate_notes_follow_each_change(app: Flask) -> None:
    """The queue's must-rotate part is kept with the finding index: each change that makes a note
    must rotate, or clears it, moves it in or out when committed (the teardown also compares the
    whole kept set with a fresh evaluation)."""
    retired = factories.make_account(name="Old newsletter", status=AccountStatus.RETIRED)
    on_retired, on_live = _note(account=retired, label="newsletter login"), _note(label="live login")
    custodian = factories.make_person("Jo Kim")
    on_persona = _note(profile=_persona(custodian), label="persona login")
    leaver = factories.make_person("Dana Whitfield")
    for note in (on_retired, on_live):
        service.reveal_note(_actor(Role.IT, leaver), note, REASON, fresh_sign_in=True)
    db.session.commit()

    def kept() -> set[int]:
        return set(db.session.scalars(sa.select(MustRotateNote.note_id)))

    def queued() -> list[str]:
        return [n.label for n, s in service.rotation_queue(IT).items if s.state is NoteState.MUST_ROTATE]

    assert kept() == set() and queued() == []
    leaver.status, leaver.left_on = PersonStatus.DEPARTED, date.today()
    db.session.commit()
    assert kept() == {on_retired.id, on_live.id}
    custodian.status, custodian.last_day = PersonStatus.LEAVING, date.today()
    db.session.commit()
    assert kept() == {on_retired.id, on_live.id, on_persona.id}
    # The queue reads them in due order: the persona's note, due first now, leads.
    on_persona.rotated_at = utcnow() - timedelta(days=30)
    service._restamp(on_persona)
    db.session.commit()
    assert queued() == ["persona login", "newsletter login", "live login"]
    service.rotate_note(IT, on_live, "fresh-value-1", "Dana Whitfield left")
    db.session.commit()
    assert kept() == {on_retired.id, on_persona.id}
    service.delete_note(IT, on_retired, "the newsletter is gone")
    db.session.commit()
    assert kept() == {on_persona.id}
    assert queued() == ["persona login"]


@pytest.mark.parametrize("actor", [DIRECTOR, HR, STAFF], ids=["director", "hr", "staff"])
def test_the_rotation_queue_is_for_it(app: Flask, actor: Actor) -> None:
    with pytest.raises(PermissionDenied):
        service.rotation_queue(actor)


# --- Rotate, restore, purge ---------------------------------------------------------------


def test_rotating_keeps_the_previous_value_as_a_sealed_version(app: Flask) -> None:
    note = _note()
    before = note.version
    service.rotate_note(IT, note, "the-new-value-2025", "Dana Whitfield left", retention_days=14)
    db.session.commit()
    assert _plain(note) == "the-new-value-2025"
    assert note.version > before
    [version] = note.versions
    assert version.replaced_by == "Ida IT"
    assert version.expires_at - version.replaced_at == timedelta(days=14)
    assert SECRET not in version.secret and crypto.key_id_of(version.secret) == version.key_id == "test-key-1"
    keyring = crypto.current_keyring()
    # The kept value opens only in its own place: the note's reveal never returns it.
    assert keyring.open(version.secret, crypto.associated_data("credential_versions", version.id, "secret")) == SECRET
    with pytest.raises(crypto.UndecryptableSecret):
        keyring.open(version.secret, crypto.associated_data("credential_notes", note.id, "secret"))
    assert service.reveal_note(IT, note, REASON, fresh_sign_in=True) == "the-new-value-2025"
    [event] = _events("credential.rotate")
    assert "Dana Whitfield left" in event.summary
    _assert_no_secret_in_audit(SECRET, "the-new-value-2025")
    assert _count(CredentialReveal) == 1  # only the explicit reveal above


def test_rotating_to_the_same_value_is_refused_and_changes_nothing(app: Flask) -> None:
    note = _note()
    db.session.commit()
    envelope, version = note.secret, note.version
    with pytest.raises(ValidationFailed) as refused:
        service.rotate_note(IT, note, SECRET, "routine rotation")
    assert "same as the current one" in refused.value.field_errors["new_secret"][0]
    assert (note.secret, note.version) == (envelope, version)
    assert _count(CredentialVersion) == 0 and _events("credential.rotate") == []


@pytest.mark.parametrize(
    ("new", "reason", "field"), [("", REASON, "new_secret"), ("new-value-x", "", "reason"), ("new-value-x", " ok ", "reason")]
)
def test_rotating_needs_a_value_and_a_reason(app: Flask, new: str, reason: str, field: str) -> None:
    note = _note()
    with pytest.raises(ValidationFailed) as refused:
        service.rotate_note(IT, note, new, reason)
    assert field in refused.value.field_errors
    assert _count(CredentialVersion) == 0 and _plain(note) == SECRET


def test_a_value_shown_to_the_rotator_is_logged_as_a_reveal(app: Flask) -> None:
    it = _actor(Role.IT, factories.make_person("Ida IT"), remote_addr="10.1.2.3")
    note = _note()
    generated = service.generate_password()
    service.rotate_note(it, note, generated, "quarterly rotation", shown_to_actor=True)
    [reveal] = note.reveals
    assert (reveal.user_id, reveal.person_id, reveal.remote_addr) == (it.user_id, it.person_id, "10.1.2.3")
    assert "generated at rotation" in reveal.reason and "quarterly rotation" in reveal.reason
    assert reveal.revealed_at >= note.rotated_at  # counts as knowing the current value
    assert len(_events("credential.reveal")) == 1
    _assert_no_secret_in_audit(SECRET, generated)


@pytest.mark.parametrize("actor", [DIRECTOR, HR, STAFF], ids=["director", "hr", "staff"])
def test_only_keepers_rotate(app: Flask, actor: Actor) -> None:
    note = _note()
    with pytest.raises(PermissionDenied):
        service.rotate_note(actor, note, "new-value-x", REASON)
    assert _plain(note) == SECRET


def test_restoring_a_version_swaps_the_values_back(app: Flask) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-two", "routine rotation")
    db.session.commit()
    [old] = note.versions
    service.restore_version(IT, note, old.id, "the new password did not work")
    db.session.commit()
    db.session.expire_all()
    assert _plain(note) == SECRET
    [kept] = note.versions  # the value it replaced (SQLite may reuse the deleted row's id)
    keyring = crypto.current_keyring()
    assert keyring.open(kept.secret, crypto.associated_data("credential_versions", kept.id, "secret")) == "value-two"
    assert kept.replaced_at > old.replaced_at
    [_, restore] = _events("credential.rotate")
    assert "restored" in restore.summary and "the new password did not work" in restore.summary
    _assert_no_secret_in_audit(SECRET, "value-two")


@pytest.mark.parametrize("reason", ["", "   ", "ok"])
def test_restoring_needs_a_reason(app: Flask, reason: str) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-two", "routine rotation")
    db.session.commit()
    [old] = note.versions
    with pytest.raises(ValidationFailed) as refused:
        service.restore_version(IT, note, old.id, reason)
    assert "reason" in refused.value.field_errors
    assert _plain(note) == "value-two" and [v.id for v in note.versions] == [old.id]


def test_restoring_the_value_that_is_current_again_is_refused_and_keeps_the_version(app: Flask) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-two", "routine rotation")
    service.rotate_note(IT, note, SECRET, "back to the first value")
    db.session.commit()
    first = min(note.versions, key=lambda v: v.id)  # holds SECRET, which is current again
    with pytest.raises(ValidationFailed):
        service.restore_version(IT, note, first.id, "undo the rotation")
    assert first in note.versions and db.session.get(CredentialVersion, first.id) is not None
    assert _plain(note) == SECRET


def test_an_expired_or_unknown_version_cannot_be_restored(app: Flask) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-two", "routine rotation", retention_days=1)
    [old] = note.versions
    old.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    with pytest.raises(ValidationFailed, match="expired"):
        service.restore_version(IT, note, old.id, "undo the rotation")
    with pytest.raises(NotFound):
        service.restore_version(IT, note, old.id + 1000, "undo the rotation")
    with pytest.raises(PermissionDenied):
        service.restore_version(DIRECTOR, note, old.id, "undo the rotation")


def test_purging_deletes_only_expired_versions(app: Flask) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-2", "routine rotation", retention_days=10)
    service.rotate_note(IT, note, "value-3", "routine rotation", retention_days=40)
    other = _note()
    service.rotate_note(IT, other, "value-b", "routine rotation", retention_days=20)
    db.session.commit()
    assert _count(CredentialVersion) == 3
    assert service.purge_expired_versions() == 0
    assert service.purge_expired_versions(utcnow() + timedelta(days=15)) == 1
    assert service.purge_expired_versions(utcnow() + timedelta(days=15)) == 0
    db.session.commit()
    db.session.expire_all()
    remaining = db.session.scalars(sa.select(CredentialVersion).order_by(CredentialVersion.expires_at)).all()
    assert [(v.note_id, (v.expires_at - v.replaced_at).days) for v in remaining] == [(other.id, 20), (note.id, 40)]
    assert service.purge_expired_versions(utcnow() + timedelta(days=41)) == 2
    assert _count(CredentialVersion) == 0 and _count(CredentialNote) == 2


# --- Generated passwords ------------------------------------------------------------------


def test_generated_password_length_bounds(app: Flask) -> None:
    for length in (12, 24, 128):
        assert len(service.generate_password(length)) == length
    for length in (0, 11, 129, -5):
        with pytest.raises(ValidationFailed) as refused:
            service.generate_password(length)
        assert "length" in refused.value.field_errors


CLASSES = tuple(service.PASSWORD_CLASSES)


@pytest.mark.parametrize(
    "classes", [c for n in range(1, 5) for c in itertools.combinations(CLASSES, n)], ids=lambda c: "+".join(c)
)
def test_generated_passwords_use_only_and_every_chosen_class(app: Flask, classes: tuple[str, ...]) -> None:
    allowed = set("".join(service.PASSWORD_CLASSES[c] for c in classes))
    samples = [service.generate_password(12, classes) for _ in range(300)]
    for password in samples:
        assert set(password) <= allowed
        for cls in classes:
            assert set(password) & set(service.PASSWORD_CLASSES[cls]), f"{password!r} lacks {cls}"
    assert len(set(samples)) == len(samples)
    # The guaranteed characters are shuffled in: no position is always of one class.
    if len(classes) > 1:
        first = {next(c for c in classes if p[0] in service.PASSWORD_CLASSES[c]) for p in samples}
        assert len(first) > 1


def test_the_symbol_class_is_what_it_says() -> None:
    assert set(service.PASSWORD_CLASSES["symbols"]) <= set(string.punctuation)
    assert service.PASSWORD_CLASSES["digits"] == string.digits


def test_a_password_needs_a_known_character_class(app: Flask) -> None:
    for classes in ((), ("emoji",), ("lower", "emoji")):
        with pytest.raises(ValidationFailed) as refused:
            service.generate_password(16, classes)
        assert "classes" in refused.value.field_errors


# --- Reveal -------------------------------------------------------------------------------


def test_a_reveal_is_logged_before_the_value_is_returned(app: Flask) -> None:
    person = factories.make_person("Ida IT")
    it = _actor(Role.IT, person, remote_addr="192.0.2.10")
    note = _note()
    db.session.commit()
    assert service.reveal_note(it, note, "  renewing the domain  ", fresh_sign_in=True) == SECRET
    db.session.commit()
    [reveal] = db.session.scalars(sa.select(CredentialReveal)).all()
    assert (reveal.note_id, reveal.user_id, reveal.person_id, reveal.actor_name, reveal.reason, reveal.remote_addr) == (
        note.id,
        it.user_id,
        person.id,
        it.name,
        "renewing the domain",
        "192.0.2.10",
    )
    [event] = _events("credential.reveal")
    assert (event.object_type, event.object_id, event.actor_id) == ("credential", note.id, it.user_id)
    assert "renewing the domain" in event.summary and event.after == {"reason": "renewing the domain"}
    _assert_no_secret_in_audit(SECRET)


@pytest.mark.parametrize("reason", ["", "    ", "why"])
def test_a_reveal_needs_a_reason(app: Flask, reason: str) -> None:
    note = _note()
    with pytest.raises(ValidationFailed) as refused:
        service.reveal_note(IT, note, reason, fresh_sign_in=True)
    assert "reason" in refused.value.field_errors
    assert _count(CredentialReveal) == 0 and _events("credential.reveal") == []


def test_a_reveal_needs_a_fresh_sign_in(app: Flask) -> None:
    note = _note()
    with pytest.raises(FreshSignInRequired) as refused:
        service.reveal_note(IT, note, REASON, fresh_sign_in=False)
    assert refused.value.status == 401 and "Confirm your password" in refused.value.message
    assert SECRET not in refused.value.message
    assert _count(CredentialReveal) == 0 and _events("credential.reveal") == []


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR])
def test_director_and_hr_never_reveal_even_as_custodians(app: Flask, role: Role) -> None:
    person = factories.make_person()
    actor = _actor(role, person)
    note = _note(profile=_persona(person))
    assert not service.can_reveal(actor, note)
    with pytest.raises(PermissionDenied):
        service.reveal_note(actor, note, REASON, fresh_sign_in=True)
    with pytest.raises(PermissionDenied):
        service.rotate_note(actor, note, "new-value-x", REASON)
    assert _count(CredentialReveal) == 0 and _events("credential.reveal") == []


def test_a_staff_custodian_reveals_their_profile_note_but_no_other(app: Flask) -> None:
    jo = factories.make_person("Jo Kim")
    staff = _actor(Role.STAFF, jo)
    theirs = _note("persona-password", profile=_persona(jo))
    other_profile = _note("other-persona-password", profile=_persona(factories.make_person()))
    on_account = _note("account-password")
    assert service.reveal_note(staff, theirs, REASON, fresh_sign_in=True) == "persona-password"
    for note in (other_profile, on_account):
        with pytest.raises(PermissionDenied):
            service.reveal_note(staff, note, REASON, fresh_sign_in=True)
    assert [r.note_id for r in db.session.scalars(sa.select(CredentialReveal))] == [theirs.id]


def test_a_staff_member_without_a_person_reveals_nothing(app: Flask) -> None:
    note = _note(profile=_persona(factories.make_person()))
    with pytest.raises(PermissionDenied):
        service.reveal_note(STAFF, note, REASON, fresh_sign_in=True)


@pytest.mark.parametrize("actor", [IT, ADMIN], ids=["it", "admin"])
def test_keepers_reveal_any_note(app: Flask, actor: Actor) -> None:
    assert service.reveal_note(actor, _note(profile=_persona()), REASON, fresh_sign_in=True) == SECRET
    assert service.reveal_note(actor, _note("second"), REASON, fresh_sign_in=True) == "second"


def test_deleting_a_note_removes_its_versions_and_reveals(app: Flask) -> None:
    note = _note()
    service.rotate_note(IT, note, "value-two", "routine rotation")
    service.reveal_note(IT, note, REASON, fresh_sign_in=True)
    with pytest.raises(ValidationFailed):
        service.delete_note(IT, note, "")
    with pytest.raises(PermissionDenied):
        service.delete_note(DIRECTOR, note, "no longer used")
    service.delete_note(IT, note, "account closed")
    db.session.commit()
    assert (_count(CredentialNote), _count(CredentialVersion), _count(CredentialReveal)) == (0, 0, 0)
    [event] = _events("credential.delete")
    assert event.before["label"] == "Registrar login" and event.after is None and "account closed" in event.summary
    _assert_no_secret_in_audit(SECRET, "value-two")


# --- Rotation when the old value is unreadable ---------------------------------------------


def test_a_note_whose_value_cannot_be_decrypted_can_still_be_rotated(app: Flask) -> None:
    damaged = _note()
    other = _note("another-secret-value")
    damaged.secret = other.secret  # a ciphertext from another row: it will not open here
    db.session.flush()
    with pytest.raises(crypto.UndecryptableSecret):
        _plain(damaged)
    service.rotate_note(IT, damaged, "a-fresh-value-after-loss", "the stored value was damaged")
    assert _plain(damaged) == "a-fresh-value-after-loss"
    assert damaged.versions == [], "nothing readable to keep for undo"
    event = _events("credential.rotate")[-1]
    assert "could not be decrypted and was not kept" in event.summary


def test_a_blank_new_value_is_refused(app: Flask) -> None:
    note = _note()
    with pytest.raises(ValidationFailed) as refused:
        service.rotate_note(IT, note, "   ", "routine rotation")
    assert "new_secret" in refused.value.field_errors
    assert _plain(note) == SECRET


def test_the_fresh_sign_in_message_follows_the_configured_window(app: Flask) -> None:
    note = _note()
    with pytest.raises(FreshSignInRequired, match="more than 10 minutes ago"):
        service.reveal_note(IT, note, REASON, fresh_sign_in=False, fresh_window_seconds=600)
