"""The departments a list page offers as a filter: kept by the process, never stale."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import forms
from app.extensions import db
from app.models.person import Department
from tests import factories


def labels() -> list[str]:
    return [c.label for c in forms.department_choices("All departments")]


def test_the_filter_follows_every_change_to_the_departments(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    lending = factories.make_department("Lending")
    factories.make_department("Archive")
    db.session.commit()
    assert labels() == ["All departments", "Archive", "Lending"]
    assert [c.label for c in forms.department_choices()] == ["— none —", "Archive", "Lending"]

    reads: list[Any] = []
    real_execute = db.session.execute

    def counting(statement: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(statement)
        return real_execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", counting)
    assert labels() == ["All departments", "Archive", "Lending"]
    assert len(reads) == 1, "unchanged departments are not read again, only their stamp"

    lending.name = "Lending & Loans"  # renamed: its version moves
    db.session.commit()
    assert labels() == ["All departments", "Archive", "Lending & Loans"]
    factories.make_department("Outreach")
    db.session.commit()
    assert labels() == ["All departments", "Archive", "Lending & Loans", "Outreach"]
    db.session.execute(sa.delete(Department).where(Department.name == "Archive"))
    db.session.commit()
    assert labels() == ["All departments", "Lending & Loans", "Outreach"]


def test_a_caller_changing_its_list_does_not_change_the_next_one(app: Flask) -> None:
    factories.make_department("Lending")
    db.session.commit()
    forms.department_choices("All departments").pop()
    assert labels() == ["All departments", "Lending"]
