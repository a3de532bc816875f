"""The finding index: kept current by each change, rebuilt for a new day, rebuilt by the CLI.

(Every integration test also ends by comparing the index with a full evaluation: tests/conftest.py.)
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import PersonStatus, ProfileKind
from app.models.finding import FindingIndexState, IndexedFinding, IndexedFindingPerson
from app.models.user import Role
from app.services import findings
from app.services.context import Actor
from tests import factories

INTERVAL = 365


def _single_admin_account(name: str) -> object:
    platform = factories.make_platform(f"Platform of {name}")
    profile = factories.make_profile(platform, kind=ProfileKind.ORGANISATION, name=f"{name} org")
    account = factories.make_account(platform, name=name)
    account.owner_profile = profile
    factories.make_admin(account, profile)
    return account


def _indexed(rule_id: str) -> set[int]:
    return set(db.session.scalars(sa.select(IndexedFinding.subject_id).where(IndexedFinding.rule_id == rule_id)))


def test_a_change_refreshes_only_what_it_touched_and_counts_follow(app: Flask) -> None:
    first = _single_admin_account("First Page")
    db.session.commit()
    second = _single_admin_account("Second Page")
    db.session.commit()
    assert {first.id, second.id} <= _indexed("single-admin")
    before = findings.organisation_summary(INTERVAL)

    # A second admin clears one account's finding; the other account's row is untouched.
    other = factories.make_profile(second.platform, kind=ProfileKind.ORGANISATION, name="Second backup")
    factories.make_admin(second, other)
    db.session.commit()
    assert first.id in _indexed("single-admin") and second.id not in _indexed("single-admin")
    after = findings.organisation_summary(INTERVAL)
    assert after.by_rule["single-admin"] == before.by_rule["single-admin"] - 1
    assert after.total == before.total - 1


def test_a_person_leaving_raises_findings_on_what_they_hold(app: Flask) -> None:
    dana = factories.make_person("Dana Whitfield")
    platform = factories.make_platform("Facebook")
    own = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=dana, name="Dana W")
    account = factories.make_account(platform, name="Teen Zone")
    account.owner_profile = own
    factories.make_admin(account, own)
    db.session.commit()
    assert account.id not in _indexed("held-by-leaver")

    dana.status = PersonStatus.LEAVING
    dana.last_day = date.today() + timedelta(days=10)
    db.session.commit()
    assert account.id in _indexed("held-by-leaver")
    shown = findings.evaluate(findings.FindingFilters(person_id=dana.id), INTERVAL)
    assert {(x.rule.id, x.account_id) for x in shown} >= {("held-by-leaver", account.id), ("owner-personal", account.id)}


def test_a_read_on_a_new_day_rebuilds_the_index_first(app: Flask) -> None:
    account = _single_admin_account("Yesterday's Page")
    db.session.commit()
    # The index was built yesterday, and since then a row went missing (as if a rule's date passed).
    db.session.execute(sa.update(FindingIndexState).values(computed_on=date.today() - timedelta(days=1)))
    db.session.execute(sa.delete(IndexedFinding).where(IndexedFinding.subject_id == account.id))
    db.session.commit()
    page, summary = findings.list_findings(
        Actor.system("test"), findings.FindingFilters(rule_id="single-admin"), review_interval_days=INTERVAL
    )
    assert account.id in {x.account_id for x in page.items}
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == date.today()


@pytest.mark.parametrize("page", ["/", "/findings/", "/findings/?rule=single-admin", "/accounts/{account}", "/people/{steward}"])
def test_the_first_page_read_on_a_new_day_keeps_the_rebuilt_index(client: Any, login_as: Any, page: str) -> None:
    login_as(Role.ADMIN)
    account = _single_admin_account("Yesterday's Page")
    account.steward = factories.make_person("Pat Steward")
    db.session.commit()
    account_id, page = account.id, page.format(account=account.id, steward=account.steward_id)
    db.session.execute(sa.update(FindingIndexState).values(computed_on=date.today() - timedelta(days=1)))
    db.session.execute(sa.delete(IndexedFinding).where(IndexedFinding.subject_id == account_id))
    db.session.commit()

    first = client.get(page)
    assert first.status_code == 200
    assert "Yesterday&#39;s Page" in first.text  # the page drawn whole after the rebuild was committed
    db.session.remove()  # what the database holds now, not this session's memory
    kept = db.session.execute(sa.select(FindingIndexState.computed_on, FindingIndexState.refreshed_at)).one()
    assert kept.computed_on == date.today()
    assert account_id in _indexed("single-admin")

    # The next page reads that index: no second rebuild.
    assert client.get(page).status_code == 200
    db.session.remove()
    assert db.session.scalar(sa.select(FindingIndexState.refreshed_at)) == kept.refreshed_at


def test_pages_read_during_a_new_day_s_rebuild_wait_for_it_and_it_runs_once(
    app: Flask, client: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four pages read at once on a stale index: one rebuilds it (slowly here), the others wait for
    that rebuild instead of failing ("database is locked", or an index another rebuild dropped)
    or rebuilding it again."""
    user = login_as(Role.ADMIN)
    readers = [client] + [app.test_client() for _ in range(3)]
    for reader in readers[1:]:
        reader.login(user)
    _single_admin_account("Busy Morning Page")
    db.session.commit()
    db.session.execute(sa.update(FindingIndexState).values(computed_on=date.today() - timedelta(days=1)))
    db.session.commit()
    db.session.remove()
    rebuilds: list[int] = []
    slow_rebuild = findings.rebuild

    def counted(*args: Any, **kwargs: Any) -> Any:
        rebuilds.append(1)
        state = slow_rebuild(*args, **kwargs)
        time.sleep(0.5)  # the others arrive while it holds the lock
        return state

    monkeypatch.setattr(findings, "rebuild", counted)
    start = threading.Barrier(len(readers))
    answers: list[int] = []
    errors: list[BaseException] = []

    def read(reader: Any, page: str) -> None:
        try:
            start.wait()
            answers.append(reader.get(page).status_code)
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    pages = ["/", "/findings/", "/findings/?rule=single-admin", "/"]
    threads = [threading.Thread(target=read, args=pair) for pair in zip(readers, pages, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert answers == [200, 200, 200, 200]
    assert len(rebuilds) == 1
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == date.today()


def _index_names() -> set[str]:
    inspector = sa.inspect(db.engine)
    return {ix["name"] for table in ("finding_index", "finding_index_people") for ix in inspector.get_indexes(table)}


def test_a_rebuild_rolled_back_leaves_the_index_with_all_its_indexes(app: Flask) -> None:
    _single_admin_account("Kept Page")
    db.session.commit()
    declared = {ix.name for model in (IndexedFinding, IndexedFindingPerson) for ix in model.__table__.indexes}
    assert declared <= _index_names()

    findings.rebuild(INTERVAL)  # as a page read does, in a transaction that is then undone
    db.session.rollback()
    db.session.remove()
    assert declared <= _index_names()
    assert findings.index_problems() == []


def test_flask_findings_rebuild_reports_what_it_holds(app: Flask) -> None:
    _single_admin_account("Rebuilt Page")
    db.session.commit()
    db.session.execute(sa.delete(IndexedFinding))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["findings", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "The finding index holds" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexedFinding)) > 0
    assert findings.index_problems() == []


def test_the_teardown_check_would_notice_a_stale_index(app: Flask) -> None:
    account = _single_admin_account("Stale Page")
    db.session.commit()
    db.session.execute(sa.delete(IndexedFinding).where(IndexedFinding.subject_id == account.id))
    db.session.commit()
    assert any("missing from the index" in p for p in findings.index_problems())
    findings.rebuild(INTERVAL)
    db.session.commit()
