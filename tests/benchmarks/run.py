"""`make bench`: registry page cost at realistic scale, written to bench-results/registry.json.

For each scale it generates an organisation (people, profiles, accounts with admins and
recovery contacts), then times the main pages through the WSGI app as an admin and counts the
SQL statements each issues. The figures to watch are the ratios between scales: statement
counts should not grow with the registry, and time should grow far slower than the data.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
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
    Department,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
    User,
)
from app.services.users import hash_password  # noqa: E402

SCALES = (100, 2000)
REPEATS = 15
PASSWORD = "benchmark-password-long"


def generate(n_accounts: int) -> dict[str, int]:
    rng = random.Random(n_accounts)
    departments = [Department(name=f"Department {i}") for i in range(max(3, n_accounts // 100))]
    db.session.add_all(departments)
    platforms = [Platform(name=f"Platform {i}", slug=f"p{i}", role_names=["owner", "admin", "editor"]) for i in range(15)]
    db.session.add_all(platforms)
    people = []
    for i in range(max(25, n_accounts // 2)):
        status = PersonStatus.ACTIVE if rng.random() > 0.1 else PersonStatus.DEPARTED
        people.append(
            Person(
                name=f"Person {i}",
                work_email=f"p{i}@org.example",
                personal_email=f"p{i}@mail.example",
                department=rng.choice(departments),
                status=status,
                left_on=None if status is PersonStatus.ACTIVE else date(2024, 1, 1),
            )
        )
    db.session.add_all(people)
    db.session.flush()
    profiles = []
    for person in people:
        profiles.append(
            Profile(platform=rng.choice(platforms), kind=ProfileKind.PERSONAL, name=f"{person.name} personal", holder=person)
        )
    for i in range(len(people) // 4):
        profiles.append(Profile(platform=rng.choice(platforms), kind=ProfileKind.ORGANISATION, name=f"Org profile {i}"))
    db.session.add_all(profiles)
    db.session.flush()
    by_platform: dict[int, list[Profile]] = {}
    for p in profiles:
        by_platform.setdefault(p.platform_id, []).append(p)
    for i in range(n_accounts):
        platform = rng.choice(platforms)
        candidates = by_platform.get(platform.id) or profiles
        account = Account(
            platform=platform,
            name=f"Account {i}",
            handle=f"@account{i}",
            department=rng.choice(departments),
            owner_profile=rng.choice(candidates),
            steward=rng.choice(people),
        )
        db.session.add(account)
        for profile in rng.sample(candidates, k=min(2, len(candidates))):
            db.session.add(AccountAdmin(account=account, profile=profile, role_name="admin"))
        owner = rng.choice(people)
        db.session.add(RecoveryContact(account=account, kind=RecoveryKind.EMAIL, value=owner.personal_email, person=owner))
    admin = User(email="admin@org.example", password_hash=hash_password(PASSWORD), role=Role.ADMIN, person=people[0])
    db.session.add(admin)
    db.session.commit()
    return {"accounts": n_accounts, "people": len(people), "profiles": len(profiles)}


def measure(client: Any, engine: sa.Engine, url: str) -> dict[str, float]:
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    times = []
    for _ in range(REPEATS):
        statements = 0
        sa.event.listen(engine, "before_cursor_execute", count)
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        sa.event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (url, response.status_code)
    return {"median_ms": round(statistics.median(times) * 1000, 2), "statements": statements}


@click.command()
@click.option("--output", default=str(ROOT / "bench-results" / "registry.json"), show_default=True)
def main(output: str) -> None:
    results: dict[str, Any] = {"scales": {}}
    with click.progressbar(SCALES, label="Benchmarking registry pages") as scales:
        for n in scales:
            with tempfile.TemporaryDirectory() as tmp:
                app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.sqlite3", WTF_CSRF_ENABLED=False)
                with app.app_context():
                    db.create_all()
                    sizes = generate(n)
                    person_id = db.session.scalar(sa.select(Person.id).where(Person.name == "Person 1"))
                    engine = db.engine
                client = app.test_client()
                client.post("/login", data={"email": "admin@org.example", "password": PASSWORD})
                pages = {
                    "accounts_list": "/accounts/",
                    "accounts_list_filtered": "/accounts/?q=account1&sort=platform&dir=desc",
                    "accounts_list_last_page": "/accounts/?page=9999",
                    "account_detail": "/accounts/1",
                    "person_footprint": f"/people/{person_id}",
                    "people_list": "/people/",
                    "search": "/search?q=account",
                    "home": "/",
                }
                with app.app_context():
                    results["scales"][str(n)] = {
                        "sizes": sizes,
                        "pages": {k: measure(client, engine, v) for k, v in pages.items()},
                    }
    small, large = (results["scales"][str(s)]["pages"] for s in SCALES)
    results["ratios"] = {
        page: {
            "data_ratio": SCALES[1] / SCALES[0],
            "time_ratio": round(large[page]["median_ms"] / max(small[page]["median_ms"], 0.01), 2),
            "statements_small": small[page]["statements"],
            "statements_large": large[page]["statements"],
        }
        for page in small
    }
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=2))
    click.echo(f"Wrote {output}")
    for page, ratio in results["ratios"].items():
        click.echo(
            f"  {page:26} {SCALES[0]}→{SCALES[1]} accounts: time ×{ratio['time_ratio']:<6} "
            f"statements {ratio['statements_small']}→{ratio['statements_large']}"
        )


if __name__ == "__main__":
    main()
