"""The accounts service: validation, stale edits, retirement, roles, recovery contacts, permissions, listing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    AuditEvent,
    Connection,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
)
from app.services import accounts as service
from app.services import search
from app.services.context import Actor
from app.services.errors import NotFound, PermissionDenied, StaleEdit, ValidationFailed
from tests import factories


def actor_for(role: Role, name: str | None = None, person=None) -> Actor:
    user = factories.make_user(role, person=person or factories.make_person(name=name or f"{role.label} Actor"))
    return Actor(user_id=user.id, name=user.person.name, role=role, person_id=user.person_id)


def events(action: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def data_of(account: Account, **changes) -> service.AccountData:
    """The form data that would re-save the account as it is, with some fields changed."""
    data = service.AccountData(
        platform_id=account.platform_id,
        name=account.name,
        handle=account.handle,
        url=account.url,
        purpose=account.purpose,
        department_id=account.department_id,
        status=account.status,
        owner_profile_id=account.owner_profile_id,
        steward_id=account.steward_id,
        has_own_login=account.has_own_login,
    )
    return replace(data, **changes)


@pytest.fixture
def it(app) -> Actor:
    return actor_for(Role.IT, "Ivy Tech")


@pytest.fixture
def facebook(app):
    return factories.make_platform("Facebook", role_names=["admin", "editor", "moderator"])


# --- create -------------------------------------------------------------------------------


def test_create_account_saves_the_fields_and_records_one_event_with_readable_names(it, facebook):
    dept = factories.make_department("Branches")
    steward = factories.make_person("Sam Ortiz")
    owner = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey")

    account = service.create_account(
        it,
        service.AccountData(
            platform_id=facebook.id,
            name="  Riverside Library  ",
            handle="@riversidelib",
            url="https://facebook.com/riversidelib",
            department_id=dept.id,
            owner_profile_id=owner.id,
            steward_id=steward.id,
        ),
    )

    stored = db.session.get(Account, account.id)
    assert stored.name == "Riverside Library"
    assert stored.status is AccountStatus.ACTIVE
    [event] = events()
    assert event.action == "account.create"
    assert event.object_type == "account" and event.object_id == account.id
    assert event.actor_name == "Ivy Tech" and event.actor_id == it.user_id
    assert event.before is None
    assert event.after["name"] == "Riverside Library"
    assert event.after["platform"] == "Facebook"
    assert event.after["department"] == "Branches"
    assert event.after["steward"] == "Sam Ortiz"
    assert event.after["owner_profile"] == "Melvilla Dewey"


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("unknown platform", "platform_id"),
        ("blank name", "name"),
        ("owner on another platform", "owner_profile_id"),
        ("duplicate handle, other case", "handle"),
    ],
)
def test_create_account_refuses_bad_input_with_a_field_error_and_saves_nothing(it, facebook, case, field):
    existing = factories.make_account(facebook, name="Main Page", handle="@RiversideLib")
    other_platform = factories.make_platform("Instagram")
    data = service.AccountData(platform_id=facebook.id, name="New Page", handle="@another")
    if case == "unknown platform":
        data.platform_id = 999_999
    elif case == "blank name":
        data.name = "   "
    elif case == "owner on another platform":
        data.owner_profile_id = factories.make_profile(other_platform, name="Insta Org").id
    else:
        data.handle = "  @riversidelib "
    db.session.commit()

    with pytest.raises(ValidationFailed) as raised:
        service.create_account(it, data)

    assert field in raised.value.field_errors
    assert raised.value.field_errors[field][0]
    assert not db.session.new
    assert db.session.scalars(sa.select(Account)).all() == [existing]
    assert events() == []


def test_the_same_handle_on_another_platform_is_fine(it, facebook):
    factories.make_account(facebook, name="Facebook Page", handle="@riversidelib")
    instagram = factories.make_platform("Instagram")
    account = service.create_account(it, service.AccountData(platform_id=instagram.id, name="Insta", handle="@riversidelib"))
    assert account.id is not None


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR, Role.STAFF])
def test_only_it_and_admins_create_accounts(app, facebook, role):
    with pytest.raises(PermissionDenied):
        service.create_account(actor_for(role), service.AccountData(platform_id=facebook.id, name="Sneaky"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    assert events() == []


# --- update -------------------------------------------------------------------------------


def test_update_records_one_event_with_before_and_after_of_every_changed_field(it, facebook):
    old_dept, new_dept = factories.make_department("Branches"), factories.make_department("Youth")
    old_steward, new_steward = factories.make_person("Sam Ortiz"), factories.make_person("Jo Park")
    old_owner = factories.make_profile(facebook, ProfileKind.PERSONAL, name="Sam's profile", holder=old_steward)
    new_owner = factories.make_profile(facebook, ProfileKind.ORGANISATION, name="Riverside Business")
    account = factories.make_account(
        facebook, name="Teen Page", department=old_dept, steward=old_steward, owner_profile=old_owner
    )
    db.session.commit()

    service.update_account(
        it,
        account,
        data_of(account, name="Teen Zone", department_id=new_dept.id, steward_id=new_steward.id, owner_profile_id=new_owner.id),
        expected_version=account.version,
    )

    [event] = events("account.update")
    assert event.actor_name == "Ivy Tech"
    changed = {k for k in event.after if event.before.get(k) != event.after.get(k)}
    assert changed == {"name", "department", "steward", "owner_profile", "version"}
    assert (event.before["name"], event.after["name"]) == ("Teen Page", "Teen Zone")
    assert (event.before["department"], event.after["department"]) == ("Branches", "Youth")
    assert (event.before["steward"], event.after["steward"]) == ("Sam Ortiz", "Jo Park")
    assert (event.before["owner_profile"], event.after["owner_profile"]) == ("Sam's profile", "Riverside Business")
    assert event.after["version"] == event.before["version"] + 1
    db.session.expire_all()
    assert db.session.get(Account, account.id).steward.name == "Jo Park"


def test_changing_only_the_steward_is_recorded(it, facebook):
    first, second = factories.make_person("Sam Ortiz"), factories.make_person("Jo Park")
    account = factories.make_account(facebook, steward=first)
    db.session.commit()

    service.update_account(it, account, data_of(account, steward_id=second.id), account.version)

    [event] = events("account.update")
    assert (event.before["steward"], event.after["steward"]) == ("Sam Ortiz", "Jo Park")


def test_update_with_no_real_change_writes_no_event_and_keeps_the_version(it, facebook):
    account = factories.make_account(facebook, name="Same", handle="@same", url="https://example.org")
    db.session.commit()
    version = account.version

    service.update_account(it, account, data_of(account, name=" Same "), version)

    assert events() == []
    db.session.expire_all()
    assert db.session.get(Account, account.id).version == version


def test_stale_update_is_refused_and_lists_the_other_persons_changes(app, facebook):
    alice, bob = actor_for(Role.IT, "Alice Admin"), actor_for(Role.IT, "Bob Builder")
    account = factories.make_account(facebook, name="Old name", purpose="Events")
    db.session.commit()
    opened_at = account.version  # both open the form now

    service.update_account(bob, account, data_of(account, name="New name", purpose="Events and news"), opened_at)
    db.session.commit()

    with pytest.raises(StaleEdit) as raised:
        service.update_account(alice, account, data_of(account, name="Alice's name"), opened_at)

    changes = {(c.who, c.field, c.before, c.after) for c in raised.value.changes}
    assert changes == {
        ("Bob Builder", "name", "Old name", "New name"),
        ("Bob Builder", "purpose", "Events", "Events and news"),
    }
    assert "Nothing was saved" in raised.value.message
    db.session.rollback()
    assert db.session.get(Account, account.id).name == "New name"
    assert len(events("account.update")) == 1


def test_update_refuses_a_handle_another_account_has_but_not_its_own(it, facebook):
    factories.make_account(facebook, handle="@taken")
    account = factories.make_account(facebook, handle="@mine")
    db.session.commit()

    with pytest.raises(ValidationFailed) as raised:
        service.update_account(it, account, data_of(account, handle="@TAKEN"), account.version)
    assert "handle" in raised.value.field_errors
    db.session.rollback()

    service.update_account(it, account, data_of(account, handle="@MINE", name="Renamed"), account.version)
    assert account.handle == "@MINE"


def test_staff_edit_only_the_accounts_they_steward(app, facebook):
    staff = actor_for(Role.STAFF, "Sam Ortiz")
    mine = factories.make_account(facebook, name="Mine", steward_id=staff.person_id)
    theirs = factories.make_account(facebook, name="Theirs", steward=factories.make_person())
    db.session.commit()

    service.update_account(staff, mine, data_of(mine, purpose="Story time"), mine.version)
    assert mine.purpose == "Story time"
    with pytest.raises(PermissionDenied):
        service.update_account(staff, theirs, data_of(theirs, purpose="Hijack"), theirs.version)
    assert len(events("account.update")) == 1


def test_staff_cannot_leave_their_account_without_a_steward(app, facebook):
    staff = actor_for(Role.STAFF)
    mine = factories.make_account(facebook, steward_id=staff.person_id)
    db.session.commit()
    with pytest.raises(ValidationFailed) as raised:
        service.update_account(staff, mine, data_of(mine, steward_id=None), mine.version)
    assert "steward_id" in raised.value.field_errors


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR])
def test_directors_and_hr_read_but_do_not_edit(app, facebook, role):
    reader = actor_for(role)
    account = factories.make_account(facebook, name="Read only", steward_id=reader.person_id)
    db.session.commit()

    assert service.get_account(reader, account.id) is account
    with pytest.raises(PermissionDenied):
        service.update_account(reader, account, data_of(account, name="Changed"), account.version)
    with pytest.raises(PermissionDenied):
        service.retire_account(reader, account, account.version, "no longer used")
    with pytest.raises(PermissionDenied):
        service.add_admin(reader, account, factories.make_profile(facebook).id, "admin")
    assert events() == []


def test_get_account_refuses_staff_on_others_accounts_and_reports_missing_ones(app, facebook):
    staff = actor_for(Role.STAFF)
    other = factories.make_account(facebook, steward=factories.make_person())
    # Someone else's account is answered as a missing one: its existence is not told.
    with pytest.raises(NotFound) as hidden:
        service.get_account(staff, other.id)
    assert hidden.value.message == f"There is no account with id {other.id}. It may have been typed wrongly."
    with pytest.raises(NotFound) as raised:
        service.get_account(staff, 424242)
    assert "424242" in raised.value.message


# --- retire -------------------------------------------------------------------------------


def test_retire_needs_a_reason_and_changes_nothing_without_one(it, facebook):
    account = factories.make_account(facebook)
    db.session.commit()
    with pytest.raises(ValidationFailed) as raised:
        service.retire_account(it, account, account.version, "   ")
    assert "reason" in raised.value.field_errors
    db.session.rollback()
    assert db.session.get(Account, account.id).status is AccountStatus.ACTIVE
    assert events() == []


def test_retire_keeps_roles_contacts_and_history_and_is_refused_twice(it, facebook):
    account = factories.make_account(facebook, name="Old Blog")
    factories.make_admin(account, factories.make_profile(facebook), "admin")
    factories.make_recovery(account, "web@org.example")
    factories.make_connection(account, "Scheduler")
    db.session.commit()

    service.retire_account(it, account, account.version, "Replaced by the new site")
    db.session.commit()

    db.session.expire_all()
    account = db.session.get(Account, account.id)
    assert account.is_retired and account.retired_at is not None
    assert len(account.admins) == 1 and len(account.recovery_contacts) == 1 and len(account.connections) == 1
    [event] = events("account.retire")
    assert "Replaced by the new site" in event.summary
    assert (event.before["status"], event.after["status"]) == ("active", "retired")

    with pytest.raises(ValidationFailed) as raised:
        service.retire_account(it, account, account.version, "again")
    assert "already retired" in raised.value.message
    assert len(events()) == 1


def test_retire_from_a_stale_page_is_refused(it, facebook):
    account = factories.make_account(facebook)
    db.session.commit()
    stale = account.version
    service.update_account(it, account, data_of(account, name="Renamed"), stale)
    with pytest.raises(StaleEdit):
        service.retire_account(it, account, stale, "gone")
    assert account.status is AccountStatus.ACTIVE


# --- admin roles --------------------------------------------------------------------------


def test_add_admin_records_the_role_and_one_event(it, facebook):
    account = factories.make_account(facebook)
    profile = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey", handle="@melvilla")

    admin = service.add_admin(it, account, profile.id, " editor ", since=date(2023, 5, 1))

    assert (admin.profile, admin.role_name, admin.since) == (profile, "editor", date(2023, 5, 1))
    [event] = events()
    assert event.action == "account.admin.add" and event.object_id == account.id
    assert event.before is None
    assert event.after == {"profile": "Melvilla Dewey (@melvilla)", "role": "editor", "since": "2023-05-01"}


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("profile on another platform", "profile_id"),
        ("role not on the platform", "role_name"),
        ("profile already admin", "profile_id"),
    ],
)
def test_add_admin_refuses_bad_roles(it, facebook, case, field):
    account = factories.make_account(facebook)
    profile = factories.make_profile(facebook)
    role = "editor"
    if case == "profile on another platform":
        profile = factories.make_profile(factories.make_platform("X"))
    elif case == "role not on the platform":
        role = "owner"  # a YouTube role, not a Facebook one
    else:
        factories.make_admin(account, profile, "admin")
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AccountAdmin))

    with pytest.raises(ValidationFailed) as raised:
        service.add_admin(it, account, profile.id, role)

    assert field in raised.value.field_errors
    if field == "role_name":
        assert "admin, editor, moderator" in raised.value.field_errors["role_name"][0]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountAdmin)) == before
    assert events() == []


def test_remove_admin_records_what_was_removed_and_reports_a_missing_one(it, facebook):
    account = factories.make_account(facebook)
    admin = factories.make_admin(account, factories.make_profile(facebook, name="Team"), "moderator")
    db.session.commit()

    service.remove_admin(it, account, admin.id)

    assert account.admins == []
    [event] = events()
    assert event.action == "account.admin.remove"
    assert event.before["profile"] == "Team" and event.before["role"] == "moderator"
    assert event.after is None
    with pytest.raises(NotFound):
        service.remove_admin(it, account, admin.id)
    assert len(events()) == 1


# --- recovery contacts --------------------------------------------------------------------


def test_a_recovery_email_that_is_someones_personal_email_is_tied_to_them(it, facebook):
    account = factories.make_account(facebook)
    jo = factories.make_person("Jo Park", personal_email="jo.park@gmail.example")

    contact = service.add_recovery_contact(it, account, RecoveryKind.EMAIL, "  Jo.Park@Gmail.Example ")

    assert contact.person == jo and contact.value == "Jo.Park@Gmail.Example"
    [event] = events()
    assert event.action == "account.recovery.add"
    # History describes a person's own address instead of copying it (it is erased after they leave).
    assert event.after == {"kind": "email", "value": "Jo Park's personal email", "person": "Jo Park"}
    assert "tied to Jo Park" in event.summary


def test_a_recovery_phone_whose_digits_match_a_personal_phone_is_tied_to_them(it, facebook):
    account = factories.make_account(facebook)
    factories.make_person("Someone Else", personal_phone="+1 555 010 9999")
    sam = factories.make_person("Sam Ortiz", personal_phone="+1 (555) 010-2000")

    contact = service.add_recovery_contact(it, account, RecoveryKind.PHONE, "+1 555.010.2000")

    assert contact.person == sam


def test_an_unknown_address_is_institutional(it, facebook):
    account = factories.make_account(facebook)
    factories.make_person(personal_email="jo@gmail.example", personal_phone="555 0100")

    email = service.add_recovery_contact(it, account, RecoveryKind.EMAIL, "web-team@org.example")
    phone = service.add_recovery_contact(it, account, RecoveryKind.PHONE, "555 0199")

    assert email.is_institutional and phone.is_institutional
    assert "(institutional)" in events()[0].summary


def test_a_recovery_contact_can_be_tied_to_a_chosen_person_and_needs_a_value(it, facebook):
    account = factories.make_account(facebook)
    holder = factories.make_person("Backup Holder")
    contact = service.add_recovery_contact(
        it, account, RecoveryKind.BACKUP_CODES_HOLDER, "Printed codes in safe", person_id=holder.id
    )
    assert contact.person == holder

    with pytest.raises(ValidationFailed) as raised:
        service.add_recovery_contact(it, account, RecoveryKind.EMAIL, "  ")
    assert "value" in raised.value.field_errors
    assert len(events()) == 1


def test_remove_recovery_contact_records_it_and_reports_a_missing_one(it, facebook):
    account = factories.make_account(facebook)
    contact = factories.make_recovery(account, "old@org.example")
    db.session.commit()

    service.remove_recovery_contact(it, account, contact.id)

    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryContact)) == 0
    [event] = events()
    assert event.before == {"kind": "email", "value": "old@org.example", "person": None} and event.after is None
    with pytest.raises(NotFound):
        service.remove_recovery_contact(it, account, contact.id)


# --- connections --------------------------------------------------------------------------


def test_connections_are_added_and_removed_with_events(it, facebook):
    account = factories.make_account(facebook)
    profile = factories.make_profile(facebook, ProfileKind.PERSONAL, name="Sam's profile")

    connection = service.add_connection(it, account, " Hootsuite ", profile.id, "Scheduled posts")
    assert (connection.tool_name, connection.profile) == ("Hootsuite", profile)
    with pytest.raises(ValidationFailed) as raised:
        service.add_connection(it, account, " ", None)
    assert "tool_name" in raised.value.field_errors

    service.remove_connection(it, account, connection.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Connection)) == 0
    add, remove = events()
    assert add.after == {"tool": "Hootsuite", "profile": "Sam's profile", "purpose": "Scheduled posts"}
    assert remove.action == "account.connection.remove" and remove.before["tool"] == "Hootsuite"
    with pytest.raises(NotFound):
        service.remove_connection(it, account, connection.id)


# --- listing ------------------------------------------------------------------------------


def names(page) -> list[str]:
    return [a.name for a in page.items]


@pytest.mark.parametrize(
    ("query", "expected"), [("BRANCH", ["Branch Page"]), ("@teen", ["Teen Zone"]), ("oldblog.example", ["Old Blog"])]
)
def test_list_searches_name_handle_and_url(it, facebook, query, expected):
    factories.make_account(facebook, name="Branch Page", handle="@branch")
    factories.make_account(facebook, name="Teen Zone", handle="@TeenZone")
    factories.make_account(facebook, name="Old Blog", url="https://www.OldBlog.example/")
    assert names(service.list_accounts(it, service.AccountFilters(q=query))) == expected


def test_list_search_treats_wildcards_literally(it, facebook):
    factories.make_account(facebook, name="100% Reading")
    factories.make_account(facebook, name="1000 Books")
    factories.make_account(facebook, name="Story_time")
    factories.make_account(facebook, name="Storyatime")
    assert names(service.list_accounts(it, service.AccountFilters(q="100%"))) == ["100% Reading"]
    assert names(service.list_accounts(it, service.AccountFilters(q="y_t"))) == ["Story_time"]


def test_list_filters(it, facebook):
    instagram = factories.make_platform("Instagram")
    youth = factories.make_department("Youth")
    sam = factories.make_person("Sam")
    personal = factories.make_profile(facebook, ProfileKind.PERSONAL, holder=sam)
    factories.make_account(facebook, name="A personal", owner_profile=personal)
    factories.make_account(facebook, name="B youth", department=youth)
    factories.make_account(instagram, name="C insta", steward=sam)
    factories.make_account(facebook, name="D dormant", status=AccountStatus.DORMANT)

    def run(**kw) -> list[str]:
        return names(service.list_accounts(it, service.AccountFilters(**kw)))

    assert run() == ["A personal", "B youth", "C insta", "D dormant"]
    assert run(platform_id=instagram.id) == ["C insta"]
    assert run(department_id=youth.id) == ["B youth"]
    assert run(status=AccountStatus.DORMANT) == ["D dormant"]
    assert run(owner_kind=ProfileKind.PERSONAL) == ["A personal"]
    assert run(owner_kind=ProfileKind.ORGANISATION) == []
    assert run(steward_id=sam.id) == ["C insta"]
    assert run(platform_id=facebook.id, status=AccountStatus.ACTIVE) == ["A personal", "B youth"]
    # An owner kind alone is counted from the profiles' side: the total is the list's.
    library = factories.make_profile(facebook, ProfileKind.ORGANISATION)
    factories.make_account(facebook, name="E library", owner_profile=library)
    factories.make_account(instagram, name="F library", owner_profile=library, status=AccountStatus.RETIRED)
    for kind, listed in ((ProfileKind.ORGANISATION, ["E library", "F library"]), (ProfileKind.PERSONAL, ["A personal"])):
        page = service.list_accounts(it, service.AccountFilters(owner_kind=kind), count_limit=1000)
        assert (names(page), page.total) == (listed, len(listed))


def test_list_sorts_both_ways_and_keeps_blanks_last(it, facebook):
    bluesky = factories.make_platform("Bluesky")
    arts, zoo = factories.make_department("Arts"), factories.make_department("Zoo")
    factories.make_account(facebook, name="Alpha", department=zoo)
    factories.make_account(bluesky, name="Bravo")
    factories.make_account(facebook, name="Charlie", department=arts)

    def run(sort: str, descending: bool = False) -> list[str]:
        return names(service.list_accounts(it, service.AccountFilters(sort=sort, descending=descending)))

    assert run("name") == ["Alpha", "Bravo", "Charlie"]
    assert run("name", descending=True) == ["Charlie", "Bravo", "Alpha"]
    assert run("platform") == ["Bravo", "Alpha", "Charlie"]
    assert run("platform", descending=True) == ["Alpha", "Charlie", "Bravo"]
    # An account with no department sits at the end either way, on every database.
    assert run("department") == ["Charlie", "Alpha", "Bravo"]
    assert run("department", descending=True) == ["Alpha", "Charlie", "Bravo"]
    assert run("no-such-column") == ["Alpha", "Bravo", "Charlie"]


def test_list_paginates_and_a_page_past_the_end_shows_the_last_page(it, facebook):
    for n in range(7):
        factories.make_account(facebook, name=f"Account {n:02}")

    first = service.list_accounts(it, service.AccountFilters(), page=1, per_page=3)
    assert names(first) == ["Account 00", "Account 01", "Account 02"]
    assert (first.total, first.pages, first.has_next, first.has_prev) == (7, 3, True, False)

    beyond = service.list_accounts(it, service.AccountFilters(), page=99, per_page=3)
    assert beyond.page == 3 and names(beyond) == ["Account 06"]
    assert not beyond.has_next and beyond.has_prev


def test_staff_list_only_the_accounts_they_steward(app, facebook):
    staff = actor_for(Role.STAFF)
    factories.make_account(facebook, name="Mine", steward_id=staff.person_id)
    factories.make_account(facebook, name="Someone else's", steward=factories.make_person())
    factories.make_account(facebook, name="Nobody's")

    assert names(service.list_accounts(staff, service.AccountFilters())) == ["Mine"]
    assert names(service.list_accounts(staff, service.AccountFilters(q="someone"))) == []

    no_person = Actor(user_id=None, name="Loose login", role=Role.STAFF, person_id=None)
    assert names(service.list_accounts(no_person, service.AccountFilters())) == []


@pytest.mark.parametrize("sort", ["name", "platform", "department", "status", "reviewed"])
@pytest.mark.parametrize("descending", [False, True])
def test_next_and_previous_links_walk_every_account_once_in_order(it, facebook, sort, descending):
    """Keyset pages (after / before an account) give exactly the order of the numbered pages, with
    ties (same name, same platform) and empty values (no department, never reviewed) at the end."""
    bluesky = factories.make_platform("Bluesky")
    arts, zoo = factories.make_department("Arts"), factories.make_department("Zoo")
    reviewed = [None, date(2026, 1, 5), date(2025, 3, 1)]
    for n in range(17):
        factories.make_account(
            (facebook, bluesky)[n % 2],
            name=f"Account {n % 6}",  # names repeat: ties broken by id
            department=(arts, zoo, None)[n % 3],
            status=(AccountStatus.ACTIVE, AccountStatus.DORMANT)[n % 5 == 0],
            last_reviewed_at=None if reviewed[n % 3] is None else datetime.combine(reviewed[n % 3], time(), UTC),
        )
    filters = service.AccountFilters(sort=sort, descending=descending)
    expected = [a.id for a in service.list_accounts(it, filters, page=1, per_page=100).items]
    assert len(expected) == 17

    walked, page = [], service.list_accounts(it, filters, page=1, per_page=4)
    pages = [page]
    walked += [a.id for a in page.items]
    while page.has_next:
        page = service.list_accounts(it, filters, page=page.page + 1, per_page=4, after=page.next_after)
        pages.append(page)
        walked += [a.id for a in page.items]
    assert walked == expected
    assert [p.page for p in pages] == [1, 2, 3, 4, 5] and [p.first_index for p in pages] == [1, 5, 9, 13, 17]

    back = []
    while page.has_prev:
        page = service.list_accounts(it, filters, page=page.page - 1, per_page=4, before=page.prev_before)
        back = [a.id for a in page.items] + back
    assert page.page == 1 and back == expected[:16]


@pytest.mark.parametrize("sort", ["name", "platform", "department", "status", "reviewed"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_by_number_and_by_next_links_have_the_same_rows(it, facebook, sort, descending):
    """A numbered page after the first (the API's) reads its ids first, then their rows, and one
    nearer the end reads backwards from the end; the Next links read the rows after the cursor:
    the same rows in the same order, ties and empty values included."""
    bluesky, arts = factories.make_platform("Bluesky"), factories.make_department("Arts")
    factories.make_accounts_to_sort([facebook, bluesky], arts)
    filters = service.AccountFilters(sort=sort, descending=descending)
    by_number = [service.list_accounts(it, filters, page=n, per_page=3) for n in range(1, 5)]
    assert [(p.page, p.has_next, p.has_prev) for p in by_number] == [
        (1, True, False),
        (2, True, True),
        (3, True, True),
        (4, False, True),
    ]
    numbered = [[a.id for a in p.items] for p in by_number]
    walked, page = [], service.list_accounts(it, filters, per_page=3)
    walked.append([a.id for a in page.items])
    while page.has_next:
        page = service.list_accounts(it, filters, page=page.page + 1, per_page=3, after=page.next_after)
        walked.append([a.id for a in page.items])
    assert numbered == walked and sum(len(p) for p in numbered) == 11


FILTERS_MANY_MATCH = [
    {"status": AccountStatus.ACTIVE},
    {"owner_kind": ProfileKind.PERSONAL},
    {"status": AccountStatus.ACTIVE, "owner_kind": ProfileKind.PERSONAL},
    {"q": "account 1"},
]


@pytest.mark.parametrize("sort", ["name", "platform", "department", "status", "updated", "reviewed"])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("given", FILTERS_MANY_MATCH, ids=lambda given: "&".join(given))
def test_a_filter_many_accounts_meet_pages_in_the_order_of_a_full_sort(it, facebook, sort, descending, given):
    """A filter that more accounts meet than the count limit is read in the list's order, keeping
    the rows that match (sorted by department: through the departments, as unfiltered): its pages,
    by Next links, back by Previous links and by number, are the whole list's order with the
    others left out, as when few match and every match is sorted."""
    bluesky, arts = factories.make_platform("Bluesky"), factories.make_department("Arts")
    made = factories.make_accounts_to_sort([facebook, bluesky], arts, n=23)
    for account in made[::2]:
        account.owner_profile = factories.make_profile(account.platform, ProfileKind.PERSONAL)
    db.session.commit()
    filters = service.AccountFilters(sort=sort, descending=descending, **given)
    everything = service.list_accounts(it, replace(filters, status=None, owner_kind=None, q=""), per_page=100).items

    def meets(a: Account) -> bool:
        owner_kind = a.owner_profile.kind if a.owner_profile else None
        return (
            given.get("status", a.status) is a.status
            and given.get("owner_kind", owner_kind) is owner_kind
            and given.get("q", "") in a.name.lower()
        )

    expected = [a.id for a in everything if meets(a)]
    few = service.list_accounts(it, filters, per_page=100, count_limit=1000)
    assert [a.id for a in few.items] == expected and 4 < len(expected) < 23

    many = service.list_accounts(it, filters, per_page=4, count_limit=3)
    assert many.total_capped
    walked, page = [a.id for a in many.items], many
    while page.has_next:
        page = service.list_accounts(it, filters, page=page.page + 1, per_page=4, count_limit=3, after=page.next_after)
        walked += [a.id for a in page.items]
    assert walked == expected
    back = [a.id for a in page.items]
    while page.has_prev:
        page = service.list_accounts(it, filters, page=page.page - 1, per_page=4, count_limit=3, before=page.prev_before)
        back = [a.id for a in page.items] + back
    assert back == expected
    numbered = [a.id for n in (1, 2) for a in service.list_accounts(it, filters, page=n, per_page=4, count_limit=3).items]
    assert numbered == expected[:8]


def test_a_cursor_that_is_gone_starts_again_from_the_first_page(it, facebook):
    for n in range(5):
        factories.make_account(facebook, name=f"Account {n}")
    page = service.list_accounts(it, service.AccountFilters(), page=3, per_page=2, after=999_999)
    assert page.page == 3 and names(page) == ["Account 4"]  # an unknown id: the numbered page
    last = service.list_accounts(it, service.AccountFilters(), page=1, per_page=5).items[-1]
    page = service.list_accounts(it, service.AccountFilters(), page=2, per_page=2, after=last.id)
    assert page.page == 1 and names(page) == ["Account 0", "Account 1"]  # nothing after it any more


def test_a_search_counts_its_matches_up_to_the_limit(it, facebook):
    for n in range(7):
        factories.make_account(facebook, name=f"Harbour {n}")
    factories.make_account(facebook, name="Other")
    page = service.list_accounts(it, service.AccountFilters(q="harbour"), per_page=3, count_limit=5)
    assert (page.total, page.total_capped, page.has_next) == (5, True, True)
    assert (page.first_index, page.last_index) == (1, 3)
    exact = service.list_accounts(it, service.AccountFilters(q="harbour"), per_page=3)
    assert (exact.total, exact.total_capped, exact.pages) == (7, False, 3)
    # The whole list is counted exactly (it reads the table alone).
    assert service.list_accounts(it, service.AccountFilters(), per_page=3, count_limit=5).total == 8


def test_a_search_follows_renames_and_deletes_and_takes_quotes_literally(it, facebook):
    harbour = factories.make_account(facebook, name="Harbour Reads", handle="@harbour")
    factories.make_account(facebook, name='The "Quoted" Page', url="https://quoted.example/")
    factories.make_account(facebook, name="Ha", handle="@ha")
    assert names(service.list_accounts(it, service.AccountFilters(q="bour rea"))) == ["Harbour Reads"]
    assert names(service.list_accounts(it, service.AccountFilters(q='"quoted"'))) == ['The "Quoted" Page']
    assert names(service.list_accounts(it, service.AccountFilters(q="ha"))) == ["Ha", "Harbour Reads"]  # short: no index

    harbour.name, harbour.handle = "Quay Reads", "@quay"
    db.session.commit()
    assert names(service.list_accounts(it, service.AccountFilters(q="harbour"))) == []
    assert names(service.list_accounts(it, service.AccountFilters(q="QUAY"))) == ["Quay Reads"]
    db.session.delete(harbour)
    db.session.commit()
    assert names(service.list_accounts(it, service.AccountFilters(q="quay"))) == []


def test_a_short_search_gives_the_same_pages_whether_its_matches_are_few_or_many(it, facebook, monkeypatch):
    """Two characters are too few for the trigram index: up to the count limit the matches' ids
    are kept from the count and the page is read from them; past it, the page walks the names.
    Either way the same accounts in the same order, whatever case is typed; the global search too."""
    for n in range(7):
        factories.make_account(facebook, name=f"Quay {n}", handle=f"@q{n}")
    factories.make_account(facebook, name="Aqua", url="https://aqua.example/")
    factories.make_account(facebook, name="Other", url="https://other.example/")
    few = service.list_accounts(it, service.AccountFilters(q="QU"), per_page=3, count_limit=10)
    many = service.list_accounts(it, service.AccountFilters(q="qu"), per_page=3, count_limit=4)
    assert (few.total, few.total_capped, many.total_capped) == (8, False, True)
    assert names(few) == names(many) == ["Aqua", "Quay 0", "Quay 1"]
    following = service.list_accounts(
        it, service.AccountFilters(q="qU"), page=2, per_page=3, count_limit=10, after=few.items[-1].id
    )
    assert names(following) == ["Quay 2", "Quay 3", "Quay 4"]
    assert [a.name for a in search.search(it, "QU", limit=3).accounts] == ["Aqua", "Quay 0", "Quay 1"]
    monkeypatch.setattr(search, "COUNT_LIMIT", 2)
    assert [a.name for a in search.search(it, "qu", limit=3).accounts] == ["Aqua", "Quay 0", "Quay 1"]


def test_a_search_with_many_matches_gives_the_same_pages(it, facebook):
    for n in range(12):
        factories.make_account(facebook, name=f"Harbour {n:02}", url=f"https://harbour{n}.example/")
    factories.make_account(facebook, name="Aardvark harbour")
    factories.make_account(facebook, name="Other")
    capped = service.list_accounts(it, service.AccountFilters(q="harbour"), per_page=5, count_limit=3)
    exact = service.list_accounts(it, service.AccountFilters(q="harbour"), per_page=5)
    assert capped.total_capped and not exact.total_capped
    assert names(capped) == names(exact) == ["Aardvark harbour", "Harbour 00", "Harbour 01", "Harbour 02", "Harbour 03"]
    after = capped.items[-1].id
    assert names(
        service.list_accounts(it, service.AccountFilters(q="harbour"), page=2, per_page=5, count_limit=3, after=after)
    ) == [
        "Harbour 04",
        "Harbour 05",
        "Harbour 06",
        "Harbour 07",
        "Harbour 08",
    ]


def test_a_search_with_another_filter_gives_the_same_pages_whether_its_matches_are_few_or_many(it, facebook):
    """Up to the count limit the page is read from the matches kept as they were counted; past it,
    the rows come in order and are checked against search and filter. The same accounts either way."""
    for n in range(9):
        factories.make_account(
            facebook, name=f"Harbour {n}", status=AccountStatus.DORMANT if n % 3 == 0 else AccountStatus.ACTIVE
        )
    factories.make_account(facebook, name="Active elsewhere")
    filters = {"q": "harbour", "status": AccountStatus.ACTIVE}
    few = service.list_accounts(it, service.AccountFilters(**filters), per_page=4, count_limit=10)
    many = service.list_accounts(it, service.AccountFilters(**filters), per_page=4, count_limit=3)
    assert (few.total, few.total_capped, many.total_capped) == (6, False, True)
    assert names(few) == names(many) == ["Harbour 1", "Harbour 2", "Harbour 4", "Harbour 5"]
    for limit in (10, 3):
        following = service.list_accounts(
            it, service.AccountFilters(**filters), page=2, per_page=4, count_limit=limit, after=few.items[-1].id
        )
        assert names(following) == ["Harbour 7", "Harbour 8"]
