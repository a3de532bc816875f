"""`make bench`: the Scale figures in one bench-results.json (with the machine's description) and
a printed table.

For each scale (``BENCH_SCALES``, default ``S,M,L``: L is the 20,000 people / 200,000 accounts
organisation) it generates the registry with ``app.services.generate`` into a fresh
database (a temporary SQLite file; with ``BENCH_DB=postgres`` the PostgreSQL database in
``BENCH_DATABASE_URL``, whose tables are dropped and recreated, or else a throwaway cluster
started with .ci/pg.sh as the tests do), then requests each key page through the WSGI app as an
admin: warm-up requests first, then ``BENCH_REPEATS`` timed ones, reporting p50, p95 and the SQL
statements per request (``BENCH_PAGES``: only these pages, and the floor). It also times the full
findings recompute (the finding index rebuilt and committed).

The floor is a route added to the benchmark's own app only (production has no such route): it
signs in like any page and renders a 50-row table from memory through the base layout, with no
query of its own. Each page's p50 is also given as a multiple of the floor's.

The other parts (``BENCH_PARTS``, default all of them): on the largest scale, gunicorn with two
workers on loopback (tests/benchmarks/serve.py: requests per second on the accounts list and on the
floor, and each worker's peak memory); CSV import of 50,000 people (csv_import.py); key rotation
against raw AES-GCM (keys.py); starting a case for a person tied to 2,000 records (offboarding.py).
"""

from __future__ import annotations

import gc
import json
import os
import platform as platform_module
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from flask import Flask, current_app, render_template  # noqa: E402

from app import create_app, settle_server_process  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Account,
    AccountAdmin,
    CaseStatus,
    ChecklistItem,
    IndexedFinding,
    OffboardingCase,
    Profile,
    Role,
    User,
)
from app.models.base import utcnow  # noqa: E402
from app.models.finding import FindingIndexState, IndexedFindingPerson  # noqa: E402
from app.security import signed_in  # noqa: E402
from app.services import api_tokens, crypto, findings, generate, search  # noqa: E402
from app.services.context import Actor  # noqa: E402
from app.services.users import hash_password  # noqa: E402
from tests.benchmarks import csv_import, serve  # noqa: E402
from tests.benchmarks import keys as keys_bench  # noqa: E402
from tests.benchmarks import offboarding as offboarding_bench  # noqa: E402
from tests.statements import Statements, counting, growth  # noqa: E402

PASSWORD = "benchmark-password-long"  # noqa: S105 (a throwaway benchmark sign-in)
WARMUP = 3
FLOOR_ROWS = [{"n": n, "name": f"Row {n}", "platform": "Facebook", "status": "active"} for n in range(50)]
FLOOR_TEMPLATE = """{% extends "base.html" %}{% block content %}
<table class="table"><thead><tr><th>#</th><th>Name</th><th>Platform</th><th>Status</th></tr></thead><tbody>
{% for row in rows %}<tr><td>{{ row.n }}</td><td><a href="#{{ row.n }}">{{ row.name }}</a></td>
<td>{{ row.platform }}</td><td>{{ row.status }}</td></tr>{% endfor %}
</tbody></table>{% endblock %}"""


def add_floor_route(app: Flask) -> None:
    """The floor: the app's fixed cost per page (sign-in check, layout), without any registry query."""

    # Compiled once, as Flask keeps a page's template once it has loaded it: the floor must not
    # pay for parsing a template on every request when no page does.
    template = app.jinja_env.from_string(FLOOR_TEMPLATE)

    @signed_in
    def floor() -> str:
        return render_template(template, rows=FLOOR_ROWS)

    app.add_url_rule("/_bench/floor", "bench_floor", floor)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    except (OSError, StopIteration):
        memory_kb = 0
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "system": platform_module.platform(),
        "python": platform_module.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
        "load_average_at_start": os.getloadavg(),
    }


class PageFailed(RuntimeError):
    pass


def _statements(figures: dict[str, Any]) -> Statements:
    """A page's counted statements, as ``measure`` recorded them."""
    return Statements(figures["statements"], Counter(figures.get("statements_by_rule", {})))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(client: Any, engine: sa.Engine, url: str, repeats: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    for _ in range(WARMUP):
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise PageFailed(f"{url} answered {response.status_code}")
    times, statements = [], []
    for _ in range(repeats):
        with counting(engine) as counted:
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise PageFailed(f"{url} answered {response.status_code}")
        statements.append(counted)
    totals = [x.total for x in statements]
    return {
        "url": url,
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(percentile(times, 95) * 1000, 2),
        "statements": max(totals),
        "statements_vary": min(totals) != max(totals),
        # The page's own statements, and each finding rule's (a page evaluates the rules its rows have).
        "statements_own": counted.own,
        "statements_by_rule": dict(sorted(counted.by_rule.items())),
        "bytes": len(response.data),
    }


#: Beside the busiest person and case, whose records grow with the organisation (the most
#: connected person holds about 20 admin roles at S and 257 at L), a person and a case of this
#: size at every scale: their pages show whether the rest of the registry makes one record dearer.
SAME_SIZE = 20


def pick_targets() -> dict[str, Any]:
    """The records the pages are measured on: the busiest ones, so a page's worst case is seen,
    and ones of SAME_SIZE, so a record's page is compared like for like across scales."""
    roles = sa.func.count(AccountAdmin.id).label("n")
    per_person = (
        sa.select(Profile.holder_id, roles)
        .join(AccountAdmin, AccountAdmin.profile_id == Profile.id)
        .where(Profile.holder_id.is_not(None))
        .group_by(Profile.holder_id)
    )
    person_id, most_roles = db.session.execute(per_person.order_by(sa.desc("n"), Profile.holder_id).limit(1)).one()
    person_same, same_roles = db.session.execute(
        per_person.order_by(sa.func.abs(roles - SAME_SIZE), Profile.holder_id).limit(1)
    ).one()
    busiest_account = db.session.scalar(
        sa.select(AccountAdmin.account_id)
        .group_by(AccountAdmin.account_id)
        .order_by(sa.func.count().desc(), AccountAdmin.account_id)
        .limit(1)
    )
    items = sa.func.count(ChecklistItem.id)
    per_case = (
        sa.select(OffboardingCase.id, items)
        .join(ChecklistItem, ChecklistItem.case_id == OffboardingCase.id)
        .where(OffboardingCase.status == CaseStatus.OPEN)
        .group_by(OffboardingCase.id)
    )
    case_id, most_items = db.session.execute(per_case.order_by(items.desc(), OffboardingCase.id).limit(1)).one()
    case_same, same_items = db.session.execute(
        per_case.order_by(sa.func.abs(items - SAME_SIZE), OffboardingCase.id).limit(1)
    ).one()
    accounts = db.session.scalar(sa.select(sa.func.count()).select_from(Account))
    # A search finding about as many accounts at every scale: the start of an account's number
    # in the generated URLs ("example/12" finds /12 and /120 to /129 among 1,000 accounts).
    found = {
        term: db.session.scalar(sa.select(sa.func.count()).select_from(Account).where(search.account_matches(term))) or 0
        for term in (f"example/{'123456'[:digits]}" for digits in range(1, 7))
    }
    search_same = min(found, key=lambda term: (abs(found[term] - SAME_SIZE), len(term)))
    # The platform and the department with most accounts (their pages list the first few).
    platform_id = db.session.scalar(
        sa.select(Account.platform_id)
        .group_by(Account.platform_id)
        .order_by(sa.func.count().desc(), Account.platform_id)
        .limit(1)
    )
    department_id = db.session.scalar(
        sa.select(Account.department_id)
        .where(Account.department_id.is_not(None))
        .group_by(Account.department_id)
        .order_by(sa.func.count().desc(), Account.department_id)
        .limit(1)
    )
    return {
        "platform_id": platform_id,
        "department_id": department_id,
        "person_id": person_id,
        "person_roles": most_roles,
        "person_same": person_same,
        "person_same_roles": same_roles,
        "account_id": busiest_account,
        "case_id": case_id,
        "case_items": most_items,
        "case_same": case_same,
        "case_same_items": same_items,
        "accounts": accounts,
        "search_same": search_same,
        "search_same_matches": found[search_same],
    }


def late_page(accounts: int, per_page: int) -> int:
    """The page 90 % of the way through the accounts list."""
    return max(2, int(accounts * 0.9) // per_page)


def pages(targets: dict[str, Any], per_page: int) -> dict[str, str]:
    late = late_page(targets["accounts"], per_page)
    # As a person gets there: through the Next links, which carry the last account shown.
    after = f"&after={targets['late_after']}" if targets.get("late_after") else ""
    return {
        "floor": "/_bench/floor",
        "dashboard": "/",
        "accounts_list": "/accounts/",
        "accounts_filter": "/accounts/?status=dormant&owner_kind=personal",
        # A filter that fills the first page at every scale (the one above shows 8 rows at S, 25 at L).
        "accounts_filter_full_page": "/accounts/?status=active&owner_kind=personal",
        "accounts_search": "/accounts/?q=harbour",
        "accounts_search_same_size": f"/accounts/?q={targets['search_same']}",
        "accounts_late_page": f"/accounts/?page={late}{after}",
        "account_detail": f"/accounts/{targets['account_id']}",
        "person_footprint": f"/people/{targets['person_id']}",
        "findings": "/findings/",
        "rotation_queue": "/credentials/queue",
        "case_page": f"/offboarding/{targets['case_id']}",
        "person_same_size": f"/people/{targets['person_same']}",
        "case_same_size": f"/offboarding/{targets['case_same']}",
        "api_accounts": "/api/v1/accounts",
        # The API pages by number: a late page skips every row before it.
        "api_accounts_late_page": f"/api/v1/accounts?page={late}",
        # Pages that listed or counted everything on them until the lists were bounded.
        "platforms_list": "/platforms/",
        "platform_detail": f"/platforms/{targets['platform_id']}",
        "departments_list": "/departments/",
        "department_detail": f"/departments/{targets['department_id']}",
        "people_list": "/people/",
        "profiles_list": "/profiles/",
        "audit_log": "/audit/",
        # Sorts and filters that sorted or scanned the whole registry until indexes served them.
        "accounts_by_department": "/accounts/?sort=department",
        "accounts_by_status_desc": "/accounts/?sort=status&dir=desc",
        "accounts_by_last_change": "/accounts/?sort=updated",
        "accounts_by_platform": "/accounts/?sort=platform",
        "accounts_by_name_desc": "/accounts/?sort=name&dir=desc",
        "accounts_owned_by_organisation": "/accounts/?owner_kind=organisation",
        # Sorted, and filtered by what many accounts have: every match was read and sorted.
        "accounts_active_by_platform": "/accounts/?sort=platform&status=active",
        "accounts_personal_by_department": "/accounts/?sort=department&owner_kind=personal",
        "findings_accepted": "/findings/?show=accepted",
        "findings_one_rule": "/findings/?rule=not-reviewed",
        "findings_one_platform": f"/findings/?platform={targets['platform_id']}",
        "rotation_queue_one_platform": f"/credentials/queue?platform={targets['platform_id']}",
        # Past the end is the last page: every open finding before it skipped in the index.
        "findings_last_page": "/findings/?page=1000000",
        "audit_about_accounts": "/audit/?object_type=account",
        "audit_one_action": "/audit/?action=account.update",
        # Who did it: the bench's own few sign-ins, and a name that did nothing (every event was read).
        "audit_by_actor": "/audit/?actor=bench",
        "audit_by_unknown_actor": "/audit/?actor=nobody",
        "cases_list": "/offboarding/",
    }


def prepare_visitor() -> tuple[str, dict[str, Any]]:
    """In an app context over a generated registry: an admin sign-in (PASSWORD) and a
    registry:read API token for the measured requests, and the busiest records to request."""
    admin = User(email="bench@org.example", password_hash=hash_password(PASSWORD), role=Role.ADMIN)
    db.session.add(admin)
    db.session.flush()
    _, token = api_tokens.create_token(Actor.for_user(admin), "bench", ["registry:read"], 30)
    db.session.commit()
    targets = pick_targets()
    per_page = current_app.config["PER_PAGE"]
    # The last account of the page before the late page, in the list's order (name, then id).
    targets["late_after"] = db.session.scalar(
        sa.select(Account.id)
        .order_by(Account.name, Account.id)
        .offset((late_page(targets["accounts"], per_page) - 1) * per_page - 1)
        .limit(1)
    )
    return token, targets


def run_scale(name: str, url: str | None, repeats: int, parts: set[str], only: set[str] | None) -> dict[str, Any]:
    """Generate the scale, then measure its pages (``only``: those names and the floor), the
    findings recompute and, with "serve" in ``parts``, gunicorn on the same database."""
    people, accounts = generate.SCALES[name]
    found = 0
    findings_s = None
    with tempfile.TemporaryDirectory() as tmp:
        database = url or f"sqlite:///{tmp}/bench-{name}.sqlite3"
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=database, WTF_CSRF_ENABLED=False)
        add_floor_route(app)
        with app.app_context():
            db.drop_all()
            db.create_all()
            start = time.perf_counter()
            sizes = generate.generate_organisation(
                Actor.system("make bench"),
                crypto.current_keyring(),
                people=people,
                accounts=accounts,
                seed=1,
                checkpoint=lambda _n: db.session.commit(),
            )
            db.session.commit()
            generation_s = time.perf_counter() - start
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does within a minute of a bulk load on a server: statistics, and
                # a vacuum (inserts trigger one since PostgreSQL 13) that also moves the trigram
                # indexes' pending entries into the index proper (until then every search reads
                # them all: 30 ms instead of 5 for a rare term at L).
                with db.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            click.echo(f"  {name}: generated in {generation_s:.1f} s — {sizes}")
            token, targets = prepare_visitor()
            if "findings" in parts:
                # The full recompute: the finding index rebuilt from every rule and committed
                # (what `flask findings rebuild` and the nightly tick do).
                start = time.perf_counter()
                findings.rebuild(findings.configured_interval())
                db.session.commit()
                findings_s = round(time.perf_counter() - start, 3)
                found = db.session.scalar(sa.select(sa.func.count()).select_from(IndexedFinding))
                download = export_download(found)
            engine = db.engine
            per_page = app.config["PER_PAGE"]
        # As wsgi.py settles a server's process once its app is built. A server's process also
        # holds none of what generating the registry left behind (hundreds of thousands of
        # objects at L): frozen with the rest, its passes (200 ms each) are not the pages' time.
        collector = gc.get_threshold()
        settle_server_process()
        client = app.test_client()
        signed = client.post("/login", data={"email": "bench@org.example", "password": PASSWORD})
        assert signed.status_code == 302, signed.status_code
        results = {}
        # No app context is held here: each request must push its own, so its session (and
        # identity map) ends with the request, as under a real server.
        for page, path in pages(targets, per_page).items():
            if only is not None and page not in only and page != "floor":
                continue
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else None
            api_client = app.test_client() if headers else client
            try:
                results[page] = measure(api_client, engine, path, repeats, headers)
                click.echo(f"    {page:26} p50 {results[page]['p50_ms']:>9.1f} ms  {results[page]['statements']:>4} statements")
            except PageFailed as error:  # report it and go on: one broken page must not hide the others
                click.echo(f"  {page}: {error}", err=True)
                results[page] = {"url": path, "error": str(error)}
        exported = {}
        new_day = None
        if "findings" in parts:
            # The two downloads that grow with the registry: the findings (as large as one file
            # may be) and every account in the import format.
            exported["findings"] = measure_export(client, *download)
            exported["accounts"] = measure_export(client, "/imports/accounts/export.csv", accounts)
            for kind, export in exported.items():
                click.echo(
                    f"    {kind} CSV: {export['rows']:,} rows in {export['seconds']} s ({export['rows_per_second']:,} rows/s)"
                )
            new_day = measure_new_day(app, client)
            click.echo(
                f"    a new day: first dashboard {new_day['first_read_s']} s ({_new_day_work(new_day)}), next "
                f"{new_day['next_read_ms']} ms; kept {new_day['kept']}, indexes {new_day['indexes_present']}"
            )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        served = None
        if "serve" in parts:
            click.echo(f"  {name}: gunicorn, {serve.WORKERS} workers")
            try:
                served = serve.measure(
                    database, "bench@org.example", PASSWORD, {"accounts_list": "/accounts/", "floor": "/_bench/floor"}
                )
            except serve.ServeFailed as error:
                click.echo(f"  gunicorn: {error}", err=True)
                served = {"error": str(error)}
            else:
                served["accounts_list_to_floor"] = round(
                    served["pages"]["accounts_list"]["requests_per_second"] / served["pages"]["floor"]["requests_per_second"], 3
                )
                click.echo(
                    f"    accounts list {served['pages']['accounts_list']['requests_per_second']} req/s, floor "
                    f"{served['pages']['floor']['requests_per_second']} req/s (ratio {served['accounts_list_to_floor']}); "
                    f"worker peak RSS {served['max_worker_peak_rss_mb']} MB"
                )
    gc.unfreeze()  # what this scale left behind may go before the next one is generated
    gc.set_threshold(*collector)
    floor = results["floor"]["p50_ms"]
    for figures in results.values():
        if "p50_ms" in figures:
            figures["x_floor"] = round(figures["p50_ms"] / floor, 2)
    scale = {
        "people": people,
        "accounts": accounts,
        "sizes": sizes.counts,
        "generation_s": round(generation_s, 2),
        "findings_recompute_s": findings_s,
        "findings": found if findings_s is not None else None,
        "findings_export": exported.get("findings"),
        "accounts_export": exported.get("accounts"),
        "new_day": new_day,
        "targets": targets,
        "pages": results,
    }
    if served is not None:
        scale["gunicorn"] = served
    return scale


def measure_new_day(app: Flask, client: Any) -> dict[str, Any]:
    """The first page read on a day the finding index was not made current for (the nightly tick
    has not run): the index as a day old, the dashboard catches it up with what the date changed
    overnight (or rebuilds it, past findings.REBUILD_ABOVE changes) and keeps it, so the next read
    is a page like any other, and the index keeps every one of its own indexes."""
    declared = {ix.name for model in (IndexedFinding, IndexedFindingPerson) for ix in model.__table__.indexes}
    with app.app_context():
        state = db.session.scalar(sa.select(FindingIndexState))
        assert state is not None
        a_day = timedelta(days=1)
        db.session.execute(
            sa.update(FindingIndexState).values(computed_on=state.computed_on - a_day, refreshed_at=state.refreshed_at - a_day)
        )
        db.session.commit()
        changed = findings.dated_changes(db.session.scalar(sa.select(FindingIndexState)), date.today(), utcnow())
        db.session.remove()
    start = time.perf_counter()
    first = client.get("/")
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    after = client.get("/")
    next_ms = (time.perf_counter() - start) * 1000
    if first.status_code != 200 or after.status_code != 200:
        raise PageFailed(f"the dashboard on a new day answered {first.status_code}, then {after.status_code}")
    with app.app_context():
        kept = db.session.scalar(sa.select(FindingIndexState.computed_on)) == date.today()
        inspector = sa.inspect(db.engine)
        present = {ix["name"] for table in ("finding_index", "finding_index_people") for ix in inspector.get_indexes(table)}
        db.session.remove()
    return {
        "caught_up": None if changed is None else {"accounts": len(changed[0]), "notes": len(changed[1])},
        "first_read_s": round(first_s, 2),
        "next_read_ms": round(next_ms, 1),
        "kept": kept,
        "indexes_present": f"{len(declared & present)} of {len(declared)}",
    }


def _new_day_work(day: dict[str, Any]) -> str:
    caught_up = day.get("caught_up")
    if caught_up is None:
        return "rebuilds the index"
    return f"catches the index up: {caught_up['accounts']:,} accounts, {caught_up['notes']:,} notes"


def export_download(found: int) -> tuple[str, int]:
    """The largest findings CSV one file may hold here: every finding, or past the export limit the
    most numerous severity within it (what a director downloads instead). The URL and its rows."""
    if found <= findings.EXPORT_LIMIT:
        return "/findings/export.csv", found
    query = sa.select(IndexedFinding.severity_rank, sa.func.count()).group_by(IndexedFinding.severity_rank)
    by_rank = {rank: n for rank, n in db.session.execute(query).all()}
    n, severity = max(
        ((by_rank.get(s.rank, 0), s) for s in findings.Severity if by_rank.get(s.rank, 0) <= findings.EXPORT_LIMIT),
        key=lambda pair: pair[0],
    )
    return f"/findings/export.csv?severity={severity.value}", n


def measure_export(client: Any, url: str, rows: int) -> dict[str, Any]:
    """One download, streamed to its end: seconds and rows a second."""
    start = time.perf_counter()
    response = client.get(url)
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        raise PageFailed(f"{url} answered {response.status_code}")
    return {"url": url, "rows": rows, "bytes": size, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


def table(results: dict[str, Any]) -> str:
    scales = list(results["scales"])
    header = f"{'page':26}" + "".join(f" {s + ' p50':>9} {s + ' p95':>9} {s + ' SQL':>6} {s + ' ×fl':>7}" for s in scales)
    lines = [header, "-" * len(header)]
    names: list[str] = []
    for s in scales:
        names += [page for page in results["scales"][s]["pages"] if page not in names]
    for page in names:
        row = f"{page:26}"
        for s in scales:
            f = results["scales"][s]["pages"].get(page)
            if f is None or "error" in f:
                row += f" {'not run' if f is None else 'failed':>34}"
                continue
            row += f" {f['p50_ms']:>9.1f} {f['p95_ms']:>9.1f} {f['statements']:>6} {f['x_floor']:>7.1f}"
        lines.append(row)
    lines.append("")
    for s in scales:
        r = results["scales"][s]
        recompute = (
            f"findings recompute {r['findings_recompute_s']} s ({r['findings']:,} findings)"
            if r["findings_recompute_s"] is not None
            else "findings recompute not run"
        )
        lines.append(f"{s}: {r['people']:,} people / {r['accounts']:,} accounts generated in {r['generation_s']} s; {recompute}")
        if "gunicorn" in r and "error" not in r["gunicorn"]:
            g = r["gunicorn"]
            lines.append(
                f"{s}: gunicorn -w {g['workers']}: accounts list {g['pages']['accounts_list']['requests_per_second']} req/s, "
                f"floor {g['pages']['floor']['requests_per_second']} req/s, ratio {g['accounts_list_to_floor']}; "
                f"worker peak RSS {g['max_worker_peak_rss_mb']} MB"
            )
    return "\n".join(lines)


@contextmanager
def postgres_server() -> Any:
    """BENCH_DATABASE_URL, or a throwaway PostgreSQL cluster (.ci/pg.sh, as the tests use) for this run."""
    if url := os.environ.get("BENCH_DATABASE_URL"):
        yield url
        return
    data = Path(tempfile.mkdtemp(prefix="handover-bench-pg-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        url = subprocess.run(
            [str(ROOT / ".ci" / "pg.sh"), "start", str(data), str(port)], check=True, capture_output=True, text=True
        ).stdout.strip()
    except subprocess.CalledProcessError as error:
        raise click.ClickException(
            f"BENCH_DB=postgres: no BENCH_DATABASE_URL, and a throwaway cluster did not start ({error.stderr.strip()})."
        ) from None
    try:
        yield url
    finally:
        subprocess.run([str(ROOT / ".ci" / "pg.sh"), "stop", str(data)], check=False)


PARTS = ("pages", "findings", "serve", "csv", "keys", "offboarding")


@click.command()
@click.option("--scales", default=lambda: os.environ.get("BENCH_SCALES", "S,M,L"), show_default="BENCH_SCALES or S,M,L")
@click.option("--repeats", type=int, default=lambda: int(os.environ.get("BENCH_REPEATS", "20")), show_default="20")
@click.option(
    "--parts",
    default=lambda: os.environ.get("BENCH_PARTS", ",".join(PARTS)),
    show_default="BENCH_PARTS or all",
    help="pages (the key pages at each scale), findings (recompute at each scale), serve (gunicorn on the largest "
    "scale), csv (import of 50,000 people), keys (rotation against raw AES-GCM), offboarding (a 2,000-record case).",
)
@click.option("--pages", "only", default=lambda: os.environ.get("BENCH_PAGES", ""), help="Only these pages (and the floor).")
@click.option("--output", default=str(ROOT / "bench-results.json"), show_default=True)
def main(scales: str, repeats: int, parts: str, only: str, output: str) -> None:
    backend = os.environ.get("BENCH_DB", "sqlite")
    chosen = {p.strip() for p in parts.split(",") if p.strip()}
    if unknown := chosen - set(PARTS):
        raise click.ClickException(f"Unknown part(s) {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}.")
    wanted = {p.strip() for p in only.split(",") if p.strip()} or None
    names = [s.strip().upper() for s in scales.split(",") if s.strip()]
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": backend,
        "machine": machine(),
        "repeats": repeats,
        "warmup": WARMUP,
        "parts": sorted(chosen),
        "scales": {},
    }
    if chosen & {"pages", "findings", "serve"}:
        with postgres_server() if backend == "postgres" else nullcontext(None) as url:
            for name in names:
                click.echo(f"Scale {name} ({backend})")
                serving = chosen - ({"serve"} if name != names[-1] else set())
                results["scales"][name] = run_scale(name, url, repeats, serving, wanted)
        first = results["scales"][names[0]]["pages"]
        # Identical: the page's own statements, and each finding rule's wherever it runs at two scales.
        results["statements_identical_across_scales"] = {
            page: not any(
                growth(_statements(first[page]), _statements(results["scales"][n]["pages"][page]))
                for n in names
                if "statements" in results["scales"][n]["pages"].get(page, {})
            )
            for page in first
            if "statements" in first[page]
        }
        if len(names) > 1:
            last = results["scales"][names[-1]]["pages"]
            results[f"p50_ratio_{names[-1]}_over_{names[0]}"] = {
                page: round(last[page]["p50_ms"] / max(first[page]["p50_ms"], 0.01), 2)
                for page in first
                if "p50_ms" in first[page] and "p50_ms" in last.get(page, {})
            }
        click.echo(table(results))
    if "csv" in chosen:
        click.echo("CSV import (SQLite)")
        results["csv_import"] = csv_import.run()
    if "offboarding" in chosen:
        click.echo("Offboarding (SQLite)")
        results["offboarding"] = offboarding_bench.run()
    if "keys" in chosen:
        click.echo("Key rotation (SQLite)")
        results["keys"] = keys_bench.run()
    if not results["scales"]:
        del results["scales"]  # a run of other parts keeps the scales of the previous run in the file
    previous = json.loads(Path(output).read_text()) if Path(output).exists() else {}
    previous.update(results)
    previous["summary"] = summary(previous)
    for line in previous["summary"]:
        click.echo(f"  {line}")
    Path(output).write_text(json.dumps(previous, indent=2) + "\n")
    click.echo(f"Wrote {output}")


def summary(results: dict[str, Any]) -> list[str]:
    """The figures the Scale targets name, one line each."""
    lines = []
    scales = list(results.get("scales", {}))
    if len(scales) > 1:
        ratios = results.get(f"p50_ratio_{scales[-1]}_over_{scales[0]}", {})
        lines.append(f"p50 {scales[-1]}/{scales[0]}: " + ", ".join(f"{page} {r}" for page, r in ratios.items()))
    for name, scale in results.get("scales", {}).items():
        if "gunicorn" in scale and "error" not in scale["gunicorn"]:
            g = scale["gunicorn"]
            lines.append(
                f"gunicorn at {name}: accounts list / floor = {g['accounts_list_to_floor']}; peak worker RSS {g['max_worker_peak_rss_mb']} MB"
            )
    for name, scale in results.get("scales", {}).items():
        for kind in ("findings", "accounts"):
            if export := scale.get(f"{kind}_export"):
                lines.append(
                    f"{kind} CSV at {name}: {export['rows']:,} rows in {export['seconds']} s ({export['rows_per_second']:,} rows/s)"
                )
        if day := scale.get("new_day"):
            lines.append(
                f"a new day at {name}: first dashboard {day['first_read_s']} s ({_new_day_work(day)}), next {day['next_read_ms']} ms, "
                f"index kept {day['kept']}, its indexes {day['indexes_present']}"
            )
    if "csv_import" in results:
        lines.append(
            f"CSV import of {results['csv_import']['people']:,} people: {results['csv_import']['add']['rows_per_second']:,} rows/s"
        )
    if "offboarding" in results:
        lines.append(f"case for a person tied to 2,000 records: {results['offboarding']['median_ms']} ms")
    if "keys" in results:
        lines.append(f"key rotation / raw AES-GCM: {results['keys']['ratio']}")
    return lines


if __name__ == "__main__":
    main()
