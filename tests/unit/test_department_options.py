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


def test_the_filter_s_options_mark_the_chosen_department_and_escape_names(app: Flask) -> None:
    lending = factories.make_department("Lending & Loans")
    odd = factories.make_department('Teens <"Zine"> Club')
    db.session.commit()
    blank = forms.department_options("All departments", None)
    assert blank == (
        '<option value="">All departments</option>'
        f'<option value="{lending.id}">Lending &amp; Loans</option>'
        f'<option value="{odd.id}">Teens &lt;&#34;Zine&#34;&gt; Club</option>'
    )
    chosen = forms.department_options("All departments", odd.id)
    assert chosen.count(" selected") == 1
    assert f'<option value="{odd.id}" selected>Teens' in chosen
    # Marking one does not mark it in the kept list: the next page chooses afresh.
    assert forms.department_options("All departments", None) == blank
    assert f'<option value="{lending.id}" selected>' in forms.department_options("All departments", lending.id)
    # An id with no department marks nothing; a renamed department shows its new name at once.
    assert " selected" not in forms.department_options("All departments", 99_999)
    lending.name = "Lending"
    db.session.commit()
    assert f'<option value="{lending.id}" selected>Lending</option>' in forms.department_options("All departments", lending.id)


def test_a_list_page_s_filter_keeps_the_department_chosen(client: Any, login_as: Any) -> None:
    from app.models import Role

    lending = factories.make_department("Lending")
    factories.make_department("Archive")
    db.session.commit()
    login_as(Role.ADMIN)
    for path in ("/accounts/", "/people/", "/findings/", "/credentials/queue", "/offboarding/"):
        page = client.get(f"{path}?department={lending.id}").get_data(as_text=True)
        assert f'<option value="{lending.id}" selected>Lending</option>' in page, path
        assert page.count("<option value=") >= 3, path
