"""The demo organisation: each field story of DESIGN.md is in the data, exactly as told."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    AuditEvent,
    Connection,
    Department,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
    User,
)
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.services import audit, credentials, crypto, demo, users
from app.services.catalogue import ensure_catalogue
from app.services.context import Actor
from app.services.errors import PermissionDenied, ValidationFailed


@pytest.fixture
def loaded(app):
    summary = demo.load_demo(Actor.system("test demo"))
    db.session.commit()
    return summary


def person(name: str) -> Person:
    return db.session.execute(sa.select(Person).where(Person.name == name)).scalar_one()


def account(name: str, platform_slug: str) -> Account:
    return db.session.execute(
        sa.select(Account).join(Account.platform).where(Account.name == name, Platform.slug == platform_slug)
    ).scalar_one()


def test_dana_left_two_years_ago_and_still_owns_the_facebook_page(loaded):
    dana = person("Dana Whitfield")
    assert dana.status is PersonStatus.DEPARTED
    assert dana.left_on == date.today() - timedelta(days=730)
    assert dana.personal_email == "dana.whitfield@mail.example"

    page = account("Riverside Public Library", "facebook")
    owner = page.owner_profile
    assert owner.kind is ProfileKind.PERSONAL
    assert owner.holder_id == dana.id
    assert owner.platform.slug == "facebook"


def test_danas_personal_inbox_is_a_recovery_contact_of_the_domain(loaded):
    dana = person("Dana Whitfield")
    registrar = account("riverside.example domain", "domain-registrar")
    assert registrar.has_own_login is True

    contact = db.session.execute(
        sa.select(RecoveryContact).where(RecoveryContact.account_id == registrar.id, RecoveryContact.value == dana.personal_email)
    ).scalar_one()
    assert contact.kind is RecoveryKind.EMAIL
    assert contact.person_id == dana.id
    assert not contact.is_institutional


def test_sam_keeps_the_persona_and_added_his_own_profile_to_the_page(loaded):
    sam = person("Sam Ortiz")
    reads = db.session.execute(sa.select(Profile).where(Profile.name == "Riverside Reads")).scalar_one()
    assert reads.kind is ProfileKind.PERSONA
    assert reads.platform.slug == "facebook"
    assert reads.signup_email == "reference@riverside.example"
    assert [p.id for p in reads.custodians] == [sam.id]

    page = account("Riverside Public Library", "facebook")
    sams_roles = db.session.scalars(
        sa.select(AccountAdmin)
        .join(AccountAdmin.profile)
        .where(AccountAdmin.account_id == page.id, Profile.holder_id == sam.id, Profile.kind == ProfileKind.PERSONAL)
    ).all()
    assert len(sams_roles) == 1
    assert sams_roles[0].role_name in page.platform.role_names
    assert sams_roles[0].profile.platform_id == page.platform_id
    # The persona is an admin of the same Page too.
    assert reads.id in {a.profile_id for a in page.admins}

    mailbox = db.session.execute(
        sa.select(Profile).where(Profile.kind == ProfileKind.SHARED_LOGIN, Profile.handle == "reference@riverside.example")
    ).scalar_one()
    assert sam.id in {p.id for p in mailbox.custodians}
    assert len(mailbox.custodians) > 1


def test_hootsuite_is_connected_to_riversidelib_through_jos_personal_profile(loaded):
    jo = person("Jo Kim")
    jo_reads = db.session.execute(sa.select(Profile).where(Profile.handle == "@jo_reads")).scalar_one()
    assert jo_reads.kind is ProfileKind.PERSONAL
    assert jo_reads.holder_id == jo.id
    assert jo_reads.platform.slug == "x"
    assert jo_reads.speaks_for_organisation is True

    library = db.session.execute(sa.select(Account).where(Account.handle == "@riversidelib")).scalar_one()
    assert library.platform.slug == "x"
    hootsuite = db.session.execute(
        sa.select(Connection).where(Connection.account_id == library.id, Connection.tool_name == "Hootsuite")
    ).scalar_one()
    assert hootsuite.profile_id == jo_reads.id
    # The tool works only while @jo_reads holds a role on the account.
    assert jo_reads.id in {a.profile_id for a in library.admins}


def test_priya_leaves_in_two_weeks_and_is_the_only_admin_of_the_channel(loaded):
    priya = person("Priya Natarajan")
    assert priya.status is PersonStatus.LEAVING
    assert priya.last_day == date.today() + timedelta(days=14)

    channel = account("Riverside Library TV", "youtube")
    assert channel.steward_id == priya.id
    admins = db.session.scalars(sa.select(AccountAdmin).where(AccountAdmin.account_id == channel.id)).all()
    assert len(admins) == 1
    assert admins[0].profile.kind is ProfileKind.PERSONAL
    assert admins[0].profile.holder_id == priya.id
    assert admins[0].profile.platform.slug == "youtube"
    assert admins[0].role_name in channel.platform.role_names


def test_one_sign_in_per_role_each_linked_to_a_person(loaded):
    expected = {
        "admin@riverside.example": Role.ADMIN,
        "director@riverside.example": Role.DIRECTOR,
        "hr@riverside.example": Role.HR,
        "it@riverside.example": Role.IT,
        "staff@riverside.example": Role.STAFF,
    }
    sign_ins = {u.email: u for u in db.session.scalars(sa.select(User))}
    assert {email: u.role for email, u in sign_ins.items()} == expected
    for email, user in sign_ins.items():
        assert user.person is not None, email
        assert user.person.work_email.endswith("@riverside.example")
        assert user.active
        assert users.authenticate(email, demo.DEMO_PASSWORD) is user

    jo = sign_ins["staff@riverside.example"].person
    assert jo.name == "Jo Kim"
    stewarded = db.session.scalars(sa.select(Account).where(Account.steward_id == jo.id)).all()
    assert len(stewarded) >= 3
    assert "@riversidelib" in {a.handle for a in stewarded}


def note_on_account(label: str, account_name: str, platform_slug: str) -> CredentialNote:
    return db.session.execute(
        sa.select(CredentialNote).where(
            CredentialNote.account_id == account(account_name, platform_slug).id, CredentialNote.label == label
        )
    ).scalar_one()


def note_on_profile(label: str, **where: str) -> CredentialNote:
    profile = db.session.execute(sa.select(Profile).filter_by(**where)).scalar_one()
    return db.session.execute(
        sa.select(CredentialNote).where(CredentialNote.profile_id == profile.id, CredentialNote.label == label)
    ).scalar_one()


def days_ago(moment: datetime) -> float:
    return (datetime.now(UTC) - moment).total_seconds() / 86400


def test_dana_revealed_the_registrar_password_before_she_left_and_it_was_never_rotated(loaded):
    dana = person("Dana Whitfield")
    note = note_on_account("Registrar password", "riverside.example domain", "domain-registrar")
    assert note.kind is CredentialKind.PASSWORD

    [reveal] = note.reveals
    assert reveal.person_id == dana.id
    assert reveal.user_id is None
    assert reveal.actor_name == "Dana Whitfield"
    assert "renewing the domain" in reveal.reason
    assert 785 <= days_ago(reveal.revealed_at) <= 795  # two years and two months ago
    assert reveal.revealed_at.date() < dana.left_on  # before she left
    assert note.rotated_at < reveal.revealed_at  # and never rotated since

    report = credentials.state_of(note)
    assert report.state is credentials.NoteState.MUST_ROTATE
    assert any("Dana Whitfield" in reason for reason in report.reasons)


def test_priya_revealed_the_channels_backup_codes_last_month_and_is_leaving(loaded):
    priya = person("Priya Natarajan")
    note = note_on_account("2FA backup codes", "Riverside Library TV", "youtube")
    assert note.kind is CredentialKind.BACKUP_CODES

    [reveal] = note.reveals
    assert reveal.person_id == priya.id
    assert reveal.user_id is None  # Priya has no sign-in to Handover
    assert not db.session.scalars(sa.select(User).where(User.person_id == priya.id)).all()
    assert reveal.actor_name == "Priya Natarajan"
    assert 29 <= days_ago(reveal.revealed_at) <= 31
    assert note.rotated_at < reveal.revealed_at

    report = credentials.state_of(note)
    assert report.state is credentials.NoteState.MUST_ROTATE
    assert any("Priya Natarajan" in reason for reason in report.reasons)


def test_the_rotation_queue_shows_every_state(loaded):
    reads = note_on_profile("Facebook password", name="Riverside Reads", kind=ProfileKind.PERSONA)
    mailbox = note_on_profile("Mailbox password", kind=ProfileKind.SHARED_LOGIN, handle="reference@riverside.example")
    codes = note_on_account("2FA backup codes", "riverside.example domain", "domain-registrar")
    assert credentials.state_of(reads).state is credentials.NoteState.OK
    assert credentials.state_of(mailbox).state is credentials.NoteState.OVERDUE
    assert days_ago(mailbox.rotated_at) > 365
    assert credentials.state_of(codes).state is credentials.NoteState.DUE

    queue = credentials.rotation_queue(Actor.system("test"), per_page=1000).items
    states = [state.state for _, state in queue]
    assert states == sorted(states, key=lambda s: s.rank)
    assert set(states) == {credentials.NoteState.MUST_ROTATE, credentials.NoteState.OVERDUE, credentials.NoteState.DUE}
    assert reads.id not in {n.id for n, _ in queue}
    all_states = {credentials.state_of(n).state for n in db.session.scalars(sa.select(CredentialNote))}
    assert all_states == set(credentials.NoteState)


def test_every_historical_reveal_has_its_audit_event(loaded):
    reveals = db.session.scalars(sa.select(CredentialReveal)).all()
    assert {r.actor_name for r in reveals} == {"Dana Whitfield", "Priya Natarajan"}
    for reveal in reveals:
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == "credential.reveal",
                AuditEvent.object_type == "credential",
                AuditEvent.object_id == reveal.note_id,
            )
        ).all()
        assert event.actor_name == reveal.actor_name
        assert event.actor_id is None
        assert event.summary == f"Revealed “{reveal.note.label}”: {reveal.reason}"
        assert event.after["reason"] == reveal.reason


def test_demo_secrets_are_sealed_and_never_stored_or_logged_in_plaintext(loaded):
    keyring = crypto.current_keyring()
    stored = db.session.execute(sa.text("SELECT id, secret, key_id FROM credential_notes ORDER BY id")).all()
    assert len(stored) == 5
    plaintexts = []
    for note_id, envelope, key_id in stored:
        plaintext = keyring.open(envelope, crypto.associated_data("credential_notes", note_id, "secret"))
        plaintexts.append(plaintext)
        assert len(plaintext) >= 24
        assert plaintext not in envelope
        assert envelope.startswith(f"{crypto.PREFIX}:{keyring.primary.key_id}:")
        assert key_id == keyring.primary.key_id
        # Bound to its row: the same envelope does not open as another note's.
        with pytest.raises(crypto.UndecryptableSecret):
            keyring.open(envelope, crypto.associated_data("credential_notes", note_id + 1000, "secret"))
    assert len(set(plaintexts)) == len(plaintexts)  # each generated, none shared or fixed
    assert demo.DEMO_PASSWORD not in plaintexts

    events = db.session.scalars(sa.select(AuditEvent)).all()
    logged = [json.dumps([e.summary, e.before, e.after], ensure_ascii=False) for e in events]
    logged += [r.reason for r in db.session.scalars(sa.select(CredentialReveal))]
    for plaintext in plaintexts:
        for line in plaintext.splitlines():
            assert not any(line in text for text in logged)


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_organisation_is_large_and_varied(loaded):
    assert count(Person) >= 25
    assert count(Account) >= 30
    assert {p.kind for p in db.session.scalars(sa.select(Profile))} == set(ProfileKind)
    assert count(ProfileCustodian) > 0
    assert count(Connection) > 1
    assert f"{count(Account)} accounts" in loaded
    assert loaded.startswith("Loaded the demo organisation Riverside Public Library")

    departments = db.session.scalars(sa.select(Department)).all()
    assert {d.name for d in departments} >= {"Adult Services", "Children & Teens", "Digital Services", "Communications"}
    for department in departments:
        assert department.head is not None, department.name
        assert department.head.department_id == department.id

    everyone = db.session.scalars(sa.select(Person)).all()
    assert all(p.work_email.endswith("@riverside.example") and p.hr_id and p.job_title for p in everyone)
    assert all(p.personal_email.endswith("@mail.example") for p in everyone if p.personal_email)
    assert sum(1 for p in everyone if p.manager_id) >= 20

    accounts = db.session.scalars(sa.select(Account)).all()
    statuses = [a.status for a in accounts]
    assert statuses.count(AccountStatus.RETIRED) == 1
    assert statuses.count(AccountStatus.DORMANT) >= 2
    assert len({a.last_reviewed_at.date() for a in accounts if a.last_reviewed_at}) >= 10
    assert any(a.last_reviewed_at is None for a in accounts)
    owners = [a.owner_profile for a in accounts if a.owner_profile]
    assert {ProfileKind.PERSONAL, ProfileKind.ORGANISATION} <= {o.kind for o in owners}
    for a in accounts:
        assert a.owner_profile is None or a.owner_profile.platform_id == a.platform_id, a.name
        for admin in a.admins:
            assert admin.role_name in a.platform.role_names, (a.name, admin.role_name)
            assert admin.profile.platform_id == a.platform_id, a.name

    contacts = db.session.scalars(sa.select(RecoveryContact)).all()
    assert any(c.is_institutional for c in contacts) and any(not c.is_institutional for c in contacts)

    checked, broken = audit.verify_chain()
    assert broken is None and checked > 100


def test_loading_twice_is_refused(loaded):
    assert demo.registry_has_data()
    people_before = count(Person)
    with pytest.raises(ValidationFailed, match="already has data"):
        demo.load_demo(Actor.system("test demo"))
    assert count(Person) == people_before


def test_an_empty_registry_has_no_data(app):
    assert not demo.registry_has_data()


def test_only_admins_load_the_demo(app):
    with pytest.raises(PermissionDenied):
        demo.load_demo(Actor(user_id=None, name="IT person", role=Role.IT))
    assert count(Platform) == 0 and count(Person) == 0


def test_the_demo_uses_catalogue_platforms_even_after_a_slug_was_changed(app):
    ensure_catalogue(Actor.system("test"))
    x = db.session.execute(sa.select(Platform).where(Platform.slug == "x")).scalar_one()
    x.slug = "twitter"
    db.session.commit()

    summary = demo.load_demo(Actor.system("test demo"))

    assert "platforms added" not in summary
    library = db.session.execute(sa.select(Account).where(Account.handle == "@riversidelib")).scalar_one()
    assert library.platform_id == x.id
