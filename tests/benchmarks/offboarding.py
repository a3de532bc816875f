"""`make bench`: the time to generate an offboarding case for a person tied to 2,000 records,
written to bench-results/offboarding.json.

The person's personal profile owns 500 accounts and is an admin of 500 others; they are the
recovery contact of 500 more and steward 500 more (2,000 records, 2,000 items). Each run starts
the case (start_case + generate_items) in a temporary SQLite database, times it, counts the SQL
statements it issued, then rolls back; the median of RUNS runs is reported.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    Account,
    AccountAdmin,
    AccountStatus,
    Department,
    Person,
    Platform,
    Profile,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
)
from app.services import offboarding  # noqa: E402
from app.services.context import Actor  # noqa: E402

PER_KIND = 500
RUNS = 5


def seed() -> int:
    """The leaver and their 2,000 ties; returns the leaver's id."""
    head = Person(name="Hana Head", work_email="head@org.example")
    department = Department(name="Library", head=head)
    leaver = Person(name="Lee Leaver", work_email="lee@org.example", department=department, personal_email="lee@home.example")
    colleague = Person(name="Cal Colleague", work_email="cal@org.example", department=department)
    platform = Platform(name="Facebook", slug="facebook", role_names=["admin", "editor"])
    personal = Profile(platform=platform, kind=ProfileKind.PERSONAL, holder=leaver, name="Lee (personal)")
    other = Profile(platform=platform, kind=ProfileKind.ORGANISATION, name="Library Portfolio")
    db.session.add_all([head, department, leaver, colleague, platform, personal, other])
    db.session.flush()

    def accounts(prefix: str, **kw: Any) -> list[int]:
        rows = [
            {
                "platform_id": platform.id,
                "name": f"{prefix} {n:04d}",
                "status": AccountStatus.ACTIVE,
                "department_id": department.id,
                "steward_id": kw.get("steward_id", colleague.id),
                "owner_profile_id": kw.get("owner_profile_id", other.id),
            }
            for n in range(PER_KIND)
        ]
        db.session.execute(sa.insert(Account), rows)
        return list(db.session.scalars(sa.select(Account.id).where(Account.name.like(f"{prefix} %"))))

    accounts("Owned", owner_profile_id=personal.id)
    admin_of = accounts("Administered")
    db.session.execute(
        sa.insert(AccountAdmin),
        [{"account_id": a, "profile_id": personal.id, "role_name": "admin"} for a in admin_of]
        + [{"account_id": a, "profile_id": other.id, "role_name": "admin"} for a in admin_of[::2]],  # half: last admin
    )
    recovery_on = accounts("Recovery")
    db.session.execute(
        sa.insert(RecoveryContact),
        [{"account_id": a, "kind": RecoveryKind.EMAIL, "value": "lee@home.example", "person_id": leaver.id} for a in recovery_on],
    )
    accounts("Stewarded", steward_id=leaver.id)
    db.session.commit()
    return leaver.id


def run_once(leaver_id: int) -> tuple[float, int, int]:
    """One case start: seconds, SQL statements, items generated (then rolled back)."""
    db.session.expire_all()
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        start = time.perf_counter()
        person = db.session.get(Person, leaver_id)
        case = offboarding.start_case(Actor(user_id=None, name="Hal HR", role=Role.HR), person, date.today() + timedelta(days=14))
        items = len(case.items)
        elapsed = time.perf_counter() - start
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    db.session.rollback()
    return elapsed, statements, items


def run() -> dict[str, Any]:
    """RUNS case starts in a temporary SQLite database; figures as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/offboarding.sqlite3")
        with app.app_context():
            db.create_all()
            leaver_id = seed()
            runs = [run_once(leaver_id) for _ in range(RUNS)]
            db.session.remove()
            db.engine.dispose()
    seconds = [r[0] for r in runs]
    results = {
        "records": PER_KIND * 4,
        "ties": {"owner": PER_KIND, "admin": PER_KIND, "recovery_contact": PER_KIND, "steward": PER_KIND},
        "items_generated": runs[0][2],
        "runs": RUNS,
        "runs_ms": [round(s * 1000, 1) for s in seconds],
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "sql_statements": runs[0][1],
        "sql_statements_each_run": [r[1] for r in runs],
        "what": "offboarding.start_case (+ generate_items) for a person tied to 2,000 records, temporary SQLite file; "
        "statement count includes the audit events and the multi-row insert of the items",
    }
    click.echo(
        f"  start a case, {results['records']:,} records -> {results['items_generated']:,} items: "
        f"median {results['median_ms']} ms over {RUNS} runs, {results['sql_statements']} SQL statements"
    )
    return results


@click.command()
@click.option("--output", default=str(ROOT / "bench-results" / "offboarding.json"), show_default=True)
def main(output: str) -> None:
    results = run()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=2) + "\n")
    click.echo(f"Wrote {output}")


if __name__ == "__main__":
    main()
