"""The findings pages: the list and its counts, exports, risk acceptance, the account reports, and
the findings shown on the account and person pages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccountStatus, AuditEvent, CredentialKind, PersonStatus, ProfileKind, RecoveryKind, Role
from app.models.finding import FindingAcceptance
from app.services import credentials, findings, reports
from app.services.context import Actor
from app.services.exports import BOM
from tests import factories
from tests.statements import plan, recording

READERS = ("admin", "director", "hr", "it")
ALL_ROLES = (*READERS, "staff")
SECRET = "pa55-never-exported-7"  # noqa: S105 (a test value that must never appear in an export)
EVIL = '=HYPERLINK("http://evil.example","click me")'


class World:
    """A small registry with known findings.

    - ``teen``: Youth, Facebook, stewarded by the staff user; owned by the departed Dana's personal
      profile (critical held-by-leaver, high owner-personal), no other admin (high), no recovery
      contact (medium), never reviewed (low).
    - ``desk``: Adult, Bluesky, stewarded by Sam; an organisation owner, two admins, reviewed today, a
      credential note; its one finding: a recovery phone that is Sam's own.
    - ``evil``: Adult, Bluesky, no steward, named like a spreadsheet formula.
    - ``old``: retired; never in a list or report.
    """

    def __init__(self, staff_person: Any) -> None:
        self.youth = factories.make_department("Youth")
        self.adult = factories.make_department("Adult")
        self.facebook = factories.make_platform("Facebook", role_names=["admin", "editor"])
        self.bluesky = factories.make_platform("Bluesky")
        self.dana = factories.make_person("Dana Whitfield", status=PersonStatus.DEPARTED)
        self.sam = factories.make_person("Sam Ortiz")
        self.jo = staff_person
        dana_fb = factories.make_profile(self.facebook, kind=ProfileKind.PERSONAL, holder=self.dana, name="Dana W")
        self.teen = factories.make_account(self.facebook, name="Teen Zone", department=self.youth, steward=self.jo)
        self.teen.owner_profile = dana_fb
        factories.make_admin(self.teen, dana_fb)

        org = factories.make_profile(self.bluesky, name="Library org")
        persona = factories.make_profile(self.bluesky, kind=ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[self.sam])
        self.desk = factories.make_account(
            self.bluesky, name="Reference Desk", department=self.adult, steward=self.sam, has_own_login=True
        )
        self.desk.owner_profile = org
        factories.make_admin(self.desk, org)
        factories.make_admin(self.desk, persona, role_name="editor")
        factories.make_recovery(self.desk, "it@org.example")
        factories.make_recovery(self.desk, "+1 555 0100", kind=RecoveryKind.PHONE, person=self.sam)
        self.evil = factories.make_account(self.bluesky, name=EVIL, department=self.adult)
        self.old = factories.make_account(self.facebook, name="Old Blog", status=AccountStatus.RETIRED)
        db.session.flush()
        self.note = credentials.create_note(
            Actor.system(), credentials.NoteData("Desk login", CredentialKind.PASSWORD), SECRET, account=self.desk
        )
        self.desk.last_reviewed_at = self.note.rotated_at
        db.session.commit()


@pytest.fixture
def staff_person(app):
    person = factories.make_person("Jo Kim")
    db.session.commit()
    return person


@pytest.fixture
def world(app, staff_person):
    return World(staff_person)


def user_of(role: str, world: World, make_user: Any) -> Any:
    return make_user(Role(role), person=world.jo) if role == "staff" else make_user(Role(role))


def evaluate(**filters: Any) -> list[findings.Finding]:
    db.session.expire_all()
    return findings.evaluate(findings.FindingFilters(**filters))


def rows_in(html: str) -> int:
    return html.count('<tr class="finding">')


def table_of(html: str) -> str:
    """The list's rows only (the filters name every rule too)."""
    return html[html.index("<tbody>") : html.index("</tbody>")] if "<tbody>" in html else ""


def counts_in(html: str) -> dict[str, int]:
    """The numbers at the top of the list: severity → open count, and "accepted" when shown."""
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)"[^>]*><span class="stat__value">(\d+)</span>', html)}


def csv_rows(response: Any) -> list[dict[str, str]]:
    text = response.data.decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))


def accept_url(rule: str, account_id: int, action: str = "accept") -> str:
    return f"/findings/{rule}/account/{account_id}/{action}"


# --- Who may open what --------------------------------------------------------------------


def test_each_page_for_each_role(app, client, world, make_user):
    """Readers get everything but acceptance; directors and admins accept; staff get only the list."""
    department = world.youth.id
    pages = {
        "/findings/": ALL_ROLES,
        "/findings/?show=all&severity=high": ALL_ROLES,
        "/findings/export.csv": READERS,
        "/findings/export.json": READERS,
        "/findings/report": READERS,
        "/findings/report.csv": READERS,
        f"/findings/report/department/{department}": READERS,
        f"/findings/report/department/{department}.csv": READERS,
        accept_url("recovery-missing", world.teen.id): ("admin", "director"),
    }
    assert client.get("/findings/").status_code == 302  # anonymous: sent to sign in
    problems = []
    for role in ALL_ROLES:
        fresh = app.test_client()
        fresh.login(user_of(role, world, make_user))
        for url, allowed in pages.items():
            got = fresh.get(url).status_code
            if got != (expected := 200 if role in allowed else 403):
                problems.append(f"{role} GET {url}: expected {expected}, got {got}")
        withdraw = accept_url("recovery-missing", world.teen.id, "withdraw")
        got = fresh.get(withdraw).status_code  # nothing is accepted: acceptors are sent back to the list
        if got != (expected := 302 if role in ("admin", "director") else 403):
            problems.append(f"{role} GET {withdraw}: expected {expected}, got {got}")
        for url in (accept_url("recovery-missing", world.teen.id), withdraw):
            got = fresh.submit(url, {"reason": "Closing the page soon", "expires_on": "2099-01-01"}).status_code
            if role not in ("admin", "director") and got != 403:
                problems.append(f"{role} POST {url}: expected 403, got {got}")
    assert not problems, "\n".join(problems)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0


def test_unknown_department_or_finding_is_404(client, login_as, world):
    login_as(Role.DIRECTOR)
    assert client.get("/findings/report/department/9999").status_code == 404
    assert client.get("/findings/report/department/9999.csv").status_code == 404
    assert client.get(accept_url("no-such-rule", world.teen.id)).status_code == 404
    assert client.get(accept_url("recovery-missing", world.desk.id)).status_code == 404  # desk has a recovery contact
    assert client.get(f"/findings/recovery-missing/profile/{world.teen.id}/accept").status_code == 404


# --- The list -----------------------------------------------------------------------------


def test_list_shows_what_is_wrong_why_and_the_action(client, login_as, world):
    login_as(Role.IT)
    html = client.get("/findings/").text
    assert rows_in(html) == len(evaluate())
    held = findings.RULES["held-by-leaver"]
    assert held.title in html and held.why in html
    assert "Dana Whitfield (departed): owner profile, admin role." in html
    assert f'href="/people/{world.dana.id}">{held.action}</a>' in html  # the one action, as a link
    assert f'href="/accounts/{world.teen.id}">Teen Zone</a>' in html
    assert f'href="/people/{world.jo.id}">Jo Kim</a>' in html and "Youth" in html
    assert '<span class="badge badge--danger">Critical</span>' in html  # severity in words, not colour alone
    assert "Old Blog" not in html
    assert SECRET not in html
    assert "Accept the risk" not in html  # IT cannot accept


def test_filters_narrow_the_list_and_the_counts_match_the_rows(app, client, login_as, world):
    login_as(Role.DIRECTOR)
    app.config["PER_PAGE"] = 2
    cases = {
        "": {},
        "department": {"department_id": world.adult.id},
        "platform": {"platform_id": world.facebook.id},
        "steward": {"steward_id": world.jo.id},
        "severity": {"severity": findings.Severity.HIGH},
        "rule": {"rule_id": "no-steward"},
    }
    values = {"department": world.adult.id, "platform": world.facebook.id, "steward": world.jo.id, "severity": "high"}
    values["rule"] = "no-steward"
    everything = len(evaluate())
    for arg, filters in cases.items():
        query = f"{arg}={values[arg]}" if arg else ""
        expected = evaluate(**filters)
        first = client.get(f"/findings/?{query}").text
        counts = counts_in(first)
        assert sum(counts.values()) == len(expected), arg
        for severity in findings.Severity:
            assert counts[severity.value] == sum(1 for f in expected if f.severity is severity), (arg, severity)
        pages = -(-len(expected) // 2)
        seen = sum(rows_in(client.get(f"/findings/?{query}&page={n}").text) for n in range(1, pages + 1))
        assert seen == len(expected), arg
        if arg:
            assert 0 < len(expected) < everything, f"the {arg} filter should narrow the list"

    adult = table_of(client.get(f"/findings/?department={world.adult.id}").text)
    assert "Teen Zone" not in adult and "HYPERLINK" in adult
    high = table_of(client.get("/findings/?severity=high").text)
    assert 'badge--danger">Critical' not in high and "Medium</span>" not in high


def test_pagination(app, client, login_as, world):
    login_as(Role.HR)
    app.config["PER_PAGE"] = 2
    total = len(evaluate())
    first = client.get("/findings/").text
    assert rows_in(first) == 2 and 'rel="next"' in first and f"Showing 1–2 of {total}" in first
    last_page = -(-total // 2)
    last = client.get(f"/findings/?page={last_page}").text
    assert 'rel="prev"' in last and 'rel="next"' not in last
    assert rows_in(last) == total - 2 * (last_page - 1)
    assert rows_in(client.get("/findings/?page=999").text) == rows_in(last)  # past the end: the last page


@pytest.mark.parametrize(
    "filters",
    [{}, {"show": "all"}, {"show": "accepted"}, {"rule_id": "the commonest"}, {"platform_id": "facebook"}],
    ids=["open", "all", "accepted", "one rule", "one platform"],
)
def test_pages_near_the_end_read_backwards_give_the_same_rows_in_the_same_order(app, world, filters):
    director = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
    for n in range(9):  # more of each rule, and names alike: ties ordered by rule and subject
        factories.make_account(world.facebook, name=f"Branch Page {n % 3}")
    db.session.commit()
    findings.accept_finding(
        director, "recovery-missing", "account", world.teen.id, "Kept as it is", date.today() + timedelta(days=30)
    )
    db.session.commit()
    if "platform_id" in filters:
        filters = {"platform_id": world.facebook.id}
    if "rule_id" in filters:  # the rule with the most findings
        filters = {"rule_id": Counter(f.rule.id for f in evaluate()).most_common(1)[0][0]}

    def keys(page: int, per_page: int) -> list[tuple[str, str, int]]:
        listed, _ = findings.list_findings(director, findings.FindingFilters(**filters), page, per_page)
        return [x.key for x in listed.items]

    everything = keys(1, 10_000)
    assert len(everything) >= (1 if filters.get("show") == "accepted" else 5)
    for per_page in (2, 3, 4):  # the last page full or not; pages read from the end past the middle
        pages = -(-len(everything) // per_page)
        assert [key for n in range(1, pages + 1) for key in keys(n, per_page)] == everything, per_page
        assert keys(pages + 5, per_page) == keys(pages, per_page)  # past the end: the last page


def test_a_few_findings_are_found_through_their_filters_index(client, login_as, world):
    """A steward's findings of one rule, few of the rule's many: found through the steward's index
    and sorted, not by walking the rule's findings in the list's order past every other steward's
    (a steward's among 421,872 findings: 38 ms; none at all, the whole rule read to say so)."""
    login_as(Role.DIRECTOR)

    def paged(sql: str) -> bool:
        return "FROM finding_index" in sql and "ORDER BY" in sql and "LIMIT" in sql

    with recording(db.engine, paged) as seen:
        page = client.get(f"/findings/?steward={world.jo.id}&rule=single-admin").text
    assert "Teen Zone" in page and "Reference Desk" not in page
    if db.engine.dialect.name == "sqlite":
        [(statement, parameters)] = seen
        steps = " ".join(plan(statement, parameters))
        assert "ix_finding_index_steward_id" in steps, steps


def test_one_platform_s_list_reads_the_same_rows_whichever_way_it_is_read(app, world, monkeypatch):
    """A platform holding many of the findings is listed by walking the list's order, one holding
    few by sorting its own: the same rows in the same order either way, and its counts (kept by
    platform) those of a full evaluation, with a rule or a severity too."""
    director = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
    for n in range(9):
        factories.make_account(world.facebook, name=f"Branch Page {n % 3}")
    db.session.commit()
    findings.accept_finding(
        director, "recovery-missing", "account", world.teen.id, "Kept as it is", date.today() + timedelta(days=30)
    )
    db.session.commit()
    chosen: list[bool] = []
    read_in_order = findings._read_in_order

    def noted(*args: Any) -> bool:
        chosen.append(read_in_order(*args))
        return chosen[-1]

    def keys(platform: Any, page: int, per_page: int, show: str = "open") -> list[tuple[str, str, int]]:
        filters = findings.FindingFilters(platform_id=platform.id, show=show)
        listed, _ = findings.list_findings(director, filters, page, per_page)
        return [x.key for x in listed.items]

    for platform, walked in ((world.facebook, True), (world.bluesky, False)):
        monkeypatch.setattr(findings, "_read_in_order", noted)
        for show in ("open", "all"):
            expected = [x.key for x in evaluate(platform_id=platform.id, show=show)]
            assert len(expected) >= 2
            chosen.clear()
            assert keys(platform, 1, 2, show) == expected[:2]
            assert chosen == [walked], (platform.name, show)
            for per_page in (2, 3):
                pages = -(-len(expected) // per_page)
                assert [key for n in range(1, pages + 1) for key in keys(platform, n, per_page, show)] == expected
        everything = [x.key for x in evaluate(platform_id=platform.id, show="all")]
        for forced in (True, False):
            monkeypatch.setattr(findings, "_read_in_order", lambda *args, forced=forced: forced)
            assert [key for n in range(1, len(everything) + 1) for key in keys(platform, n, 1, "all")] == everything
        for narrower in ({}, {"rule_id": "recovery-missing"}, {"severity": findings.Severity.HIGH}, {"show": "accepted"}):
            expected = evaluate(
                platform_id=platform.id, show=narrower.get("show", "all"), **{k: v for k, v in narrower.items() if k != "show"}
            )
            summary = findings.indexed_summary(findings.FindingFilters(platform_id=platform.id, **{"show": "all", **narrower}))
            assert summary.total == sum(1 for x in expected if x.accepted is None), (platform.name, narrower)
            assert summary.accepted == sum(1 for x in expected if x.accepted is not None), (platform.name, narrower)
            assert summary.by_rule == dict(Counter(x.rule.id for x in expected if x.accepted is None)), (platform.name, narrower)


def test_staff_see_only_the_findings_of_accounts_they_steward(client, world, make_user):
    client.login(make_user(Role.STAFF, person=world.jo))
    html = client.get("/findings/").text
    assert rows_in(html) == len(evaluate(steward_id=world.jo.id)) > 0
    assert "HYPERLINK" not in html and "Reference Desk" not in html
    # Asking for someone else's accounts changes nothing.
    assert "HYPERLINK" not in client.get(f"/findings/?steward={world.sam.id}").text
    assert 'id="f-steward"' not in html


def test_empty_state_says_things_look_good(client, login_as):
    login_as(Role.DIRECTOR)
    html = client.get("/findings/").text
    assert "No open findings: things look good" in html and "make sure every page and account" in html
    filtered = client.get("/findings/?severity=critical").text
    assert "No findings match these filters" in filtered


# --- Exports ------------------------------------------------------------------------------


def test_csv_export_escapes_formulas_and_keeps_the_filters(client, login_as, world):
    login_as(Role.DIRECTOR)
    response = client.get(f"/findings/export.csv?department={world.adult.id}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="findings-')
    rows = csv_rows(response)
    expected = evaluate(department_id=world.adult.id)
    assert len(rows) == len(expected) > 0
    assert list(rows[0]) == [
        "Severity",
        "Rule",
        "Finding",
        "Account",
        "Platform",
        "Department",
        "Steward",
        "Person concerned",
        "Detail",
        "Why it matters",
        "Action",
        "Action link",
        "Status",
        "Accepted by",
        "Accepted until",
        "Acceptance reason",
    ]
    evil = [r for r in rows if "HYPERLINK" in r["Account"]]
    assert evil and all(r["Account"] == "'" + EVIL for r in evil)
    assert {r["Department"] for r in rows} == {"Adult"}
    no_steward = next(r for r in evil if r["Rule"] == "no-steward")
    assert no_steward["Severity"] == "medium" and no_steward["Status"] == "open"
    assert no_steward["Action link"] == f"http://localhost/accounts/{world.evil.id}/edit"
    assert SECRET not in response.data.decode()


def test_json_export_is_a_list_of_objects(client, login_as, world):
    login_as(Role.IT)
    response = client.get("/findings/export.json?severity=critical")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="findings-')
    records = json.loads(response.data)
    expected = evaluate(severity=findings.Severity.CRITICAL)
    assert isinstance(records, list) and len(records) == len(expected) > 0
    record = records[0]
    assert record["severity"] == "critical" and record["rule"] == "held-by-leaver"
    assert record["account"] == "Teen Zone" and record["account_id"] == world.teen.id
    assert record["why"] == findings.RULES["held-by-leaver"].why
    assert record["status"] == "open" and record["accepted_by"] is None
    assert SECRET not in response.data.decode()
    everything = json.loads(client.get("/findings/export.json").data)
    assert EVIL in {r["account"] for r in everything}  # JSON is not a spreadsheet: names as they are


def test_exports_stream_the_list_a_batch_at_a_time(app, client, login_as, world, monkeypatch):
    """Read from the index a few findings at a time, an export holds what evaluating the whole
    registry finds, in the list's order: each sentence, each acceptance, and credential findings
    (evaluated apart from their accounts) among account findings."""
    world.note.rotated_at -= timedelta(days=3 * 365)  # overdue: a credential finding on the desk
    world.note.due_at -= timedelta(days=3 * 365)
    director = login_as(Role.DIRECTOR)
    db.session.commit()
    findings.accept_finding(
        Actor.for_user(director), "recovery-missing", "account", world.teen.id, "Closing", date.today() + timedelta(days=9)
    )
    db.session.commit()
    monkeypatch.setattr(findings, "EXPORT_BATCH", 2)
    cases = {
        "": {},
        "?show=all": {"show": "all"},
        "?show=accepted": {"show": "accepted"},
        f"?show=all&department={world.adult.id}": {"show": "all", "department_id": world.adult.id},
    }
    for query, filters in cases.items():
        expected = [
            (x.rule.id, x.subject_type, x.subject_id, x.detail, "accepted" if x.accepted else "open") for x in evaluate(**filters)
        ]
        response = client.get("/findings/export.json" + query)
        assert response.status_code == 200 and response.is_streamed
        got = [(r["rule"], r["subject_type"], r["subject_id"], r["detail"], r["status"]) for r in json.loads(response.data)]
        assert got == expected, query
        csv_got = [(r["Rule"], r["Detail"], r["Status"]) for r in csv_rows(client.get("/findings/export.csv" + query))]
        assert csv_got == [(rule, detail, status) for rule, _, _, detail, status in expected], query
    everything = evaluate(show="all")
    assert {"credential-overdue", "recovery-missing", "no-steward"} <= {x.rule.id for x in everything}
    assert len(everything) > 4
    batches = list(findings.exported(Actor.for_user(director), findings.FindingFilters(show="all")).batches)
    assert [len(b) for b in batches] == [2] * (len(everything) // 2) + ([len(everything) % 2] if len(everything) % 2 else [])


def test_an_export_too_large_for_one_file_says_how_to_narrow_it(client, login_as, world, monkeypatch):
    login_as(Role.DIRECTOR)
    everything = len(evaluate())
    critical = len(evaluate(severity=findings.Severity.CRITICAL))
    monkeypatch.setattr(findings, "EXPORT_LIMIT", everything - 1)
    for kind in ("csv", "json"):
        response = client.get(f"/findings/export.{kind}?steward=")
        assert response.status_code == 302 and response.headers["Location"] == "/findings/"
        page = client.get(response.headers["Location"]).text
        assert f"{everything} findings match: more than {everything - 1}, too many for one {kind.upper()} file" in page
        assert "Choose a severity, a rule or a department, then download again" in page
        assert f"{everything} findings: too many for one file" in page and "Download CSV" not in page
    monkeypatch.setattr(findings, "EXPORT_LIMIT", critical - 1)
    narrowed = client.get("/findings/export.csv?severity=critical&show=open")
    assert narrowed.status_code == 302 and narrowed.headers["Location"] == "/findings/?severity=critical&show=open"
    monkeypatch.setattr(findings, "EXPORT_LIMIT", critical)
    assert len(csv_rows(client.get("/findings/export.csv?severity=critical"))) == critical > 0
    assert "Download CSV" in client.get("/findings/?severity=critical").text


# --- Risk acceptance ----------------------------------------------------------------------


def test_director_accepts_a_risk_and_withdraws_it(client, login_as, world):
    director = login_as(Role.DIRECTOR)
    url = accept_url("recovery-missing", world.teen.id)
    form = client.get(url)
    assert form.status_code == 200
    default = (date.today() + timedelta(days=90)).isoformat()
    assert f'value="{default}"' in form.text
    assert "No recovery contact" in form.text and "Teen Zone" in form.text

    until = date.today() + timedelta(days=30)
    response = client.submit(
        url, {"reason": "The page closes next month", "expires_on": until.isoformat()}, follow_redirects=True
    )
    assert response.status_code == 200 and "Accepted “No recovery contact” on Teen Zone" in response.text
    assert response.request.path == "/findings/"

    acceptance = db.session.scalar(sa.select(FindingAcceptance))
    assert acceptance.rule_id == "recovery-missing" and acceptance.subject_id == world.teen.id
    assert acceptance.reason == "The page closes next month" and acceptance.expires_on == until
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "finding.accept"))

    open_list = table_of(client.get(f"/findings/?steward={world.jo.id}").text)
    assert "No recovery contact" not in open_list and "Teen Zone" in open_list
    everything = client.get(f"/findings/?steward={world.jo.id}&show=all").text
    assert f"Accepted by {director.display_name} until" in everything and "The page closes next month" in everything
    assert counts_in(everything)["accepted"] == 1
    assert rows_in(everything) == sum(counts_in(everything).values())
    accepted_only = client.get("/findings/?show=accepted").text
    assert rows_in(accepted_only) == 1 and "Withdraw acceptance" in accepted_only

    withdraw = accept_url("recovery-missing", world.teen.id, "withdraw")
    confirm = client.get(withdraw)
    assert confirm.status_code == 200 and "Withdraw the acceptance" in confirm.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 1  # a GET changes nothing
    withdrawn = client.submit(withdraw, follow_redirects=True)
    assert withdrawn.status_code == 200 and "the finding is open again" in withdrawn.text
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0
    assert "No recovery contact" in table_of(client.get(f"/findings/?steward={world.jo.id}").text)
    again = client.submit(withdraw, follow_redirects=True)
    assert again.status_code == 200 and "nothing changed" in again.text


@pytest.mark.parametrize(
    ("reason", "expires_on", "field", "message"),
    [
        ("", "+30", "reason", "Say why the organisation accepts this risk."),
        ("ok", "+30", "reason", "Say why the organisation accepts this risk."),  # the service's rule
        ("The page closes soon", "", "expires_on", "Choose the date the acceptance runs out"),
        ("The page closes soon", "31/12/2030", "expires_on", "Choose the date the acceptance runs out"),
        ("The page closes soon", "-1", "expires_on", "Choose a date in the future"),
        ("The page closes soon", "+800", "expires_on", "at most two years"),
    ],
)
def test_bad_acceptance_input_shows_field_errors_and_saves_nothing(client, login_as, world, reason, expires_on, field, message):
    login_as(Role.ADMIN)
    if expires_on[:1] in "+-" and expires_on[1:].isdigit():
        expires_on = (date.today() + timedelta(days=int(expires_on))).isoformat()
    response = client.submit(accept_url("recovery-missing", world.teen.id), {"reason": reason, "expires_on": expires_on})
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in response.text
    assert "nothing was saved" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FindingAcceptance)) == 0


# --- Reports ------------------------------------------------------------------------------


def test_report_lists_every_live_account_and_the_csv_matches(client, login_as, world):
    login_as(Role.HR)
    html = client.get("/findings/report").text
    for name in ("Teen Zone", "Reference Desk", "HYPERLINK"):
        assert name in html
    assert "Old Blog" not in html
    assert html.count('class="card report-account"') == 3
    desk = html[html.index("Reference Desk") :]
    desk = desk[: desk.index("</article>")]
    assert "Library org" in desk and "Melvilla Dewey" in desk and "kept by" in desk and "Sam Ortiz" in desk
    assert "it@org.example" in desk and "+1 555 0100" in desk and "Tied to a person" in desk
    assert "Recovery goes to a personal inbox or phone" in desk
    assert '<span class="badge badge--ok">OK</span>' in desk  # the note's state, never its value
    teen = html[html.index("Teen Zone") :]
    teen = teen[: teen.index("</article>")]
    assert "Dana W" in teen and "Dana Whitfield" in teen and "Departed" in teen and "Jo Kim" in teen
    assert "Held by someone leaving or gone" in teen and "no credential note" in teen
    assert SECRET not in html

    response = client.get("/findings/report.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="account-report-')
    rows = {r["Account"]: r for r in csv_rows(response)}
    assert set(rows) == {"Teen Zone", "Reference Desk", "'" + EVIL}
    desk_row = rows["Reference Desk"]
    assert desk_row["Owner"] == "Library org" and desk_row["Owner kind"] == "Organisation"
    assert desk_row["Admins"].splitlines() == ["Library org — admin", "Melvilla Dewey — editor (kept by Sam Ortiz)"]
    assert desk_row["Recovery contacts"].splitlines() == [
        "Email: it@org.example — institutional",
        "Phone: +1 555 0100 — tied to Sam Ortiz",
    ]
    assert desk_row["Steward"] == "Sam Ortiz" and desk_row["Credential state"] == "OK"
    teen_row = rows["Teen Zone"]
    assert teen_row["Behind the owner"] == "held by Dana Whitfield (departed)" and teen_row["Steward"] == "Jo Kim"
    teen_findings = evaluate(account_id=world.teen.id)
    assert int(teen_row["Open findings"]) == len(teen_findings) == len(teen_row["Findings"].splitlines())
    assert rows["'" + EVIL]["Steward"] == "nobody"
    for name, row in rows.items():
        account_id = {"Teen Zone": world.teen.id, "Reference Desk": world.desk.id}.get(name, world.evil.id)
        assert int(row["Open findings"]) == len(evaluate(account_id=account_id)), name
    assert SECRET not in response.data.decode()


def test_department_report_and_csv(client, login_as, world):
    login_as(Role.DIRECTOR)
    html = client.get(f"/findings/report/department/{world.adult.id}").text
    assert "Account report: Adult" in html
    assert "Reference Desk" in html and "HYPERLINK" in html and "Teen Zone" not in html
    rows = csv_rows(client.get(f"/findings/report/department/{world.adult.id}.csv"))
    assert sorted(r["Account"] for r in rows) == sorted(["Reference Desk", "'" + EVIL])
    assert {r["Department"] for r in rows} == {"Adult"}


def test_a_report_too_large_to_list_gives_its_counts_and_points_to_the_departments(client, login_as, world, monkeypatch):
    monkeypatch.setattr(reports, "REPORT_LIMIT", 2)  # the organisation has 3 live accounts, Adult 2
    login_as(Role.DIRECTOR)
    html = client.get("/findings/report").text
    assert "The whole organisation has more than 2 live accounts: too many for one report to list." in html
    assert 'class="card report-account"' not in html and "Download CSV" not in html
    assert f'href="/findings/report/department/{world.adult.id}"' in html
    # The counts still come: open findings by severity, from the finding index.
    summary = reports.account_report(Actor.system("test")).summary
    assert summary.total == sum(1 for x in evaluate() if x.accepted is None) > 0
    # The organisation's CSV says why it is not made, on the report page.
    response = client.get("/findings/report.csv")
    assert response.status_code == 302 and response.headers["Location"].endswith("/findings/report")
    assert "too many for one file" in client.get(response.headers["Location"]).text
    # A department within the limit is listed in full, and downloads.
    department = client.get(f"/findings/report/department/{world.adult.id}").text
    assert department.count('class="card report-account"') == 2
    assert len(csv_rows(client.get(f"/findings/report/department/{world.adult.id}.csv"))) == 2


def test_report_shows_accepted_risks_as_accepted(client, login_as, world):
    login_as(Role.DIRECTOR)
    until = date.today() + timedelta(days=10)
    client.submit(accept_url("recovery-missing", world.teen.id), {"reason": "Page closing soon", "expires_on": until.isoformat()})
    html = client.get("/findings/report").text
    assert "Accepted risks (1)" in html and "Page closing soon" in html
    teen = next(r for r in csv_rows(client.get("/findings/report.csv")) if r["Account"] == "Teen Zone")
    assert "No recovery contact" in teen["Accepted risks"] and "No recovery contact" not in teen["Findings"]


def test_report_queries_do_not_grow_with_the_accounts(app, client, login_as, world):
    """A fixed number of statements: eager loading and one evaluation, not a query per account."""
    login_as(Role.IT)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def queries(url: str) -> int:
        client.get(url)  # first: what this process keeps (the departments' options) is read
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get(url).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    def add_accounts(batch: str) -> None:
        for n in range(5):
            person = factories.make_person(f"Keeper {batch}{n}", status=PersonStatus.LEAVING if n % 2 else PersonStatus.ACTIVE)
            persona = factories.make_profile(world.facebook, kind=ProfileKind.PERSONA, custodians=[person])
            account = factories.make_account(world.facebook, name=f"Extra {batch}{n}", department=world.youth, steward=person)
            account.owner_profile = persona
            factories.make_admin(account, persona)
            factories.make_admin(account, factories.make_profile(world.facebook, kind=ProfileKind.PERSONAL, holder=person))
            factories.make_recovery(account, f"{batch}{n}@org.example", person=person)
            note = credentials.NoteData(f"Login {batch}{n}", CredentialKind.PASSWORD)
            credentials.create_note(Actor.system(), note, "value", account=account)
        db.session.commit()

    urls = ("/findings/report", "/findings/report.csv")
    add_accounts("a")
    with_five = {url: queries(url) for url in urls}
    add_accounts("b")
    with_ten = {url: queries(url) for url in urls}
    assert with_ten == with_five
    assert all(n < 40 for n in with_ten.values()), with_ten


# --- Where people look: the account and person pages ---------------------------------------


def test_account_page_shows_its_findings(client, world, make_user):
    client.login(make_user(Role.STAFF, person=world.jo))  # the steward
    html = client.get(f"/accounts/{world.teen.id}").text
    section = html[html.index('id="findings"') : html.index('id="control-title"')]
    for finding in evaluate(account_id=world.teen.id):
        assert finding.rule.title in section and finding.detail in section
    assert "Accept the risk" not in section

    as_director = client.application.test_client()
    as_director.login(make_user(Role.DIRECTOR))
    html = as_director.get(f"/accounts/{world.desk.id}").text
    section = html[html.index('id="findings"') : html.index('id="control-title"')]
    assert "Recovery goes to a personal inbox or phone" in section and "Owned by a personal profile" not in section
    assert f"/findings/recovery-personal/account/{world.desk.id}/accept?next=/accounts/{world.desk.id}" in section


def test_person_page_shows_the_findings_concerning_them(client, login_as, world):
    login_as(Role.HR)
    html = client.get(f"/people/{world.dana.id}").text
    section = html[html.index('id="findings"') : html.index("Footprint")]
    assert "Findings concerning Dana Whitfield" in section
    assert "Held by someone leaving or gone" in section and "Owned by a personal profile" in section
    assert f'href="/accounts/{world.teen.id}">Teen Zone</a>' in section
    assert "Reference Desk" not in section

    quiet = factories.make_person("Nobody Special")
    db.session.commit()
    assert "No findings concern Nobody Special" in client.get(f"/people/{quiet.id}").text
