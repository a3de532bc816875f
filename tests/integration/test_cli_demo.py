"""`flask demo load`, `flask platforms seed` and the catalogue migration, through the CLI."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Account, Person, Platform, User
from app.services.catalogue import CATALOGUE


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_demo_load_prints_the_summary_and_commits(app):
    result = app.test_cli_runner().invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Loaded the demo organisation Riverside Public Library")
    assert "15 platforms added to the catalogue" in result.output
    assert count(Person) >= 25 and count(Account) >= 30 and count(User) == 5


def test_a_second_load_with_if_empty_does_nothing_and_succeeds(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    people = count(Person)

    result = runner.invoke(args=["demo", "load", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert "the demo was not loaded" in result.output
    assert count(Person) == people


def test_a_second_load_without_if_empty_fails_with_a_clear_message(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    people = count(Person)

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 1
    assert "Error: The registry already has data. Load the demo only into an empty database." in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert count(Person) == people


def test_platforms_seed_adds_the_catalogue_once(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["platforms", "seed"])
    second = runner.invoke(args=["platforms", "seed"])

    assert first.exit_code == 0 and first.output.strip() == "Added 15 platforms to the catalogue."
    assert second.exit_code == 0 and "nothing was added" in second.output
    assert count(Platform) == 15


# --- The catalogue migration --------------------------------------------------------------


@pytest.fixture
def migrated_app(empty_database: str) -> Iterator[Flask]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_migration_seeds_the_catalogue_and_round_trips(migrated_app):
    runner = migrated_app.test_cli_runner()
    slugs = {entry.slug for entry in CATALOGUE}

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert set(db.session.scalars(sa.select(Platform.slug))) == slugs
    db.session.rollback()

    assert runner.invoke(args=["db", "downgrade", "9a1e53c1639f"]).exit_code == 0
    assert count(Platform) == 0
    db.session.rollback()

    for args in (["db", "downgrade", "base"], ["db", "upgrade"], ["db", "check"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)
    assert set(db.session.scalars(sa.select(Platform.slug))) == slugs


def test_demo_load_on_a_migrated_database_adds_no_platforms(migrated_app):
    runner = migrated_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    assert "platforms added" not in result.output
    assert count(Platform) == 15
    assert count(Account) >= 30
