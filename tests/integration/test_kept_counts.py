"""Totals of accounts and people: the database keeps them by status (triggers)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Account, AccountStatus, Person, PersonStatus, Role
from app.models.kept_count import KeptCount
from app.services import kept_counts
from tests import factories

# Both write rows behind the ORM (one INSERT of many rows, as the generator does), which the finding
# index does not see; what is checked here is the counts.
pytestmark = pytest.mark.finding_index_unchecked


def kept(table: str, status: str | None = None) -> int:
    where = [KeptCount.status == status] if status else []
    return db.session.scalar(sa.select(kept_counts.total(table, *where)))


def test_the_database_keeps_the_totals_through_every_kind_of_write(app: Flask) -> None:
    platform = factories.make_platform("Facebook")
    accounts = [factories.make_account(platform) for _ in range(3)]
    factories.make_person("Dana Whitfield")
    db.session.commit()
    assert (kept("accounts"), kept("accounts", "active"), kept("people")) == (3, 3, 1)
    assert type(kept("accounts")) is int  # not a Decimal (PostgreSQL sums bigints as numeric)

    # Many rows in one statement (as the generator and the CSV import write them).
    db.session.execute(
        sa.insert(Account),
        [{"platform_id": platform.id, "name": f"Bulk {n}", "status": AccountStatus.DORMANT} for n in range(50)],
    )
    # A status moved; another column changed with no status change.
    accounts[0].status = AccountStatus.RETIRED
    accounts[1].name = "Renamed"
    db.session.commit()
    assert (kept("accounts"), kept("accounts", "dormant"), kept("accounts", "retired"), kept("accounts", "active")) == (
        53,
        50,
        1,
        2,
    )

    # Deleted one by one and in bulk.
    db.session.delete(accounts[2])
    db.session.execute(sa.delete(Account).where(Account.name.like("Bulk 1%")))
    db.session.commit()
    assert kept("accounts") == 52 - 11
    db.session.execute(sa.update(Person).values(status=PersonStatus.LEAVING))
    db.session.commit()
    assert (kept("people", "leaving"), kept("people", "active")) == (1, 0)

    # Folded into one row per table and status, the totals unchanged.
    rows = kept_counts.compact()
    db.session.commit()
    assert rows == 4  # accounts active, dormant, retired; people leaving
    assert (kept("accounts"), kept("accounts", "dormant"), kept("people", "leaving")) == (41, 39, 1)
    # A department deleted: its accounts' department is cleared (an update that moves no status).
    department = factories.make_department("Lending")
    accounts[1].department = department
    db.session.commit()
    db.session.delete(department)
    db.session.commit()
    assert kept("accounts") == db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 41


def test_the_accounts_list_the_api_and_the_landing_page_show_the_totals(client, login_as, app: Flask) -> None:
    login_as(Role.ADMIN)
    facebook = factories.make_platform("Facebook")
    for n in range(27):
        factories.make_account(facebook, name=f"Page {n:02}", status=AccountStatus.RETIRED if n < 2 else AccountStatus.ACTIVE)
    factories.make_person("Gone", status=PersonStatus.DEPARTED)
    factories.make_person("Going", status=PersonStatus.LEAVING)
    db.session.commit()

    assert "Showing 1–25 of 27" in client.get("/accounts/").text
    assert "Showing 26–27 of 27" in client.get("/accounts/?page=2").text
    home = client.get("/").text
    assert re.search(r'stat__value">25</span> <span class="stat__label">accounts in use', home) or re.search(
        r"of 25</span>", home
    ), "accounts in use: all but the two retired"
    # Rows written behind the ORM count too (one statement, many rows).
    db.session.execute(sa.insert(Account), [{"platform_id": facebook.id, "name": f"Bulk {n}"} for n in range(10)])
    db.session.commit()
    assert "of 37" in client.get("/accounts/").text


def test_the_nightly_tick_folds_the_day_s_rows(app: Flask) -> None:
    for n in range(3):
        factories.make_account(name=f"Page {n}")
        db.session.commit()  # three statements, three rows on PostgreSQL
    result = app.test_cli_runner().invoke(args=["handover", "tick"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(KeptCount).where(KeptCount.table_name == "accounts"))
    assert rows == 1
    assert kept("accounts") == 3
