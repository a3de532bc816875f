"""Importing accounts with their admins and recovery contacts: matching, the services' own rules
in the preview, all or nothing, idempotence, and exports that carry no secret and no formula."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, AccountStatus, AuditEvent, CredentialKind, ProfileKind, RecoveryKind, Role
from app.services import credentials, csv_io
from app.services.context import Actor
from app.services.csv_io import Fate, Limits
from app.services.errors import PermissionDenied
from tests import factories

IT = Actor(user_id=None, name="Ira IT", role=Role.IT)
COLUMNS = [c.name for c in csv_io.ACCOUNT_COLUMNS]


def accounts_csv(*rows: dict[str, Any], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or COLUMNS, restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def run(text: str, apply: bool = True, actor: Actor = IT) -> csv_io.ImportReport:
    return csv_io.import_csv(actor, "accounts", text, limits=Limits(), name="accounts.csv", apply=apply)


def events() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def problems(report: csv_io.ImportReport) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.message) for p in report.problems]


def all_accounts() -> dict[str, Account]:
    return {a.name: a for a in db.session.scalars(sa.select(Account))}


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    adult = factories.make_department("Adult Services")
    jo = factories.make_person("Jo Kim", work_email="jo@org.example")
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor", "moderator"])
    registrar = factories.make_platform("Domain registrar", slug="registrar", role_names=["account holder"])
    persona = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[jo])
    personal = factories.make_profile(facebook, ProfileKind.PERSONAL, name="Jo Kim", handle="@jokim", holder=jo)
    org = factories.make_profile(registrar, ProfileKind.ORGANISATION, name="Riverside Library System")
    db.session.commit()
    return {"adult": adult, "jo": jo, "facebook": facebook, "persona": persona, "personal": personal, "org": org}


def test_a_file_adds_accounts_with_their_admins_and_recovery_contacts(world: dict[str, Any]) -> None:
    text = accounts_csv(
        {
            "platform": "facebook",
            "handle": "@riversidelib",
            "name": "Riverside Library Page",
            "department": "adult services",
            "owner_profile": "melvilla dewey",
            "steward_email": "JO@org.example",
            "admins": "Melvilla Dewey:Admin; @jokim:editor",
            "recovery_contacts": "email:it@org.example; phone:+1 555 0100",
        },
        {"platform": "Domain registrar", "handle": "", "name": "riverside.example", "has_own_login": "yes"},
    )
    report = run(text)
    assert report.applied, problems(report)
    assert report.summary() == "2 accounts added, 0 accounts updated, 0 accounts unchanged"
    db.session.commit()
    page = all_accounts()["Riverside Library Page"]
    assert (page.owner_profile, page.steward, page.department) == (world["persona"], world["jo"], world["adult"])
    assert [(a.profile.name, a.role_name) for a in page.admins] == [("Melvilla Dewey", "admin"), ("Jo Kim", "editor")]
    assert [(c.kind, c.value) for c in page.recovery_contacts] == [
        (RecoveryKind.EMAIL, "it@org.example"),
        (RecoveryKind.PHONE, "+1 555 0100"),
    ]
    assert all_accounts()["riverside.example"].has_own_login is True
    assert [e.action for e in events()] == [
        "account.create",
        "account.admin.add",
        "account.admin.add",
        "account.recovery.add",
        "account.recovery.add",
        "account.create",
        "import.accounts",
    ]


def test_the_lists_replace_the_roles_and_contacts_an_account_has(world: dict[str, Any]) -> None:
    page = factories.make_account(world["facebook"], name="Riverside Library Page", handle="@RiversideLib")
    factories.make_admin(page, world["persona"], "admin")
    factories.make_admin(page, world["personal"], "admin")
    factories.make_recovery(page, "it@org.example")
    factories.make_recovery(page, "old@org.example")
    db.session.commit()
    text = accounts_csv(
        {
            "platform": "Facebook",
            "handle": "@riversidelib",
            "name": "Riverside Library Page",
            "admins": "Melvilla Dewey:admin; @jokim:editor",
            "recovery_contacts": "email:IT@org.example; trusted_contact:Call Dana: 555 0199",
        },
        columns=["platform", "handle", "name", "admins", "recovery_contacts"],
    )
    preview = run(text, apply=False)
    assert [(c.column, c.before, c.after) for c in preview.rows[0].changes] == [
        ("handle", "@RiversideLib", "@riversidelib"),
        ("admins", "Melvilla Dewey:admin; @jokim:admin", "Melvilla Dewey:admin; @jokim:editor"),
        (
            "recovery_contacts",
            "email:it@org.example; email:old@org.example",
            "email:IT@org.example; trusted_contact:Call Dana: 555 0199",
        ),
    ]
    assert events() == []  # the preview's rehearsal left nothing behind
    assert run(text).applied
    db.session.commit()
    db.session.refresh(page)
    assert [(a.profile.name, a.role_name) for a in page.admins] == [("Melvilla Dewey", "admin"), ("Jo Kim", "editor")]
    assert [c.value for c in page.recovery_contacts] == ["it@org.example", "Call Dana: 555 0199"]
    assert [e.action for e in events()] == [
        "account.update",
        "account.admin.remove",
        "account.admin.add",
        "account.recovery.remove",
        "account.recovery.add",
        "import.accounts",
    ]


def test_an_account_without_a_handle_is_matched_by_its_name(world: dict[str, Any]) -> None:
    domain = factories.make_account(world["org"].platform, name="riverside.example")
    db.session.commit()
    report = run(
        accounts_csv(
            {"platform": "registrar", "handle": "riverside-lib", "name": "Riverside.example"},
            columns=["platform", "handle", "name"],
        )
    )
    assert report.updated == 1 and report.added == 0
    db.session.commit()
    assert (domain.handle, domain.name) == ("riverside-lib", "Riverside.example")


def test_the_services_rules_show_in_the_preview_with_every_other_problem(world: dict[str, Any]) -> None:
    factories.make_account(world["facebook"], name="Old Page", handle="@old")
    db.session.commit()
    text = accounts_csv(
        {"platform": "Facebook", "handle": "@new", "name": "New Page", "admins": "Melvilla Dewey:owner"},
        {"platform": "Facebook", "handle": "@old", "name": "Old Page", "status": "retired"},
        {"platform": "Facebook", "handle": "@x", "name": "X", "owner_profile": "Riverside Library System"},
        {"platform": "Myspace", "handle": "@x", "name": "X"},
        {"platform": "Facebook", "handle": "@new", "name": "New Page again"},
        {
            "platform": "Facebook",
            "handle": "@y",
            "name": "Y",
            "admins": "Melvilla Dewey; @jokim:editor; @jokim:admin",
            "recovery_contacts": "fax:1; email:",
        },
        {"platform": "Facebook", "handle": "@z", "name": "", "steward_email": "nobody@org.example", "has_own_login": "maybe"},
    )
    report = run(text)
    assert not report.applied
    assert problems(report) == [
        (2, "admins", "“Melvilla Dewey:owner”: Facebook roles are: admin, editor, moderator."),
        (
            3,
            "status",
            "To retire an account use “Retire…” on its page: it asks why, and keeps the reason in the history.",
        ),
        (
            4,
            "owner_profile",
            "There is no Facebook profile with the handle or name “Riverside Library System”. Add it on the Profiles page first.",
        ),
        (5, "platform", "There is no platform called “Myspace”. The platforms are: Domain registrar, Facebook."),
        (6, "handle", "This account is also on line 2."),
        (7, "admins", "“Melvilla Dewey”: write the profile and its role as profile:role."),
        (7, "admins", "“@jokim” is listed twice; a profile holds one role on an account."),
        (
            7,
            "recovery_contacts",
            "“fax” is not a kind of recovery contact (email, phone, backup_codes_holder, trusted_contact); write kind:value.",
        ),
        (7, "recovery_contacts", "“email”: give the address, number or name after the colon."),
        (8, "name", "Give the account a name people will recognise."),
        (8, "steward_email", "Nobody on the staff list has the work email “nobody@org.example”."),
        (8, "has_own_login", "“maybe”: write yes or no."),
    ]
    db.session.commit()
    assert set(all_accounts()) == {"Old Page"} and events() == []


def test_export_then_import_is_a_no_op_and_the_export_holds_no_secret(world: dict[str, Any]) -> None:
    tricky = factories.make_profile(world["facebook"], ProfileKind.SHARED_LOGIN, name="Team: Reference; Desk", handle="")
    page = factories.make_account(
        world["facebook"],
        name='=HYPERLINK("http://evil.example","Click")',
        handle="@riversidelib",
        url="https://facebook.example/riversidelib",
        purpose='News,\n"events" and questions',
        department=world["adult"],
        owner_profile=world["personal"],
        steward=world["jo"],
        has_own_login=True,
    )
    factories.make_admin(page, world["persona"], "admin")
    factories.make_admin(page, tricky, "editor")
    factories.make_recovery(page, "+1 555 0100", RecoveryKind.PHONE)
    factories.make_recovery(page, "+1 555 0100", RecoveryKind.PHONE)  # twice: kept twice
    factories.make_recovery(page, "Jo; in a safe", RecoveryKind.BACKUP_CODES_HOLDER)
    factories.make_account(world["org"].platform, name="riverside.example", status=AccountStatus.RETIRED)
    factories.make_account(world["facebook"], name="Dormant page", handle="-dormant", status=AccountStatus.DORMANT)
    credentials.create_note(
        Actor.system(), credentials.NoteData("Login", CredentialKind.PASSWORD), "s3cret-Value-9", account=page
    )
    db.session.commit()
    exported = "".join(csv_io.export_csv(IT, "accounts"))
    assert "s3cret-Value-9" not in exported
    assert "'=HYPERLINK" in exported and "'@riversidelib" in exported and "'-dormant" in exported
    assert r"Team\: Reference\; Desk:editor" in exported
    before = events()
    report = run(exported)
    assert report.applied and report.summary() == "0 accounts added, 0 accounts updated, 3 accounts unchanged", problems(report)
    db.session.commit()
    assert events() == before
    assert "".join(csv_io.export_csv(IT, "accounts")) == exported


def test_the_export_reads_a_few_accounts_at_a_time_in_platform_then_name_order(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read two at a time (each platform's accounts on from the last one written), every account
    is written once, in platform then name order (ties by id), each with its own roles and contacts."""
    bluesky = factories.make_platform("Bluesky", slug="bluesky")
    made = []
    for platform, name in [(world["facebook"], "Teen Zone"), (bluesky, "Desk"), (world["facebook"], "Adult news")]:
        for copy in range(3):  # same name thrice: the keyset must go on by id
            account = factories.make_account(platform, name=name, handle=f"{name[:4].lower()}{copy}")
            factories.make_admin(account, world["persona"] if copy else world["personal"], "admin")
            factories.make_recovery(account, f"it{copy}@org.example")
            made.append(account)
    factories.make_account(world["org"].platform, name="Registrar", handle="reg")
    db.session.commit()
    whole = "".join(csv_io.export_csv(IT, "accounts"))
    monkeypatch.setattr(csv_io, "EXPORT_BATCH", 2)
    chunks = list(csv_io.export_csv(IT, "accounts"))
    assert "".join(chunks) == whole
    assert len(chunks) > 6  # the header, then batches of at most two accounts
    rows = list(csv.DictReader(io.StringIO(whole.removeprefix("\ufeff"))))
    expected = sorted(db.session.scalars(sa.select(Account)), key=lambda a: (a.platform.name, a.name, a.id))
    assert [(r["platform"], r["handle"]) for r in rows] == [(a.platform.name, a.handle) for a in expected]
    desk = next(r for r in rows if r["handle"] == "desk0")
    assert desk["admins"] == "'@jokim:admin" and desk["recovery_contacts"] == "email:it0@org.example"
    assert next(r for r in rows if r["handle"] == "teen2")["admins"] == "Melvilla Dewey:admin"


def test_who_may_import_and_export_accounts(world: dict[str, Any]) -> None:
    text = accounts_csv({"platform": "Facebook", "handle": "@x", "name": "X"})
    for role in (Role.HR, Role.DIRECTOR, Role.STAFF):
        with pytest.raises(PermissionDenied):
            run(text, actor=Actor(user_id=None, name="Someone", role=role))
    for role in (Role.HR, Role.DIRECTOR, Role.IT, Role.ADMIN):
        assert "".join(csv_io.export_csv(Actor(user_id=None, name="Reader", role=role), "accounts")).startswith("\ufeffplatform,")
    with pytest.raises(PermissionDenied):
        csv_io.export_csv(Actor(user_id=None, name="Staff", role=Role.STAFF), "accounts")
    assert all_accounts() == {}
    assert run(text).rows[0].fate is Fate.ADD
