"""`make bench`: CSV import of 50,000 people, rows per second, written to bench-results.json.

A staff list as an HR system exports it: 50,000 rows with hr_id, name, work email, job title,
department, manager (by hr_id, in the same file, five levels deep), status with its dates, and a
personal email for some. In a temporary SQLite database with the departments already there,
it is imported as `flask import people` does (``csv_io.read_table`` then ``csv_io.run_import``
with ``apply``, then a commit), three times:

- ``add``: into a registry with nobody yet (every row adds a person);
- ``unchanged``: the same file again (every row compared, nothing written);
- ``update``: the file with one row in ten changed (a new job title, every fifth of those a new
  department too).

Each is timed from the bytes to the commit (reading, checking, preview digest, writing, audit
events): rows per second. The preview (``apply`` false) is timed too. Afterwards the registry
must hold exactly the file's people with its managers, and ``flask audit verify`` must pass.
"""

from __future__ import annotations

import csv
import io
import json
import random
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
from app.models import Department, Person, Role  # noqa: E402
from app.services import audit, csv_io  # noqa: E402
from app.services.context import Actor  # noqa: E402

PEOPLE = 50_000
DEPARTMENTS = [f"Department {n:02d}" for n in range(1, 31)]
#: People per level of management, top down (the rest are at the last level).
LEVELS = (1, 12, 150, 1_800)
LIMITS = csv_io.Limits(max_bytes=64 * 1024 * 1024, max_rows=PEOPLE)
HEADER = [
    "hr_id",
    "name",
    "work_email",
    "job_title",
    "department",
    "manager_hr_id",
    "status",
    "last_day",
    "left_on",
    "personal_email",
]
TITLES = ["Librarian", "Outreach librarian", "Archivist", "Technician", "Coordinator", "Officer", "Assistant", "Manager"]


def people_rows(n: int, seed: int = 12) -> list[list[str]]:
    rng = random.Random(seed)
    today = date.today()
    bounds = [0]
    for size in LEVELS:
        bounds.append(min(n, bounds[-1] + size))
    bounds.append(n)
    rows: list[list[str]] = []
    for level in range(len(bounds) - 1):
        for i in range(bounds[level], bounds[level + 1]):
            manager = f"HR-{rng.randrange(bounds[level - 1], bounds[level]) + 1:06d}" if level else ""
            status, last_day, left_on = "active", "", ""
            pick = rng.random()
            if pick < 0.02:
                status, last_day = "leaving", (today + timedelta(days=rng.randint(5, 60))).isoformat()
            elif pick < 0.08:
                status, left_on = "departed", (today - timedelta(days=rng.randint(1, 400))).isoformat()
            rows.append(
                [
                    f"HR-{i + 1:06d}",
                    f"Person {i + 1:06d}",
                    f"person{i + 1:06d}@org.example",
                    rng.choice(TITLES),
                    rng.choice(DEPARTMENTS),
                    manager,
                    status,
                    last_day,
                    left_on,
                    f"p{i + 1}@home.example" if rng.random() < 0.3 else "",
                ]
            )
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def changed(rows: list[list[str]], seed: int = 13) -> list[list[str]]:
    rng = random.Random(seed)
    out = [list(r) for r in rows]
    for index, row in enumerate(out):
        if index % 10 == 3:
            row[3] = rng.choice([t for t in TITLES if t != row[3]]) + " (new)"
            if index % 50 == 3:
                row[4] = rng.choice([d for d in DEPARTMENTS if d != row[4]])
    return out


def timed_import(actor: Actor, data: bytes, name: str, apply: bool) -> tuple[float, csv_io.ImportReport]:
    start = time.perf_counter()
    table = csv_io.read_table("people", data, LIMITS, name=name)
    report = csv_io.run_import(actor, table, apply=apply)
    if apply:
        db.session.commit()
    else:
        db.session.rollback()
    return time.perf_counter() - start, report


def run(people: int = PEOPLE) -> dict[str, Any]:
    """The three imports in a temporary SQLite database; figures as a dict."""
    actor = Actor(user_id=None, name="Hal HR", role=Role.HR)
    rows = people_rows(people)
    first, second = to_csv(rows), to_csv(changed(rows))
    results: dict[str, Any] = {"people": people, "file_bytes": len(first)}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/csv.sqlite3")
        with app.app_context():
            db.create_all()
            db.session.add_all([Department(name=name) for name in DEPARTMENTS])
            db.session.commit()
            steps = [("preview", first, False), ("add", first, True), ("unchanged", first, True), ("update", second, True)]
            for step, data, apply in steps:
                db.session.remove()  # each import starts with an empty session, as one `flask import people` does
                seconds, report = timed_import(actor, data, f"{step}.csv", apply)
                if not report.ok or (apply and not report.applied):
                    raise AssertionError(f"{step}: the import did not go in: {report.summary()} {report.problems[:3]}")
                results[step] = {
                    "seconds": round(seconds, 3),
                    "rows_per_second": round(people / seconds),
                    "added": report.added,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                }
                click.echo(f"  csv import {step:9} {people:,} rows in {seconds:6.2f} s = {people / seconds:>8,.0f} rows/s")
            expected_updates = sum(1 for i in range(people) if i % 10 == 3)
            if (results["add"]["added"], results["unchanged"]["unchanged"], results["update"]["updated"]) != (
                people,
                people,
                expected_updates,
            ):
                raise AssertionError(f"unexpected counts: {results}")
            managed = db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.manager_id.is_not(None)))
            if managed != people - 1 or db.session.scalar(sa.select(sa.func.count()).select_from(Person)) != people:
                raise AssertionError(f"the registry does not hold the file's people and managers ({managed} managed)")
            checked, broken = audit.verify_chain()
            if broken is not None:
                raise AssertionError(f"the audit chain breaks at event {broken}")
            results["audit_events_verified"] = checked
            db.session.remove()
            db.engine.dispose()
    results["what"] = (
        "csv_io.read_table + run_import(apply=True) + commit on a temporary SQLite file (departments present); "
        "add: empty registry; unchanged: the same file again; update: one row in ten changed"
    )
    return results


@click.command()
@click.option("--people", type=int, default=PEOPLE, show_default=True)
@click.option("--output", default=str(ROOT / "bench-results" / "csv_import.json"), show_default=True)
def main(people: int, output: str) -> None:
    results = run(people)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=2) + "\n")
    click.echo(f"Wrote {output}")


if __name__ == "__main__":
    main()
