"""Who may open what: one row per endpoint (and per object case), checked for every role.

A row names the roles that get the page; every other signed-in role gets 403 and an anonymous
visitor is sent to sign in, unless the row says otherwise. A role that may use the page but not
see the row's object (``hidden``) gets 404, exactly as for an id that does not exist. Adding a page means adding one row;
``test_route_registry`` fails the suite until you do. Object-level rules (staff see and edit only
the accounts they steward, and only their own person page) are rows too, told apart by ``case``.

Each role signs in once (argon2 is slow) and walks the whole table with fresh clients sharing
that sign-in; every mismatch is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, url_for
from flask.testing import FlaskClient

from app.extensions import db
from app.models import CredentialKind, ItemKind, ItemStatus, Person, ProfileKind, Role, User
from app.services import api_tokens, checklist, credentials, mail, offboarding, offboarding_template, reviews, users
from app.services.context import Actor
from tests import factories
from tests.conftest import Client

ANONYMOUS = "anonymous"
ROLES = tuple(role.value for role in Role)
ALL = frozenset(ROLES)
#: Read the whole registry (DESIGN.md roles table).
READERS = frozenset({"admin", "director", "hr", "it"})
#: Edit accounts, profiles and platforms.
INVENTORY = frozenset({"admin", "it"})
#: Edit people and departments.
STAFF_LIST = frozenset({"admin", "hr"})
#: Read the audit log.
AUDITORS = frozenset({"admin", "director"})
STAFF = frozenset({"staff"})


@dataclass(frozen=True)
class Redirect:
    """An expected 3xx to a path (the query string is not compared). ``{name}`` in the path is
    filled from the row's URL values, e.g. ``/users/{user_id}``."""

    path: str

    def __str__(self) -> str:
        return f"redirect to {self.path}"


SIGN_IN = Redirect("/login")
HOME = Redirect("/")
#: Where the World's emailed links point (email is off in tests: the messages are only queued).
LINK_BASE = "http://localhost"
Outcome = int | Redirect


class World:
    """The records the matrix's URLs point at, seen from one signed-in person (or from nobody).

    ``account``/``person`` belong to someone else; ``my_account``/``me`` to the signed-in person.
    """

    def __init__(self, me: Person | None) -> None:
        self.me = me or factories.make_person(name="Not Signed In")
        self.department = factories.make_department()
        self.platform = factories.make_platform(role_names=["owner", "admin"])
        self.profile = factories.make_profile(self.platform)
        self.person = factories.make_person(department=self.department)
        self.persona = factories.make_profile(self.platform, kind=ProfileKind.PERSONA, custodians=[self.person])
        self.custodian = self.persona.custodian_links[0]
        self.account = factories.make_account(self.platform, steward=self.person, department=self.department)
        self.admin = factories.make_admin(self.account, self.profile)
        self.my_account = factories.make_account(self.platform, steward=self.me)
        self.recovery = factories.make_recovery(self.my_account)
        self.tool = factories.make_connection(self.my_account, profile=self.profile)
        self.my_persona = factories.make_profile(self.platform, kind=ProfileKind.PERSONA, custodians=[self.me])
        keeper = Actor.system()
        password = credentials.NoteData("Matrix login", CredentialKind.PASSWORD)
        self.note = credentials.create_note(keeper, password, "matrix-value-1", account=self.account)
        self.my_note = credentials.create_note(keeper, password, "matrix-value-2", account=self.my_account)
        self.kept_note = credentials.create_note(keeper, password, "matrix-value-3", profile=self.my_persona)
        credentials.rotate_note(keeper, self.note, "matrix-value-4", "matrix rotation")
        self.version = self.note.versions[0]
        self.campaign = reviews.open_campaign(keeper, "Matrix review", date.today() + timedelta(days=7), [])
        self.task = next(t for t in self.campaign.tasks if t.account_id == self.account.id)
        self.my_task = next(t for t in self.campaign.tasks if t.account_id == self.my_account.id)
        # Offboarding: a case whose items are HR's queue, one with items for the signed-in person, a closed one.
        self.case = self._case_of_a_leaver(keeper)
        self.case_item = self._item(self.case, ItemKind.REASSIGN_STEWARD)
        self.awaiting_item = self._item(self.case, ItemKind.TRANSFER_OWNERSHIP)
        self.awaiting_item.status = ItemStatus.AWAITING_CONFIRMATION
        self.my_case = self._case_of_a_leaver(keeper)
        self.my_item = self._item(self.my_case, ItemKind.REASSIGN_STEWARD)
        self.my_item.assignee_id, self.my_item.assignee_role = self.me.id, None
        self.my_awaiting = self._item(self.my_case, ItemKind.TRANSFER_OWNERSHIP)
        self.my_awaiting.status, self.my_awaiting.confirmer_id = ItemStatus.AWAITING_CONFIRMATION, self.me.id
        self.closed_case = offboarding.start_case(keeper, factories.make_person(), date.today() + timedelta(days=14))
        for item in self.closed_case.items:
            checklist.waive_item(keeper, item, "Matrix: nothing to hand over", item.version)
        checklist.close_case(keeper, self.closed_case)
        # Made after the cases, so their checklists are as before.
        self.template_item = offboarding_template.create_template_item(keeper, "Collect building keys", "", -1, "hr")
        # Sign-ins for the users pages: a colleague, a deactivated one, one invited (resent, cancelled),
        # and the links an invitation and a password reset email carry.
        self.colleague = factories.make_user(Role.STAFF)
        self.stopped = factories.make_user(Role.STAFF, active=False)
        self.invitee, _ = users.invite_user(keeper, f"invitee-{self.me.id}@org.example", Role.STAFF, None, LINK_BASE)
        _, invitation = users.invite_user(keeper, f"newcomer-{self.me.id}@org.example", Role.HR, None, LINK_BASE)
        self.invitation = invitation.rsplit("/", 1)[1]
        users.request_password_reset(self.colleague.email, LINK_BASE)
        self.reset = re.search(r"/login/reset/(\S+)", mail.pending()[-1].body).group(1)  # type: ignore[union-attr]
        self.api_token, _ = api_tokens.create_token(keeper, f"Matrix token {self.me.id}", ["registry:read"], 30)
        db.session.commit()

    def _case_of_a_leaver(self, keeper: Actor) -> Any:
        """An open case for a new leaver whose personal profile owns an account they steward."""
        leaver = factories.make_person(department=self.department)
        profile = factories.make_profile(self.platform, kind=ProfileKind.PERSONAL, holder=leaver)
        factories.make_account(self.platform, owner_profile=profile, steward=leaver)
        return offboarding.start_case(keeper, leaver, date.today() + timedelta(days=14), "Matrix leaver")

    @staticmethod
    def _item(case: Any, kind: ItemKind) -> Any:
        return next(i for i in case.items if i.kind is kind)


@dataclass(frozen=True)
class Row:
    endpoint: str
    #: Signed-in roles that get ``ok``; the others get ``denied``.
    allow: frozenset[str]
    #: The URL's values, built from the world (query arguments allowed).
    values: Callable[[World], dict[str, Any]] = lambda w: {}
    method: str = "GET"
    ok: Outcome = 200
    denied: Outcome = 403
    #: Roles that may use the page but not see this object: answered as for a missing id (404).
    hidden: frozenset[str] = frozenset()
    anonymous: Outcome = SIGN_IN
    #: Which object case this row covers, when an endpoint has several rows.
    case: str = ""
    #: The request ends the session it was made with (run last).
    signs_out: bool = False

    def expected(self, who: str) -> Outcome:
        if who == ANONYMOUS:
            return self.anonymous
        if who in self.hidden:
            return 404
        return self.ok if who in self.allow else self.denied

    def label(self) -> str:
        return f"{self.endpoint} ({self.case})" if self.case else self.endpoint


def account(w: World) -> dict[str, Any]:
    return {"account_id": w.account.id}


def my_account(w: World) -> dict[str, Any]:
    return {"account_id": w.my_account.id}


def part_of(account_attr: str, part: str, item_attr: str) -> Callable[[World], dict[str, Any]]:
    """URL values of one role, recovery contact or connection on a world's account."""
    return lambda w: {"account_id": getattr(w, account_attr).id, "part": part, "item_id": getattr(w, item_attr).id}


def note(attr: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"note_id": getattr(w, attr).id}


def case_of(attr: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"case_id": getattr(w, attr).id}


def item_of(attr: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"item_id": getattr(w, attr).id}


def finding(w: World) -> dict[str, Any]:
    return {"rule_id": "recovery-missing", "subject_type": "account", "subject_id": w.account.id}


def user_of(attr: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"user_id": getattr(w, attr).id}


ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()
SESSION_ONLY = "a session cookie, no token"
USER_PAGE = Redirect("/users/{user_id}")
NO_SECOND_FACTOR = "they have no second factor"
NO_SSO = "single sign-on is not set up"
MINE = "an account they steward"
ASSIGNED = "an item assigned to them"
RECEIVING = "a transfer they receive"
KEPT = "a note on a persona they keep"
# POST-only endpoints are tried with a valid CSRF token and an empty form: allowed roles get the
# form back with errors (400), nothing is saved.
MATRIX: tuple[Row, ...] = (
    Row("static", ALL, lambda w: {"filename": "css/handover.css"}, anonymous=200),
    Row("auth.login", ALL, ok=HOME, anonymous=200),
    Row("auth.logout", ALL, method="POST", ok=SIGN_IN, signs_out=True),
    # Public sign-in pages answer everyone; the code step without a password typed first starts over.
    Row("auth.two_factor", ALL, ok=SIGN_IN, case="no password typed first"),
    Row("auth.forgot_password", ALL, anonymous=200),
    Row("auth.forgot_password", ALL, method="POST", ok=400, anonymous=400, case="an empty form"),
    Row("auth.reset_password", ALL, lambda w: {"token": w.reset}, anonymous=200),
    Row("auth.reset_password", ALL, lambda w: {"token": w.reset[:-1]}, ok=400, anonymous=400, case="an altered link"),
    Row("auth.reset_password", ALL, lambda w: {"token": w.reset}, method="POST", ok=400, anonymous=400, case="an empty form"),
    Row("auth.accept_invitation", ALL, lambda w: {"token": w.invitation}, anonymous=200),
    Row("auth.accept_invitation", ALL, lambda w: {"token": "x" + w.invitation}, ok=400, anonymous=400, case="an altered link"),
    Row("auth.sso_start", ALL, method="POST", ok=404, anonymous=404, case=NO_SSO),
    Row("auth.sso_callback", ALL, ok=404, anonymous=404, case=NO_SSO),
    # My account: everyone's own password, sessions and second factor.
    Row("account.index", ALL),
    Row("account.change_password", ALL, method="POST", ok=400),
    Row("account.sign_out_everywhere", ALL, method="POST", ok=SIGN_IN, signs_out=True),
    Row("account.two_factor_page", ALL),
    Row("account.two_factor_reset", ALL, method="POST", ok=Redirect("/account/two-factor"), case=NO_SECOND_FACTOR),
    Row("account.recovery_codes", ALL, method="POST", ok=Redirect("/account/two-factor"), case=NO_SECOND_FACTOR),
    # Users: admins only.
    Row("users.index", ADMIN),
    Row("users.index", ADMIN, lambda w: {"q": "org", "role": "staff", "status": "invited"}, case="filtered"),
    Row("users.invite", ADMIN),
    Row("users.invite", ADMIN, method="POST", ok=400, case="an empty form"),
    Row("users.detail", ADMIN, user_of("colleague")),
    Row("users.detail", ADMIN, user_of("invitee"), case="an invited sign-in"),
    Row("users.change_role", ADMIN, user_of("colleague"), method="POST", ok=400),
    Row("users.deactivate", ADMIN, user_of("colleague")),
    Row("users.deactivate", ADMIN, user_of("colleague"), method="POST", ok=400, case="an empty form"),
    Row("users.reactivate", ADMIN, user_of("stopped"), method="POST", ok=400),
    Row("users.reset_two_factor", ADMIN, user_of("colleague"), method="POST", ok=400),
    Row("users.end_sessions", ADMIN, user_of("colleague"), method="POST", ok=USER_PAGE),
    Row("users.resend", ADMIN, user_of("invitee"), method="POST", ok=USER_PAGE),
    Row("users.cancel", ADMIN, user_of("invitee"), method="POST", ok=USER_PAGE),
    Row("main.healthz", ALL, anonymous=200),
    Row("main.home", ALL),
    Row("main.search", ALL, lambda w: {"q": "account"}),
    # The world has data, so the admin is sent home with "the registry already has data".
    Row("main.load_demo", frozenset({"admin"}), method="POST", ok=HOME),
    Row("findings.index", ALL),
    Row("findings.export_csv", READERS),
    Row("findings.export_json", READERS),
    Row("findings.accept", AUDITORS, finding),
    Row("findings.accept", AUDITORS, finding, method="POST", ok=400, case="an empty form"),
    Row("findings.withdraw", AUDITORS, finding, ok=Redirect("/findings/"), case="nothing accepted"),
    Row("findings.report", READERS),
    Row("findings.report_csv", READERS),
    Row("findings.department_report", READERS, lambda w: {"department_id": w.department.id}),
    Row("findings.department_report_csv", READERS, lambda w: {"department_id": w.department.id}),
    Row("reviews.index", ALL),
    Row("reviews.create", AUDITORS),
    Row("reviews.detail", READERS, lambda w: {"campaign_id": w.campaign.id}),
    Row("reviews.task", frozenset({"admin"}), lambda w: {"task_id": w.task.id}, hidden=STAFF),
    Row("reviews.task", ALL, lambda w: {"task_id": w.my_task.id}, case="a task assigned to them"),
    Row("reviews.confirm", frozenset({"admin"}), lambda w: {"task_id": w.task.id}, method="POST", ok=400, hidden=STAFF),
    Row("reviews.confirm", ALL, lambda w: {"task_id": w.my_task.id}, method="POST", ok=400, case="a task assigned to them"),
    Row("reviews.correct", frozenset({"admin"}), lambda w: {"task_id": w.task.id}, method="POST", ok=400, hidden=STAFF),
    Row("reviews.correct", ALL, lambda w: {"task_id": w.my_task.id}, method="POST", ok=400, case="a task assigned to them"),
    Row("accounts.index", ALL),
    Row("accounts.create", INVENTORY),
    Row("accounts.detail", READERS, account, hidden=STAFF),
    Row("accounts.detail", ALL, my_account, case=MINE),
    Row("accounts.edit", INVENTORY, account, hidden=STAFF),
    Row("accounts.edit", INVENTORY | STAFF, my_account, case=MINE),
    Row("accounts.retire", INVENTORY, account, hidden=STAFF),
    Row("accounts.retire", INVENTORY | STAFF, my_account, case=MINE),
    Row("accounts.add_admin", INVENTORY, account, method="POST", ok=400, hidden=STAFF),
    Row("accounts.add_admin", INVENTORY | STAFF, my_account, method="POST", ok=400, case=MINE),
    Row("accounts.add_recovery", INVENTORY, account, method="POST", ok=400, hidden=STAFF),
    Row("accounts.add_recovery", INVENTORY | STAFF, my_account, method="POST", ok=400, case=MINE),
    Row("accounts.add_connection", INVENTORY, account, method="POST", ok=400, hidden=STAFF),
    Row("accounts.add_connection", INVENTORY | STAFF, my_account, method="POST", ok=400, case=MINE),
    Row("accounts.remove_part", INVENTORY, part_of("account", "admins", "admin"), hidden=STAFF),
    Row("accounts.remove_part", INVENTORY | STAFF, part_of("my_account", "recovery", "recovery"), case=MINE),
    Row("accounts.remove_part", INVENTORY | STAFF, part_of("my_account", "connections", "tool"), case=MINE),
    Row("people.index", READERS),
    Row("people.create", STAFF_LIST),
    Row("people.detail", READERS, lambda w: {"person_id": w.person.id}, hidden=STAFF),
    Row("people.detail", ALL, lambda w: {"person_id": w.me.id}, case="their own page"),
    Row("people.edit", STAFF_LIST, lambda w: {"person_id": w.person.id}),
    Row("people.edit", STAFF_LIST, lambda w: {"person_id": w.me.id}, case="their own page"),
    Row("profiles.index", READERS),
    Row("profiles.detail", READERS, lambda w: {"profile_id": w.profile.id}),
    Row("profiles.create", INVENTORY),
    Row("profiles.edit", INVENTORY, lambda w: {"profile_id": w.profile.id}),
    Row("profiles.add_custodian", INVENTORY, lambda w: {"profile_id": w.persona.id}, method="POST", ok=400),
    Row("profiles.remove_custodian", INVENTORY, lambda w: {"profile_id": w.persona.id, "custodian_id": w.custodian.id}),
    Row("departments.index", READERS),
    Row("departments.detail", READERS, lambda w: {"department_id": w.department.id}),
    Row("departments.create", STAFF_LIST),
    Row("departments.edit", STAFF_LIST, lambda w: {"department_id": w.department.id}),
    Row("platforms.index", READERS),
    Row("platforms.detail", READERS, lambda w: {"platform_id": w.platform.id}),
    Row("platforms.create", INVENTORY),
    Row("platforms.edit", INVENTORY, lambda w: {"platform_id": w.platform.id}),
    Row("audit.index", AUDITORS),
    Row("audit.export_csv", AUDITORS),
    Row("credentials.create", INVENTORY, lambda w: {"account": w.account.id}),
    Row("credentials.detail", READERS, note("note"), hidden=STAFF),
    Row("credentials.detail", ALL, note("my_note"), case=MINE),
    Row("credentials.detail", ALL, note("kept_note"), case=KEPT),
    Row("credentials.reveal", INVENTORY, note("note"), method="POST", ok=400, hidden=STAFF),
    Row("credentials.reveal", INVENTORY, note("my_note"), method="POST", ok=400, case=MINE),
    Row("credentials.reveal", INVENTORY | STAFF, note("kept_note"), method="POST", ok=400, case=KEPT),
    Row("credentials.rotate", INVENTORY, note("note"), hidden=STAFF),
    Row("credentials.rotate", INVENTORY | STAFF, note("kept_note"), case=KEPT),
    Row("credentials.restore", INVENTORY, lambda w: {"note_id": w.note.id, "version_id": w.version.id}, hidden=STAFF),
    Row("credentials.edit", INVENTORY, note("note")),
    Row("credentials.delete", INVENTORY, note("note")),
    Row("credentials.queue", INVENTORY),
    Row("offboarding.index", READERS),
    Row("offboarding.index", READERS, lambda w: {"status": "overdue", "department": w.department.id}, case="filtered"),
    Row("offboarding.my_tasks", ALL),
    Row("offboarding.start", STAFF_LIST),
    Row("offboarding.start", STAFF_LIST, lambda w: {"person": w.person.id}, case="for a chosen person"),
    Row("offboarding.detail", READERS, case_of("case"), hidden=STAFF),
    Row("offboarding.detail", ALL, case_of("my_case"), case=ASSIGNED),
    Row("offboarding.detail", READERS, case_of("closed_case"), case="a closed case", hidden=STAFF),
    Row("offboarding.complete", STAFF_LIST, item_of("case_item"), method="POST", ok=400, hidden=STAFF),
    Row("offboarding.complete", ALL, item_of("my_item"), method="POST", ok=400, case=ASSIGNED),
    Row("offboarding.confirm", frozenset({"admin"}), item_of("awaiting_item"), method="POST", ok=400, hidden=STAFF),
    Row("offboarding.confirm", ALL, item_of("my_awaiting"), method="POST", ok=400, case=RECEIVING),
    Row("offboarding.waive", AUDITORS, item_of("case_item")),
    Row("offboarding.waive", AUDITORS, item_of("case_item"), method="POST", ok=400, case="an empty form"),
    Row("offboarding.refresh", frozenset({"admin", "hr", "it"}), case_of("case"), method="POST", ok=400),
    Row("offboarding.cancel", STAFF_LIST, case_of("case")),
    Row("offboarding.close", STAFF_LIST, case_of("case"), method="POST", ok=400),
    Row("offboarding.exit_declaration", STAFF_LIST, case_of("case"), hidden=STAFF),
    Row("offboarding.report", READERS, case_of("closed_case")),
    Row("offboarding.report_csv", READERS, case_of("closed_case")),
    Row("offboarding.template", READERS),
    Row("offboarding.template_new", frozenset({"admin"})),
    Row("offboarding.template_new", frozenset({"admin"}), method="POST", ok=400, case="an empty form"),
    Row("offboarding.template_edit", frozenset({"admin"}), lambda w: {"item_id": w.template_item.id}),
    Row(
        "offboarding.template_toggle",
        frozenset({"admin"}),
        lambda w: {"item_id": w.template_item.id},
        method="POST",
        ok=Redirect("/offboarding/template"),
    ),
    # API tokens: admins only.
    Row("tokens.index", ADMIN),
    Row("tokens.create", ADMIN),
    Row("tokens.create", ADMIN, method="POST", ok=400, case="an empty form"),
    Row("tokens.revoke", ADMIN, lambda w: {"token_id": w.api_token.id}),
    # The JSON API answers bearer tokens only: a signed-in browser session gets 401 like nobody at all.
    Row("api.openapi", ALL, anonymous=200),
    Row("api.docs", ALL, anonymous=200),
    *(
        Row(endpoint, NOBODY, values, method=method, denied=401, anonymous=401, case=SESSION_ONLY)
        for endpoint, method, values in (
            ("api.list_people", "GET", lambda w: {}),
            ("api.get_person", "GET", lambda w: {"person_id": w.person.id}),
            ("api.get_person_by_hr_id", "GET", lambda w: {"hr_id": "HR-1"}),
            ("api.list_departments", "GET", lambda w: {}),
            ("api.list_profiles", "GET", lambda w: {}),
            ("api.get_profile", "GET", lambda w: {"profile_id": w.profile.id}),
            ("api.list_accounts", "GET", lambda w: {}),
            ("api.get_account", "GET", account),
            ("api.list_findings", "GET", lambda w: {}),
            ("api.list_cases", "GET", lambda w: {}),
            ("api.get_case", "GET", case_of("case")),
            ("api.start_case", "POST", lambda w: {}),
            ("api.complete_item", "POST", item_of("case_item")),
            ("api.update_person", "PATCH", lambda w: {"person_id": w.person.id}),
            ("api.update_account", "PATCH", account),
            ("api.create_person", "POST", lambda w: {}),
            ("api.create_account", "POST", lambda w: {}),
            ("api.add_admin", "POST", account),
            ("api.add_recovery_contact", "POST", account),
            ("api.add_connection", "POST", account),
        )
    ),
    # SCIM answers a token with the scim scope only; HR events a valid signature only.
    *(
        Row(endpoint, NOBODY, values, method=method, denied=401, anonymous=401, case=SESSION_ONLY)
        for endpoint, method, values in (
            ("scim.service_provider_config", "GET", lambda w: {}),
            ("scim.resource_types", "GET", lambda w: {}),
            ("scim.resource_type", "GET", lambda w: {"type_id": "User"}),
            ("scim.schema_list", "GET", lambda w: {}),
            ("scim.schema", "GET", lambda w: {"schema_id": "urn:ietf:params:scim:schemas:core:2.0:User"}),
            ("scim.users", "GET", lambda w: {}),
            ("scim.search", "POST", lambda w: {}),
            ("scim.create_user", "POST", lambda w: {}),
            ("scim.user", "GET", lambda w: {"user_id": w.person.id}),
            ("scim.replace_user", "PUT", lambda w: {"user_id": w.person.id}),
            ("scim.patch_user", "PATCH", lambda w: {"user_id": w.person.id}),
            ("scim.delete_user", "DELETE", lambda w: {"user_id": w.person.id}),
        )
    ),
    Row("hr.events", NOBODY, method="POST", denied=401, anonymous=401, case="no signature"),
    # CSV import and export: people by HR and admins; accounts by IT and admins, exported by every registry reader.
    Row("imports.people", STAFF_LIST),
    Row("imports.people", STAFF_LIST, method="POST", ok=400, case="an empty form"),
    Row("imports.confirm_people", STAFF_LIST, method="POST", ok=400),
    Row("imports.export_people", STAFF_LIST),
    Row("imports.accounts", INVENTORY),
    Row("imports.accounts", INVENTORY, method="POST", ok=400, case="an empty form"),
    Row("imports.confirm_accounts", INVENTORY, method="POST", ok=400),
    Row("imports.export_accounts", READERS),
)


# --- Shared with the CSRF sweep -----------------------------------------------------------


def build_url(app: Flask, row: Row, world: World) -> str:
    with app.test_request_context():
        return url_for(row.endpoint, **row.values(world))


def outcome_of(response: Any) -> Outcome:
    if 300 <= response.status_code < 400:
        return Redirect(urlsplit(response.headers["Location"]).path)
    return response.status_code


def sharing_session(client: FlaskClient) -> FlaskClient:
    """A new client carrying the same session cookie: requests cannot disturb each other's flashes."""
    app = client.application
    fresh = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    if cookie := client.get_cookie(name):
        fresh.set_cookie(name, cookie.value)
    return fresh


def request_row(client: FlaskClient, row: Row, url: str, token: str) -> Outcome:
    data = {"csrf_token": token} if row.method == "POST" else None
    with client.open(url, method=row.method, data=data) as response:
        return outcome_of(response)


def check_role(app: Flask, client: Any, who: str, user: User | None) -> list[str]:
    """Walk the whole table as one role; return the rows that disagree."""
    world = World(user.person if user else None)
    if user is not None:
        client.login(user)
    token = client.token()  # stored in the session, so every copy of it can post
    mismatches = []
    signed_out = False
    for row in sorted(MATRIX, key=lambda r: r.signs_out):
        if row.signs_out and signed_out and user is not None:
            # The previous row ended every session: sign in again, so this row is tried signed in.
            client.login(user)
            token = client.token()
        signed_out = signed_out or row.signs_out
        url = build_url(app, row, world)
        got = request_row(sharing_session(client), row, url, token)
        expected = row.expected(who)
        if isinstance(expected, Redirect):
            expected = Redirect(expected.path.format(**row.values(world)))
        if got != expected:
            mismatches.append(f"  as {who}: {row.method} {url} — {row.label()}: expected {expected}, got {got}")
    return mismatches


# --- The test -----------------------------------------------------------------------------


def test_access_matrix(app: Flask, make_user: Any) -> None:
    """Every row, as every role and as an anonymous visitor.

    One test per database rather than per role: each app compiles its templates afresh and each
    sign-in costs an argon2 verification, and the table is walked 6 times over.
    """
    app.test_client_class = Client
    mismatches = []
    for who in (*ROLES, ANONYMOUS):
        user = None if who == ANONYMOUS else make_user(Role(who))
        mismatches += check_role(app, app.test_client(), who, user)
    cells = len(MATRIX) * (len(ROLES) + 1)
    assert not mismatches, f"{len(mismatches)} of {cells} cells disagree:\n" + "\n".join(mismatches)
