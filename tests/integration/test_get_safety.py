"""Reading never writes: a crawl of every GET route as every role leaves the database identical.

Signing in writes (the sign-in is recorded), so every role signs in before the fingerprint is
taken; then every GET row of the access matrix is requested as every role and as an anonymous
visitor, and the machine doors are read with a token. The fingerprint is the whole database:
SQLite's ``iterdump`` (every table, ``sqlite_sequence`` included), or on PostgreSQL every table's
rows in a fixed order plus every sequence's position, so even an insert that was flushed and
rolled back shows. ASVS 5.0 3.5.3 (no sensitive action on GET); SR-16.

Before the fingerprint the registry is changed behind the services' back, so that anything
derived and stored (a cache, a stored evaluation, a daily snapshot) is stale: a page that
refreshed such state when read would write during the crawl and fail here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Account, Role, Scope
from app.services import api_tokens
from app.services.context import Actor
from tests import factories
from tests.conftest import Client
from tests.integration.test_access_matrix import ANONYMOUS, MATRIX, ROLES, Row, World, build_url, sharing_session

#: Columns a read may change, each with the reason. Nothing else may differ.
ALLOWED_WRITES: dict[tuple[str, str], str] = {
    # A machine token's last use (to the minute, and its address): how an admin tells a live
    # integration from a dead one before revoking it. Bookkeeping of the door, not of the registry.
    ("api_tokens", "last_used_at"): "a token's last use, recorded at most once a minute",
    ("api_tokens", "last_used_addr"): "the address of a token's last use",
}
#: Session bookkeeping (idle and absolute limits: ``seen_at``, ``auth_at``) lives in the signed
#: cookie, not in the database, so it needs no entry above.

#: GET requests beyond the matrix's rows: the variants of pages that take options.
EXTRA_GETS: tuple[tuple[str, Any], ...] = (
    ("reviews.detail", lambda w: {"campaign_id": w.campaign.id, "print": "1"}),
    ("accounts.index", lambda w: {"q": "a", "sort": "name", "page": "2"}),
    ("findings.index", lambda w: {"severity": "critical", "account": w.account.id}),
    ("audit.index", lambda w: {"q": "account"}),
    ("people.index", lambda w: {"q": "a", "status": "active"}),
    ("offboarding.my_tasks", lambda w: {"show": "all"}),
)

#: The machine doors' reads, with a token that has every scope.
TOKEN_GETS: tuple[tuple[str, Any], ...] = (
    ("api.list_people", lambda w: {}),
    ("api.get_person", lambda w: {"person_id": w.person.id}),
    ("api.list_departments", lambda w: {}),
    ("api.list_profiles", lambda w: {}),
    ("api.get_profile", lambda w: {"profile_id": w.profile.id}),
    ("api.list_accounts", lambda w: {}),
    ("api.get_account", lambda w: {"account_id": w.account.id}),
    ("api.list_findings", lambda w: {}),
    ("api.list_cases", lambda w: {}),
    ("api.get_case", lambda w: {"case_id": w.case.id}),
    ("api.openapi", lambda w: {}),
    ("scim.service_provider_config", lambda w: {}),
    ("scim.resource_types", lambda w: {}),
    ("scim.schema_list", lambda w: {}),
    ("scim.users", lambda w: {}),
    ("scim.user", lambda w: {"user_id": w.person.id}),
)


def fingerprint() -> list[str]:
    """Everything stored, as text: every row of every table (allowed columns blanked), the schema
    and the counters (SQLite's ``sqlite_sequence``, PostgreSQL's sequences). Equal fingerprints
    mean an identical database."""
    db.session.commit()
    lines: list[str] = []
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        postgres = conn.dialect.name == "postgresql"
        for table in sorted(inspector.get_table_names()):
            columns = [c["name"] for c in inspector.get_columns(table)]
            order = ", ".join(f'"{c}"::text' if postgres else str(n) for n, c in enumerate(columns, 1))
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY {order}')):  # noqa: S608  (names from the catalogue)
                record = dict(zip(columns, row, strict=True))
                for (masked_table, column), _ in ALLOWED_WRITES.items():
                    if masked_table == table:
                        record[column] = "<may change>"
                lines.append(f"{table}: {record!r}")
        if postgres:
            for (sequence,) in conn.execute(sa.text("SELECT sequencename FROM pg_sequences ORDER BY sequencename")):
                value = conn.execute(sa.text(f'SELECT last_value, is_called FROM "{sequence}"')).one()  # noqa: S608
                lines.append(f"sequence {sequence}: {tuple(value)}")
        else:
            lines += [
                f"schema: {row}" for row in conn.execute(sa.text("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
            ]
            if inspector.has_table("sqlite_sequence"):
                lines += [
                    f"sequence: {tuple(row)}"
                    for row in conn.execute(sa.text("SELECT name, seq FROM sqlite_sequence ORDER BY name"))
                ]
    return lines


def describe(before: list[str], after: list[str]) -> str:
    """The lines that differ; for a changed row, only the columns that changed."""
    gone, new = [x for x in before if x not in set(after)], [x for x in after if x not in set(before)]
    out = []
    for line in new:
        table, _, text = line.partition(": ")
        twin = next((old for old in gone if old.startswith(f"{table}: {{'id': {text.split(',')[0].split(': ')[-1]},")), None)
        if twin is not None and text.startswith("{"):
            old_row, new_row = ast.literal_eval(twin.partition(": ")[2]), ast.literal_eval(text)
            columns = {k: (old_row.get(k), v) for k, v in new_row.items() if old_row.get(k) != v}
            out.append(f"  changed {table} id {new_row.get('id')}: {columns}")
            gone.remove(twin)
        else:
            out.append(f"  added {line[:300]}")
    out += [f"  removed {line[:300]}" for line in gone]
    return "\n".join(out)


def get_rows() -> Iterator[Row]:
    yield from (row for row in MATRIX if row.method == "GET")


def make_stale() -> None:
    """Change the registry without going through the services: derived state is now out of date."""
    platform = factories.make_platform(role_names=["owner"])
    factories.make_account(platform, name="Added behind the services' back")  # no admin, no steward: findings
    db.session.execute(sa.update(Account).values(last_reviewed_at=None))
    db.session.commit()


def test_every_get_route_has_a_get_row(app: Flask) -> None:
    """The crawl reaches every endpoint that answers GET (a new page gets crawled once it has a matrix row)."""
    crawled = {row.endpoint for row in get_rows()} | {endpoint for endpoint, _ in TOKEN_GETS}
    answers_get = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}
    token_only = {e for e in answers_get if e.startswith(("api.", "scim.")) and e not in crawled}
    # Reads by an id the test world has no record for (an HR id, a resource type) are still crawled as rows above.
    missing = sorted(answers_get - crawled - token_only)
    assert not missing, f"GET endpoints the crawl does not reach: {', '.join(missing)}"


def test_a_crawl_of_every_get_route_as_every_role_writes_nothing(app: Flask, make_user: Any) -> None:
    app.test_client_class = Client
    visitors: list[tuple[str, Client, World]] = []
    for who in (*ROLES, ANONYMOUS):
        user = None if who == ANONYMOUS else make_user(Role(who))
        world = World(user.person if user else None)
        client = app.test_client()
        if user is not None:
            client.login(user)  # sign-in writes: before the fingerprint
        visitors.append((who, client, world))
    _, token = api_tokens.create_token(Actor.system(), "Crawler", [s.value for s in Scope], 1)
    db.session.commit()
    make_stale()

    # Every URL is built first: reading the records' ids after the fingerprint could load them again.
    requests = [
        (f"as {who}", sharing_session(client), build_url(app, Row(endpoint, frozenset(), values), world), {})
        for who, client, world in visitors
        for endpoint, values in [(row.endpoint, row.values) for row in get_rows()] + list(EXTRA_GETS)
    ]
    bearer = {"Authorization": f"Bearer {token}"}
    requests += [
        ("with a token", app.test_client(), build_url(app, Row(endpoint, frozenset(), values), visitors[0][2]), bearer)
        for endpoint, values in TOKEN_GETS
    ]

    before = fingerprint()
    answered: dict[int, int] = {}
    failures = []
    for who, client, url, headers in requests:
        with client.get(url, headers=headers) as response:
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            if response.status_code >= 500 or (headers and response.status_code != 200):
                failures.append(f"{who}: GET {url} answered {response.status_code}")
    after = fingerprint()

    total = sum(answered.values())
    print(f"\n{total} GET requests, by status: {dict(sorted(answered.items()))}; {len(before)} stored lines compared")
    assert not failures, "\n".join(failures)
    assert answered.get(200, 0) > total // 3  # the crawl saw pages, not only refusals
    assert before == after, "Stored data changed while only reading:\n" + describe(before, after)
