"""Hypothesis fuzz of the importer: random bytes, random text and random near-valid files only ever
give import errors (a refused file, or problems by line and column), never a crash, and a file
with a problem never writes anything."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Account, AuditEvent, Person, ProfileKind, Role
from app.services import csv_io
from app.services.context import Actor
from app.services.errors import ValidationFailed
from tests import factories

ADMIN = Actor(user_id=None, name="Fuzz Admin", role=Role.ADMIN)
LIMITS = csv_io.Limits(max_bytes=8 * 1024, max_rows=40)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Cells that reach past the header checks: real references, near misses, formulas, list syntax.
CELLS = st.one_of(
    st.text(max_size=25),
    st.sampled_from(
        [
            "",
            "H1",
            "H2",
            "jo@org.example",
            "JO@ORG.EXAMPLE",
            "dana@org.example",
            "x@y",
            "not an email",
            "Adult Services",
            "Nowhere",
            "active",
            "Leaving",
            "departed",
            "dormant",
            "retired",
            "2026-12-31",
            "31/12/2026",
            "yes",
            "maybe",
            "Facebook",
            "facebook",
            "Melvilla Dewey",
            "@jokim",
            "Melvilla Dewey:admin; @jokim:editor",
            "Melvilla Dewey:owner",
            "email:it@org.example; phone:+1 555 0100",
            "trusted_contact:",
            "=1+1",
            "'=1",
            "''@x",
            "a\\;b:c\\",
            ";;::",
            "x" * 300,
        ]
    ),
)


@st.composite
def near_valid_files(draw: Any, kind: str) -> bytes:
    known = [c.name for c in csv_io.FORMATS[kind]]
    required = [c.name for c in csv_io.FORMATS[kind] if c.required]
    optional = draw(st.lists(st.sampled_from(known), unique=True, max_size=len(known)))
    columns = list(dict.fromkeys(required + optional))
    if draw(st.integers(0, 9)) == 0:  # now and then a header Handover refuses
        columns = draw(st.sampled_from([optional, [*columns, "bogus"], [*columns, ""], [*columns, columns[0]]]))
    columns = draw(st.permutations(columns))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(0, len(columns) - 1), max_size=len(columns) + 1), max_size=12))
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=draw(st.sampled_from([",", ";"])), lineterminator=draw(st.sampled_from(["\r\n", "\n", "\r"]))
    )
    writer.writerow(columns)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:  # damage it: cut it short, or overwrite a byte
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=3)) + data[cut + 1 :]
    return data


def any_input(kind: str) -> st.SearchStrategy[bytes | str]:
    files = near_valid_files(kind)
    return st.one_of(st.binary(max_size=600), st.text(max_size=600), files, files, files)


@pytest.fixture
def world(app: Any) -> None:
    """Something for the rows to match, refer to and clash with."""
    department = factories.make_department("Adult Services")
    jo = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example", department=department)
    factories.make_person("Dana Okafor", work_email="dana@org.example", manager=jo)
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor"])
    persona = factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey")
    personal = factories.make_profile(facebook, ProfileKind.PERSONAL, name="Jo Kim", handle="@jokim", holder=jo)
    page = factories.make_account(facebook, name="Riverside Library Page", handle="@riversidelib", steward=jo)
    factories.make_admin(page, persona, "admin")
    factories.make_admin(page, personal, "editor")
    factories.make_recovery(page, "it@org.example")
    db.session.commit()


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Person, Account, AuditEvent))  # type: ignore[return-value]


def check(kind: str, data: bytes | str, apply: bool) -> None:
    before = counts()
    try:
        report = csv_io.import_csv(ADMIN, kind, data, limits=LIMITS, name="fuzz.csv", apply=apply)
    except ValidationFailed as refused:
        event("file refused")
        assert refused.field_errors["file"] and "Nothing was imported" in refused.message
        assert counts() == before
        return
    event("applied" if report.applied else "problems" if report.problems else "preview")
    try:
        assert all(p.message and p.line >= 2 for p in report.problems)
        assert {r.line for r in report.rows} >= {p.line for p in report.problems}
        if not report.ok:
            assert not report.applied and counts() == before  # a file with a problem writes nothing
        if not apply:
            assert counts() == before  # a preview writes nothing
    finally:
        db.session.rollback()


@FUZZ
@given(data=any_input("people"), apply=st.booleans())
def test_people_import_only_ever_yields_import_errors(world: None, data: bytes | str, apply: bool) -> None:
    check("people", data, apply)


@FUZZ
@given(data=any_input("accounts"), apply=st.booleans())
def test_accounts_import_only_ever_yields_import_errors(world: None, data: bytes | str, apply: bool) -> None:
    check("accounts", data, apply)
