"""The findings engine, rule by rule: for each of DESIGN.md's audit rules the smallest registry
that makes it fire (exactly one finding: rule, subject, account, person and a sentence naming
them) and the smallest change that clears it. Then: retired accounts never count, every filter
narrows, risk acceptance (who, what, expiry, withdrawal, audit), the summary agrees with the
list, and the daily snapshots behind the trend."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import (
    Account,
    AccountStatus,
    AuditEvent,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileKind,
    RecoveryKind,
    Role,
)
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.models.finding import FindingAcceptance, FindingSnapshot
from app.services import credentials, findings
from app.services.context import Actor
from app.services.credentials import NoteData
from app.services.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.findings import RULES, Finding, FindingFilters, Severity
from tests import factories

IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
ADMIN = Actor(user_id=None, name="Ada Admin", role=Role.ADMIN)
LEFT = [PersonStatus.LEAVING, PersonStatus.DEPARTED]


# --- Helpers ------------------------------------------------------------------------------


def clean_account(
    name: str = "Riverside Page", *, platform: Platform | None = None, admins: int = 2, steward: Person | None = None, **kw: Any
) -> Account:
    """An account that raises no finding: organisation owner, two admins, an institutional
    recovery contact, an active steward, reviewed today, no login of its own."""
    platform = platform or factories.make_platform()
    owner = factories.make_profile(platform, ProfileKind.ORGANISATION, name=f"{name} owner")
    kw.setdefault("last_reviewed_at", utcnow())
    account = factories.make_account(
        platform=platform,
        name=name,
        owner_profile=owner,
        steward=steward or factories.make_person(f"{name} Steward"),
        **kw,
    )
    profiles = [owner, factories.make_profile(platform, ProfileKind.ORGANISATION, name=f"{name} team")]
    for profile in profiles[:admins]:
        factories.make_admin(account, profile, "owner" if profile is owner else "admin")
    factories.make_recovery(account, "it@org.example")
    return account


def run(**filters: Any) -> list[Finding]:
    review_interval_days = filters.pop("review_interval_days", 365)
    today = filters.pop("today", None)
    return findings.evaluate(FindingFilters(**filters), review_interval_days, today)


def rules_of(items: list[Finding]) -> list[str]:
    return sorted(x.rule.id for x in items)


def only(rule_id: str, **filters: Any) -> Finding:
    """The one finding of ``rule_id`` (asserting there is exactly one)."""
    items = run(rule_id=rule_id, **filters)
    assert len(items) == 1, [(x.rule.id, x.account_name, x.detail) for x in items]
    return items[0]


def assert_account_finding(finding: Finding, rule_id: str, account: Account, person: Person | None = None) -> None:
    assert finding.rule is RULES[rule_id]
    assert finding.severity is RULES[rule_id].severity
    assert (finding.subject_type, finding.subject_id) == ("account", account.id)
    assert (finding.account_id, finding.account_name) == (account.id, account.name)
    assert (finding.platform_id, finding.department_id, finding.steward_id) == (
        account.platform_id,
        account.department_id,
        account.steward_id,
    )
    if person is None:
        assert finding.person_id is None
    else:
        assert (finding.person_id, finding.person_name) == (person.id, person.name)
        assert person.name in finding.detail
    assert finding.detail[:1].isupper() and finding.detail.endswith(".")
    assert finding.accepted is None


def note_on(account: Account | None = None, profile: Profile | None = None, label: str = "Registrar login") -> CredentialNote:
    return credentials.create_note(IT, NoteData(label, CredentialKind.PASSWORD), "s3cret-value", account=account, profile=profile)


def reveal(note: CredentialNote, person: Person, days_ago: float = 0) -> CredentialReveal:
    row = CredentialReveal(
        note=note,
        person=person,
        actor_name=person.name,
        reason="renewing the domain",
        revealed_at=utcnow() - timedelta(days=days_ago),
    )
    db.session.add(row)
    db.session.flush()
    return row


def rotate(note: CredentialNote) -> None:
    credentials.rotate_note(IT, note, credentials.generate_password(), "the holder left")
    db.session.flush()


def leave(person: Person, status: PersonStatus) -> None:
    person.status = status
    if status is PersonStatus.LEAVING:
        person.last_day = date.today() + timedelta(days=5)
    else:
        person.left_on = date.today()
    db.session.flush()


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_clean_account_raises_nothing(app: Flask) -> None:
    clean_account()
    assert run(show="all") == []


def test_every_rule_is_listed_once_with_the_designed_severity() -> None:
    assert {rule_id: rule.severity for rule_id, rule in RULES.items()} == {
        "owner-personal": Severity.HIGH,
        "held-by-leaver": Severity.CRITICAL,
        "single-admin": Severity.HIGH,
        "recovery-personal": Severity.HIGH,
        "recovery-missing": Severity.MEDIUM,
        "credential-leaver": Severity.CRITICAL,
        "credential-overdue": Severity.MEDIUM,
        "login-without-note": Severity.MEDIUM,
        "no-steward": Severity.MEDIUM,
        "shared-password": Severity.LOW,
        "not-reviewed": Severity.LOW,
    }
    assert set(findings.EVALUATORS) == set(RULES)
    for rule in RULES.values():
        assert rule.title and rule.why.endswith(".") and rule.action


# --- owner-personal -----------------------------------------------------------------------


def test_owner_personal_fires_for_a_personal_owner_and_clears_with_an_organisation_owner(app: Flask) -> None:
    account = clean_account()
    pat = factories.make_person("Pat Holder")
    org_owner = account.owner_profile
    account.owner_profile = factories.make_profile(
        account.platform, ProfileKind.PERSONAL, holder=pat, name="Pat H", handle="@pat"
    )
    db.session.flush()

    [finding] = run()
    assert_account_finding(finding, "owner-personal", account, pat)
    assert finding.detail == "Pat H (@pat) is the personal profile of Pat Holder and holds the top role."

    account.owner_profile = org_owner
    db.session.flush()
    assert run() == []


@pytest.mark.parametrize("kind", [ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN, ProfileKind.ORGANISATION])
def test_owner_personal_ignores_the_other_profile_kinds(app: Flask, kind: ProfileKind) -> None:
    account = clean_account()
    account.owner_profile = factories.make_profile(account.platform, kind)
    db.session.flush()
    assert run(rule_id="owner-personal") == []


# --- held-by-leaver -----------------------------------------------------------------------


def _hold_as_owner(account: Account, lee: Person) -> Any:
    org_owner = account.owner_profile
    account.owner_profile = factories.make_profile(account.platform, ProfileKind.PERSONAL, holder=lee)

    def clear() -> None:
        account.owner_profile = org_owner

    return clear


def _hold_as_admin(account: Account, lee: Person) -> Any:
    admin = factories.make_admin(account, factories.make_profile(account.platform, ProfileKind.PERSONAL, holder=lee))

    def clear() -> None:
        account.admins.remove(admin)

    return clear


def _keep_the_owner_profile(account: Account, lee: Person) -> Any:
    account.owner_profile = factories.make_profile(account.platform, ProfileKind.PERSONA, custodians=[lee])

    def clear() -> None:
        account.owner_profile.custodian_links.clear()

    return clear


def _keep_an_admin_profile(account: Account, lee: Person) -> Any:
    persona = factories.make_profile(account.platform, ProfileKind.PERSONA, custodians=[lee], name="Melvilla Dewey")
    factories.make_admin(account, persona, "editor")

    def clear() -> None:
        persona.custodian_links.clear()

    return clear


def _be_a_recovery_contact(account: Account, lee: Person) -> Any:
    contact = factories.make_recovery(account, "Lee (trusted contact)", RecoveryKind.TRUSTED_CONTACT, person=lee)

    def clear() -> None:
        account.recovery_contacts.remove(contact)

    return clear


@pytest.mark.parametrize("status", LEFT, ids=lambda s: s.value)
@pytest.mark.parametrize(
    ("hold", "how", "also"),
    [
        (_hold_as_owner, "owner profile", ["owner-personal"]),
        (_hold_as_admin, "admin role", []),
        (_keep_the_owner_profile, "keeps the owner profile", []),
        (_keep_an_admin_profile, "keeps a profile with a role", []),
        (_be_a_recovery_contact, "recovery contact", []),
    ],
    ids=["owner", "admin", "owner-custodian", "admin-custodian", "recovery"],
)
def test_held_by_leaver_fires_on_each_path_and_clears_when_the_link_goes(
    app: Flask, hold: Any, how: str, also: list[str], status: PersonStatus
) -> None:
    account = clean_account()
    lee = factories.make_person("Lee Leaver")
    clear = hold(account, lee)
    db.session.flush()
    assert run(rule_id="held-by-leaver") == [], "an active person holding it is not a leaver finding"

    leave(lee, status)
    assert rules_of(run()) == sorted(["held-by-leaver", *also])
    finding = only("held-by-leaver")
    assert_account_finding(finding, "held-by-leaver", account, lee)
    assert finding.detail == f"Lee Leaver ({status.value}): {how}."
    assert (finding.action_endpoint, finding.action_args) == ("people.detail", {"person_id": lee.id})

    clear()
    db.session.flush()
    assert run() == []


def test_held_by_leaver_is_one_finding_per_account_naming_every_leaver_and_every_way(app: Flask) -> None:
    account = clean_account()
    ann = factories.make_person("Ann Gone", status=PersonStatus.DEPARTED)
    bob = factories.make_person("Bob Going", status=PersonStatus.LEAVING)
    _hold_as_owner(account, ann)
    _hold_as_admin(account, ann)
    _be_a_recovery_contact(account, bob)
    db.session.flush()

    finding = only("held-by-leaver")
    assert finding.detail == "Ann Gone (departed): owner profile, admin role; Bob Going (leaving): recovery contact."
    assert (finding.person_id, finding.person_ids) == (ann.id, (ann.id, bob.id))
    # Either leaver's page finds it (the second one is not the finding's first person).
    assert [x.rule.id for x in run(person_id=bob.id)] == ["held-by-leaver"]
    assert "held-by-leaver" in rules_of(run(person_id=ann.id))


# --- single-admin -------------------------------------------------------------------------


def test_single_admin_fires_with_none_or_one_and_clears_with_two(app: Flask) -> None:
    none = clean_account("No admins", admins=0)
    one = clean_account("One admin", admins=1)
    clean_account("Two admins", admins=2)

    by_account = {x.account_id: x for x in run()}
    assert set(by_account) == {none.id, one.id}
    assert_account_finding(by_account[none.id], "single-admin", none)
    assert by_account[none.id].detail == "No active admin is recorded."
    assert_account_finding(by_account[one.id], "single-admin", one)
    assert by_account[one.id].detail == "One admin owner is the only active admin recorded."

    factories.make_admin(one, factories.make_profile(one.platform, ProfileKind.PERSONA), "editor")
    assert [x.account_id for x in run()] == [none.id]


@pytest.mark.parametrize("status", LEFT, ids=lambda s: s.value)
def test_an_admin_whose_personal_profile_belongs_to_a_leaver_does_not_count(app: Flask, status: PersonStatus) -> None:
    account = clean_account(admins=1)
    kim = factories.make_person("Kim Active")
    factories.make_admin(account, factories.make_profile(account.platform, ProfileKind.PERSONAL, holder=kim, name="Kim K"))
    assert run() == [], "the personal profile of someone active counts as an admin"

    leave(kim, status)
    assert rules_of(run()) == ["held-by-leaver", "single-admin"]
    assert only("single-admin").detail == "Riverside Page owner is the only active admin recorded."


# --- recovery-personal and recovery-missing -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "word"),
    [(RecoveryKind.EMAIL, "pat.own@mail.example", "email"), (RecoveryKind.PHONE, "+1 202-555-0100", "phone")],
)
def test_recovery_personal_fires_for_a_persons_email_or_phone_and_clears_when_institutional(
    app: Flask, kind: RecoveryKind, value: str, word: str
) -> None:
    account = clean_account()
    pat = factories.make_person("Pat Own")
    contact = factories.make_recovery(account, value, kind, person=pat)

    [finding] = run()
    assert_account_finding(finding, "recovery-personal", account, pat)
    assert finding.detail == f"Recovery {word} {value} belongs to Pat Own."

    contact.person = None  # the same address, now recorded as the organisation's
    db.session.flush()
    assert run() == []


def test_recovery_personal_is_about_emails_and_phones_only(app: Flask) -> None:
    account = clean_account()
    factories.make_recovery(
        account, "Pat keeps the printed codes", RecoveryKind.BACKUP_CODES_HOLDER, person=factories.make_person()
    )
    assert run() == []


def test_recovery_personal_names_every_personal_contact_in_one_finding(app: Flask) -> None:
    account = clean_account()
    pat, quinn = factories.make_person("Pat Own"), factories.make_person("Quinn Other")
    factories.make_recovery(account, "pat@mail.example", RecoveryKind.EMAIL, person=pat)
    factories.make_recovery(account, "+1 202-555-0199", RecoveryKind.PHONE, person=quinn)
    finding = only("recovery-personal")
    assert (
        finding.detail
        == "Recovery email pat@mail.example belongs to Pat Own; recovery phone +1 202-555-0199 belongs to Quinn Other."
    )
    assert finding.person_ids == (pat.id, quinn.id)
    assert [x.rule.id for x in run(person_id=quinn.id)] == ["recovery-personal"]


def test_recovery_missing_fires_without_any_contact_and_clears_with_one(app: Flask) -> None:
    account = clean_account()
    account.recovery_contacts.clear()
    db.session.flush()

    [finding] = run()
    assert_account_finding(finding, "recovery-missing", account)
    assert "recovery" in finding.detail

    factories.make_recovery(account, "it@org.example")
    assert run() == []


# --- credential-leaver and credential-overdue ---------------------------------------------


@pytest.mark.parametrize("status", LEFT, ids=lambda s: s.value)
def test_credential_leaver_fires_when_someone_who_revealed_it_leaves_and_clears_on_rotation(
    app: Flask, status: PersonStatus
) -> None:
    account = clean_account(has_own_login=True)
    note = note_on(account)
    dana = factories.make_person("Dana Whitfield")
    reveal(note, dana)
    assert run() == [], "a reveal by someone still here is not a finding"

    leave(dana, status)
    assert rules_of(run()) == ["credential-leaver"]
    finding = only("credential-leaver")
    assert finding.rule is RULES["credential-leaver"] and finding.severity is Severity.CRITICAL
    assert (finding.subject_type, finding.subject_id) == ("credential", note.id)
    assert (finding.account_id, finding.account_name, finding.steward_id) == (account.id, account.name, account.steward_id)
    assert (finding.person_id, finding.person_name, finding.person_ids) == (dana.id, "Dana Whitfield", (dana.id,))
    assert finding.detail.startswith(f"“Registrar login”: Dana Whitfield ({status.value}) revealed it on ")
    assert (finding.action_endpoint, finding.action_args) == ("credentials.rotate", {"note_id": note.id})

    rotate(note)
    assert run() == []


def test_a_reveal_before_the_last_rotation_does_not_count(app: Flask) -> None:
    account = clean_account(has_own_login=True)
    note = note_on(account)
    reveal(note, factories.make_person("Dana Whitfield", status=PersonStatus.DEPARTED), days_ago=3)
    assert run() == []


def test_credential_leaver_fires_for_a_departed_custodian_of_a_profile_note(app: Flask) -> None:
    jo = factories.make_person("Jo Kim")
    platform = factories.make_platform("Google Workspace")
    persona = factories.make_profile(platform, ProfileKind.SHARED_LOGIN, custodians=[jo], name="Reference desk")
    note = note_on(profile=persona, label="Mailbox password")
    leave(jo, PersonStatus.DEPARTED)

    [finding] = run()
    assert (finding.rule.id, finding.subject_type, finding.subject_id) == ("credential-leaver", "credential", note.id)
    assert (finding.account_id, finding.account_name) == (None, "Reference desk (profile)")
    assert (finding.platform_id, finding.platform_name) == (platform.id, "Google Workspace")
    assert (finding.person_id, finding.person_name) == (jo.id, "Jo Kim")
    assert finding.detail == "“Mailbox password”: Jo Kim (departed) keeps this profile."
    # A profile note has no department or steward: those filters leave it out, the platform keeps it.
    assert run(department_id=factories.make_department().id) == []
    assert len(run(platform_id=platform.id)) == 1
    assert run(platform_id=factories.make_platform().id) == []

    rotate(note)
    assert run() == []


def test_credential_overdue_fires_past_the_interval_and_clears_on_rotation(app: Flask) -> None:
    account = clean_account(has_own_login=True)
    note = note_on(account)
    note.rotated_at = utcnow() - timedelta(days=400)
    note.due_at = note.rotated_at + timedelta(days=365)
    db.session.flush()

    [finding] = run()
    assert (finding.rule.id, finding.severity) == ("credential-overdue", Severity.MEDIUM)
    assert (finding.subject_type, finding.subject_id, finding.account_id) == ("credential", note.id, account.id)
    assert (finding.person_id, finding.person_ids) == (None, ())
    assert finding.detail.startswith("“Registrar login”: last rotated ") and finding.detail.endswith("due every 365 days.")

    # Due soon is the rotation queue's business, not a finding.
    note.due_at = utcnow() + timedelta(days=10)
    db.session.flush()
    assert run() == []
    note.due_at = utcnow() - timedelta(days=1)
    db.session.flush()
    assert rules_of(run()) == ["credential-overdue"]
    rotate(note)
    assert run() == []


# --- login-without-note, no-steward -------------------------------------------------------


def test_login_without_note_fires_for_an_own_login_and_clears_with_a_note(app: Flask) -> None:
    account = clean_account(has_own_login=True)
    [finding] = run()
    assert_account_finding(finding, "login-without-note", account)
    assert (finding.action_endpoint, finding.action_args) == ("credentials.create", {"account": account.id})

    note_on(account)
    assert run() == []


def test_a_note_on_an_account_without_its_own_login_raises_nothing(app: Flask) -> None:
    note_on(clean_account())
    assert run() == []


def test_no_steward_fires_without_one(app: Flask) -> None:
    account = clean_account()
    steward = account.steward
    account.steward = None
    db.session.flush()
    [finding] = run()
    assert_account_finding(finding, "no-steward", account)
    assert finding.detail == "No steward is recorded."

    account.steward = steward
    db.session.flush()
    assert run() == []


@pytest.mark.parametrize("status", LEFT, ids=lambda s: s.value)
def test_no_steward_fires_for_a_steward_who_left_and_clears_with_an_active_one(app: Flask, status: PersonStatus) -> None:
    account = clean_account(steward=factories.make_person("Sue Steward"))
    leave(account.steward, status)
    [finding] = run()
    assert_account_finding(finding, "no-steward", account, account.steward)
    assert finding.detail == f"The steward, Sue Steward, is {status.value}."

    account.steward = factories.make_person("New Steward")
    db.session.flush()
    assert run() == []


# --- shared-password ----------------------------------------------------------------------


@pytest.mark.parametrize("as_owner", [False, True], ids=["admin", "owner"])
def test_shared_password_fires_where_the_platform_offers_delegated_access(app: Flask, as_owner: bool) -> None:
    platform = factories.make_platform("Instagram", delegated_access=True)
    account = clean_account(platform=platform)
    shared = factories.make_profile(platform, ProfileKind.SHARED_LOGIN, name="Comms team login")
    if as_owner:
        previous = account.owner_profile
        account.owner_profile = shared
    else:
        admin = factories.make_admin(account, shared)
    db.session.flush()

    [finding] = run()
    assert_account_finding(finding, "shared-password", account)
    assert (
        finding.detail == "Instagram can give each person their own role, but the shared login Comms team login holds one here."
    )

    if as_owner:
        account.owner_profile = previous
    else:
        account.admins.remove(admin)
    db.session.flush()
    assert run() == []


def test_shared_password_needs_delegated_access(app: Flask) -> None:
    platform = factories.make_platform("Registrar", delegated_access=False)
    account = clean_account(platform=platform)
    shared = factories.make_profile(platform, ProfileKind.SHARED_LOGIN)
    account.owner_profile = shared
    factories.make_admin(account, shared, "account owner")
    assert run() == []
    platform.delegated_access = True
    db.session.flush()
    assert rules_of(run()) == ["shared-password"]


# --- not-reviewed -------------------------------------------------------------------------


def test_not_reviewed_fires_when_never_reviewed(app: Flask) -> None:
    account = clean_account(last_reviewed_at=None)
    [finding] = run()
    assert_account_finding(finding, "not-reviewed", account)
    assert finding.detail == "Never reviewed."
    account.last_reviewed_at = utcnow() - timedelta(days=3)
    db.session.flush()
    assert run() == []


def test_not_reviewed_fires_after_the_interval_and_a_recent_review_clears_it(app: Flask) -> None:
    reviewed = utcnow() - timedelta(days=400)
    account = clean_account(last_reviewed_at=reviewed)
    [finding] = run()
    assert_account_finding(finding, "not-reviewed", account)
    assert finding.detail == f"Last reviewed on {reviewed:%d %b %Y}."
    assert run(review_interval_days=500) == [], "within a longer interval it is fine"

    account.last_reviewed_at = utcnow() - timedelta(days=60)
    db.session.flush()
    assert run() == []
    assert rules_of(run(review_interval_days=30)) == ["not-reviewed"]


# --- Retired accounts ---------------------------------------------------------------------


def test_a_retired_account_never_produces_findings(app: Flask) -> None:
    platform = factories.make_platform(delegated_access=True)
    lee = factories.make_person("Lee Leaver")
    account = factories.make_account(
        platform=platform,
        owner_profile=factories.make_profile(platform, ProfileKind.PERSONAL, holder=lee),
        has_own_login=True,
        status=AccountStatus.RETIRED,
    )
    factories.make_admin(account, factories.make_profile(platform, ProfileKind.SHARED_LOGIN))
    factories.make_recovery(account, "lee@mail.example", person=lee)
    note = note_on(account)
    reveal(note, lee)
    leave(lee, PersonStatus.DEPARTED)
    overdue = note_on(factories.make_account(platform=platform, status=AccountStatus.RETIRED), label="old")
    overdue.due_at = utcnow() - timedelta(days=30)
    db.session.flush()
    assert run(show="all") == []

    account.status = AccountStatus.ACTIVE
    db.session.flush()
    assert set(rules_of(run())) == {
        "owner-personal",
        "held-by-leaver",
        "single-admin",
        "recovery-personal",
        "credential-leaver",
        "no-steward",
        "shared-password",
        "not-reviewed",
    }


# --- Filters ------------------------------------------------------------------------------


@pytest.fixture
def two_accounts(app: Flask) -> dict[str, Any]:
    """A: Lending, Facebook, steward Sam; no recovery and never reviewed (medium + low).
    B: Archive, YouTube, steward Kim; owned by Pat's personal profile (high)."""
    lending, archive = factories.make_department("Lending"), factories.make_department("Archive")
    facebook, youtube = factories.make_platform("Facebook"), factories.make_platform("YouTube")
    sam, kim, pat = factories.make_person("Sam Steward"), factories.make_person("Kim Steward"), factories.make_person("Pat Owner")
    a = clean_account("A page", platform=facebook, department=lending, steward=sam, last_reviewed_at=None)
    a.recovery_contacts.clear()
    b = clean_account("B channel", platform=youtube, department=archive, steward=kim)
    b.owner_profile = factories.make_profile(youtube, ProfileKind.PERSONAL, holder=pat)
    db.session.commit()
    return {
        "a": a,
        "b": b,
        "lending": lending,
        "archive": archive,
        "facebook": facebook,
        "youtube": youtube,
        "sam": sam,
        "kim": kim,
        "pat": pat,
    }


def keys(items: list[Finding]) -> set[tuple[str, str]]:
    return {(x.rule.id, x.account_name) for x in items}


def test_each_filter_narrows(two_accounts: dict[str, Any]) -> None:
    t = two_accounts
    a_all = {("recovery-missing", "A page"), ("not-reviewed", "A page")}
    b_all = {("owner-personal", "B channel")}
    assert keys(run()) == a_all | b_all
    assert [x.rule.id for x in run()] == ["owner-personal", "recovery-missing", "not-reviewed"], "most severe first"
    assert keys(run(rule_id="owner-personal")) == b_all
    assert keys(run(rule_id="recovery-missing")) == {("recovery-missing", "A page")}
    assert run(rule_id="no-such-rule") == []
    assert keys(run(severity=Severity.MEDIUM)) == {("recovery-missing", "A page")}
    assert keys(run(severity=Severity.HIGH)) == b_all
    assert run(severity=Severity.CRITICAL) == []
    assert keys(run(department_id=t["lending"].id)) == a_all
    assert keys(run(department_id=t["archive"].id)) == b_all
    assert keys(run(platform_id=t["facebook"].id)) == a_all
    assert keys(run(platform_id=t["youtube"].id)) == b_all
    assert keys(run(steward_id=t["sam"].id)) == a_all
    assert keys(run(steward_id=t["kim"].id)) == b_all
    assert keys(run(person_id=t["pat"].id)) == b_all, "the person a finding is about"
    assert keys(run(person_id=t["sam"].id)) == a_all, "and the accounts a person stewards"
    assert keys(run(account_id=t["a"].id)) == a_all
    assert keys(run(account_id=t["b"].id)) == b_all
    assert keys(run(department_id=t["lending"].id, severity=Severity.LOW)) == {("not-reviewed", "A page")}
    assert run(department_id=t["lending"].id, platform_id=t["youtube"].id) == []


def test_the_show_filter_separates_open_and_accepted(two_accounts: dict[str, Any]) -> None:
    a = two_accounts["a"]
    findings.accept_finding(
        DIRECTOR, "not-reviewed", "account", a.id, "Reviewed in the spring campaign", date.today() + timedelta(days=30)
    )
    accepted = ("not-reviewed", "A page")
    assert accepted not in keys(run())
    assert keys(run(show="accepted")) == {accepted}
    assert keys(run(show="all")) == keys(run()) | {accepted}
    [finding] = run(show="accepted")
    assert finding.accepted is not None
    assert (finding.accepted.by, finding.accepted.reason) == ("Dee Director", "Reviewed in the spring campaign")
    assert finding.accepted.expires_on == date.today() + timedelta(days=30)


def test_staff_see_only_the_findings_of_the_accounts_they_steward(two_accounts: dict[str, Any]) -> None:
    sam = Actor(user_id=None, name="Sam", role=Role.STAFF, person_id=two_accounts["sam"].id)
    page, summary = findings.list_findings(sam, FindingFilters())
    assert {x.account_name for x in page.items} == {"A page"}
    assert summary.total == page.total == 2
    stranger = Actor(user_id=None, name="Nobody", role=Role.STAFF)
    assert findings.list_findings(stranger, FindingFilters())[0].items == []
    director_page, director_summary = findings.list_findings(DIRECTOR, FindingFilters(), per_page=2)
    assert (director_page.total, len(director_page.items), director_summary.total) == (3, 2, 3)
    assert len(findings.list_findings(DIRECTOR, FindingFilters(), page=9, per_page=2)[0].items) == 1


# --- Risk acceptance ----------------------------------------------------------------------


@pytest.fixture
def personal_owner(app: Flask) -> Account:
    account = clean_account()
    account.owner_profile = factories.make_profile(account.platform, ProfileKind.PERSONAL, holder=factories.make_person("Pat"))
    db.session.commit()
    assert rules_of(run()) == ["owner-personal"]
    return account


def accept(actor: Actor, account: Account, reason: str = "The board agreed to wait for the new page", days: int = 90) -> Any:
    return findings.accept_finding(actor, "owner-personal", "account", account.id, reason, date.today() + timedelta(days=days))


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.ADMIN])
def test_a_director_or_admin_accepts_a_risk_and_it_is_audited(personal_owner: Account, role: Role) -> None:
    actor = Actor(user_id=None, name=f"{role.label} Person", role=role)
    acceptance = accept(actor, personal_owner)
    assert (acceptance.rule_id, acceptance.subject_type, acceptance.subject_id) == (
        "owner-personal",
        "account",
        personal_owner.id,
    )
    assert (acceptance.accepted_by_name, acceptance.expires_on) == (actor.name, date.today() + timedelta(days=90))
    assert run() == []
    assert rules_of(run(show="accepted")) == ["owner-personal"]
    [event] = events("finding.accept")
    assert (event.object_type, event.object_id, event.actor_name) == ("account", personal_owner.id, actor.name)
    assert "Owned by a personal profile" in event.summary and personal_owner.name in event.summary
    assert event.after == {
        "rule": "owner-personal",
        "expires_on": (date.today() + timedelta(days=90)).isoformat(),
        "reason": "The board agreed to wait for the new page",
    }


@pytest.mark.parametrize("role", [Role.IT, Role.HR, Role.STAFF, None])
def test_only_a_director_or_admin_accepts_or_withdraws(personal_owner: Account, role: Role | None) -> None:
    actor = Actor(user_id=None, name="Someone", role=role)
    with pytest.raises(PermissionDenied):
        accept(actor, personal_owner)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0
    accept(DIRECTOR, personal_owner)
    with pytest.raises(PermissionDenied):
        findings.withdraw_acceptance(actor, "owner-personal", "account", personal_owner.id)
    assert run() == []
    assert events("finding.withdraw") == []


@pytest.mark.parametrize(
    ("reason", "days", "field"),
    [
        ("", 30, "reason"),
        ("  ok ", 30, "reason"),
        ("A good reason", 0, "expires_on"),
        ("A good reason", -5, "expires_on"),
        ("A good reason", 731, "expires_on"),
    ],
)
def test_acceptance_needs_a_reason_and_a_future_expiry_within_two_years(
    personal_owner: Account, reason: str, days: int, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        accept(DIRECTOR, personal_owner, reason, days)
    assert field in refused.value.field_errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0
    assert events("finding.accept") == []


def test_two_years_is_the_longest_acceptance(personal_owner: Account) -> None:
    assert accept(DIRECTOR, personal_owner, days=730).expires_on == date.today() + timedelta(days=730)


def test_a_finding_that_does_not_apply_cannot_be_accepted(personal_owner: Account) -> None:
    with pytest.raises(NotFound):
        findings.accept_finding(
            DIRECTOR, "single-admin", "account", personal_owner.id, "A good reason", date.today() + timedelta(days=5)
        )
    with pytest.raises(NotFound):
        findings.accept_finding(
            DIRECTOR, "no-such-rule", "account", personal_owner.id, "A good reason", date.today() + timedelta(days=5)
        )
    with pytest.raises(NotFound):
        findings.accept_finding(
            DIRECTOR, "owner-personal", "credential", personal_owner.id, "A good reason", date.today() + timedelta(days=5)
        )
    personal_owner.owner_profile = factories.make_profile(personal_owner.platform)
    db.session.flush()
    with pytest.raises(NotFound):
        accept(DIRECTOR, personal_owner)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0


def test_an_acceptance_expires_and_the_finding_is_open_again(personal_owner: Account) -> None:
    expires = accept(DIRECTOR, personal_owner, days=10).expires_on
    assert run(today=expires) == [], "accepted up to and including the expiry date"
    [finding] = run(today=expires + timedelta(days=1))
    assert (finding.rule.id, finding.accepted) == ("owner-personal", None)
    assert run(today=expires + timedelta(days=1), show="accepted") == []
    # Accepting it again replaces the old acceptance (one row per finding).
    accept(ADMIN, personal_owner, "Extended after the board meeting", days=40)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 1
    assert run(show="accepted")[0].accepted.reason == "Extended after the board meeting"
    first, second = events("finding.accept")
    assert first.before is None
    assert second.before == {
        "rule": "owner-personal",
        "expires_on": expires.isoformat(),
        "reason": "The board agreed to wait for the new page",
        "accepted_by": "Dee Director",
    }
    assert second.after["reason"] == "Extended after the board meeting"


def test_withdrawing_an_acceptance_reopens_the_finding(personal_owner: Account) -> None:
    accept(DIRECTOR, personal_owner)
    findings.withdraw_acceptance(ADMIN, "owner-personal", "account", personal_owner.id)
    assert rules_of(run()) == ["owner-personal"]
    assert run(show="accepted") == []
    [event] = events("finding.withdraw")
    assert (event.object_type, event.object_id, event.actor_name) == ("account", personal_owner.id, "Ada Admin")
    assert event.before == {
        "rule": "owner-personal",
        "expires_on": (date.today() + timedelta(days=90)).isoformat(),
        "reason": "The board agreed to wait for the new page",
        "accepted_by": "Dee Director",
    }
    with pytest.raises(NotFound):
        findings.withdraw_acceptance(ADMIN, "owner-personal", "account", personal_owner.id)


def test_a_credential_finding_is_accepted_by_its_note(app: Flask) -> None:
    account = clean_account(has_own_login=True)
    note = note_on(account)
    reveal(note, factories.make_person("Dana", status=PersonStatus.DEPARTED))
    findings.accept_finding(
        DIRECTOR,
        "credential-leaver",
        "credential",
        note.id,
        "Rotation booked with the registrar",
        date.today() + timedelta(days=7),
    )
    assert run() == []
    assert [(x.rule.id, x.subject_id) for x in run(show="accepted")] == [("credential-leaver", note.id)]


# --- Summary, snapshots and the trend -----------------------------------------------------


def test_the_summary_counts_exactly_the_open_findings(two_accounts: dict[str, Any]) -> None:
    account = clean_account("C page", has_own_login=True, last_reviewed_at=None)
    account.steward = None
    findings.accept_finding(
        DIRECTOR, "not-reviewed", "account", account.id, "Reviewed next month", date.today() + timedelta(days=20)
    )
    everything = run(show="all")
    open_items = [x for x in everything if x.accepted is None]
    summary = findings.summarize(everything)

    assert summary.total == len(open_items) == 5
    assert summary.accepted == 1
    for severity in Severity:
        assert summary.by_severity[severity] == sum(1 for x in open_items if x.severity is severity)
    assert summary.by_rule == {rule_id: n for rule_id in RULES if (n := sum(1 for x in open_items if x.rule.id == rule_id))}
    assert summary.by_department == {
        two_accounts["lending"].id: ("Lending", 2),
        two_accounts["archive"].id: ("Archive", 1),
        None: ("No department", 2),
    }
    assert sum(summary.by_severity.values()) == sum(summary.by_rule.values()) == summary.total
    assert sum(n for _, n in summary.by_department.values()) == summary.total
    assert findings.summarize(open_items).total == summary.total


def test_a_snapshot_a_day_and_the_trend_in_order(two_accounts: dict[str, Any]) -> None:
    today = date.today()
    first = findings.record_snapshot(today)
    assert (first.taken_on, first.total) == (today, 3)
    assert first.by_severity == {"critical": 0, "high": 1, "medium": 1, "low": 1}
    assert first.by_rule == {"owner-personal": 1, "recovery-missing": 1, "not-reviewed": 1}
    assert first.by_department == {str(two_accounts["lending"].id): 2, str(two_accounts["archive"].id): 1}

    # A second call the same day refreshes the same row.
    two_accounts["a"].last_reviewed_at = utcnow()
    db.session.flush()
    again = findings.record_snapshot(today)
    assert again.id == first.id and again.total == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingSnapshot)) == 1

    findings.record_snapshot(today - timedelta(days=1))
    findings.record_snapshot(today - timedelta(days=40))
    findings.record_snapshot(today - timedelta(days=200))
    db.session.commit()
    assert [s.taken_on for s in findings.trend(90, today)] == [today - timedelta(days=d) for d in (40, 1, 0)]
    assert [s.taken_on for s in findings.trend(7, today)] == [today - timedelta(days=1), today]
    assert len(findings.trend(365, today)) == 4
