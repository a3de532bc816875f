"""CSV import and export through the pages and `flask import`, on SQLite and PostgreSQL: upload,
preview (every row's fate, every problem by line and column), confirm; limits; the signed upload
carried between preview and confirmation; exports; set-based checking."""

from __future__ import annotations

import csv
import html
import io
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from app.extensions import db
from app.imports import staging
from app.models import Account, AuditEvent, Person, ProfileKind, Role
from app.services import csv_io
from app.services.context import Actor
from app.services.errors import ValidationFailed
from tests import factories

PEOPLE = [c.name for c in csv_io.PEOPLE_COLUMNS]
ACCOUNTS = [c.name for c in csv_io.ACCOUNT_COLUMNS]
UPLOAD = re.compile(r'name="upload" type="hidden" value="([^"]+)"')


def to_csv(columns: list[str], *rows: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(client: Any, kind: str, data: bytes, name: str = "staff.csv") -> Any:
    return client.submit(f"/imports/{kind}", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def confirm(client: Any, kind: str, preview: Any) -> Any:
    token = UPLOAD.search(preview.text)
    assert token, "the preview has no Import button"
    return client.submit(f"/imports/{kind}/confirm", {"upload": html.unescape(token.group(1))})


def text_of(response: Any) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def people() -> dict[str, Person]:
    db.session.rollback()  # see what the request committed
    return {p.work_email: p for p in db.session.scalars(sa.select(Person))}


def event_count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


@pytest.fixture
def registry(app: Flask) -> dict[str, Any]:
    adult = factories.make_department("Adult Services")
    jo = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example", department=adult)
    facebook = factories.make_platform("Facebook", slug="facebook", role_names=["admin", "editor"])
    factories.make_profile(facebook, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[jo])
    other = factories.make_platform("Other", slug="other", role_names=[])  # any role name goes
    factories.make_profile(other, ProfileKind.PERSONA, name="Melvilla Dewey")
    db.session.commit()
    return {"jo_id": jo.id}


# --- People, through the pages ------------------------------------------------------------


def test_hr_uploads_sees_the_preview_confirms_and_finds_the_people(client: Any, login_as: Any, registry: Any) -> None:
    login_as(Role.HR)
    page = client.get("/imports/people")
    assert page.status_code == 200
    for column in PEOPLE:  # the page documents the format
        assert f"<code>{column}</code>" in page.text
    data = to_csv(
        PEOPLE,
        {"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "department": "Adult Services", "job_title": "Head"},
        {"hr_id": "H2", "name": "Dana Okafor", "work_email": "dana@org.example", "manager_hr_id": "H1"},
    )
    before = event_count()
    preview = upload(client, "people", data)
    assert preview.status_code == 200
    shown = text_of(preview)
    assert "Check the import of staff.csv" in shown
    assert "1 to add 1 to update 0 unchanged 0 with problems" in shown
    assert "2 H1 Jo Kim Would be updated job_title : (empty) → Head" in shown
    assert "3 H2 Dana Okafor Would be added" in shown
    assert "dana@org.example" not in people() and event_count() == before  # nothing written yet
    done = confirm(client, "people", preview)
    assert done.status_code == 302 and done.headers["Location"].endswith("/people/")
    everyone = people()
    assert everyone["dana@org.example"].manager_id == registry["jo_id"] and everyone["jo@org.example"].job_title == "Head"
    assert "Imported staff.csv: 1 person added, 1 person updated, 0 people unchanged." in text_of(client.get("/people/"))
    assert event_count() == before + 3  # person.create, person.update, import.people


def test_a_preview_lists_every_problem_by_line_and_column_and_offers_no_import(client: Any, login_as: Any, registry: Any) -> None:
    login_as(Role.ADMIN)
    data = to_csv(
        PEOPLE,
        {"name": "Ok Person", "work_email": "ok@org.example"},
        {"name": "Bad Date", "work_email": "bad@org.example", "status": "leaving", "last_day": "next week"},
        {"name": "", "work_email": "jo@org.example", "department": "Nowhere"},
    )
    preview = upload(client, "people", data, "exports/new\x07 staff.csv")
    assert preview.status_code == 200
    shown = text_of(preview)
    assert "Check the import of new staff.csv" in shown  # the file's name, without its folder or control characters
    assert "Nothing can be imported until every problem below is fixed" in shown
    assert "3 problems to fix" in shown
    assert "3 last_day (column I) “next week” is not a date: write it as YYYY-MM-DD, e.g. 2026-12-31." in shown
    assert "4 name (column B) Give the person's name." in shown
    assert "4 department (column E) There is no department called “Nowhere”." in shown
    assert UPLOAD.search(preview.text) is None  # no Import button
    assert "Upload the corrected file" in shown
    assert "ok@org.example" not in people()


def test_export_then_import_through_the_pages_changes_nothing(client: Any, login_as: Any, registry: Any) -> None:
    factories.make_person("=cmd|' /C calc'!A0", work_email="formula@org.example", personal_phone="+1 555 0100")
    db.session.commit()
    login_as(Role.HR)
    exported = client.get("/imports/people/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="people-\d{4}-\d{2}-\d{2}\.csv"', exported.headers["Content-Disposition"])
    assert "'=cmd|' /C calc'!A0" in exported.text and "'+1 555 0100" in exported.text
    before = event_count()
    preview = upload(client, "people", exported.data, "people.csv")
    assert "Every row already matches the registry: there is nothing to import." in text_of(preview)
    assert UPLOAD.search(preview.text) is None
    assert event_count() == before


def test_a_preview_confirmed_after_someone_else_changed_the_registry_is_shown_again(
    client: Any, login_as: Any, registry: Any
) -> None:
    login_as(Role.HR)
    preview = upload(
        client,
        "people",
        to_csv(PEOPLE[:4], {"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "job_title": "Head"}),
    )
    jo = db.session.get(Person, registry["jo_id"])
    jo.job_title = "Deputy"
    db.session.commit()
    before = event_count()
    again = confirm(client, "people", preview)
    assert again.status_code == 409
    assert "The registry changed after your preview, so nothing was imported." in text_of(again)
    assert "job_title : Deputy → Head" in text_of(again)
    assert people()["jo@org.example"].job_title == "Deputy" and event_count() == before
    assert confirm(client, "people", again).status_code == 302
    assert people()["jo@org.example"].job_title == "Head"


def test_a_confirmation_is_refused_when_altered_expired_or_someone_elses(
    client: Any, app: Flask, login_as: Any, make_user: Any, registry: Any, monkeypatch: Any
) -> None:
    login_as(Role.HR)
    data = to_csv(PEOPLE[:3], {"hr_id": "H9", "name": "New Person", "work_email": "new@org.example"})
    token = html.unescape(UPLOAD.search(upload(client, "people", data).text).group(1))  # type: ignore[union-attr]
    body, _, signature = token.rpartition(".")
    forged = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    answer = client.submit("/imports/people/confirm", {"upload": forged})
    assert answer.status_code == 400 and "That preview cannot be confirmed" in text_of(answer)
    answer = client.submit("/imports/accounts/confirm", {"upload": token})  # an HR preview is not an accounts import
    assert answer.status_code == 403

    someone_else = app.test_client()
    someone_else.login(make_user(Role.ADMIN))
    answer = someone_else.submit("/imports/people/confirm", {"upload": token})
    assert answer.status_code == 400 and "it was changed, or is not yours" in text_of(answer)

    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 3600

    monkeypatch.setattr(staging, "TimestampSigner", TwoHoursAgo)
    old = html.unescape(UPLOAD.search(upload(client, "people", data).text).group(1))  # type: ignore[union-attr]
    monkeypatch.undo()
    answer = client.submit("/imports/people/confirm", {"upload": old})
    assert answer.status_code == 400 and "The preview is more than 60 minutes old" in text_of(answer)
    assert "new@org.example" not in people()


def test_a_file_far_beyond_the_default_form_limit_can_still_be_confirmed(
    client: Any, app: Flask, login_as: Any, registry: Any
) -> None:
    """The confirmation carries the file back; a big file makes a token larger than Flask's default
    form limit (500 KB), which the import views raise for themselves."""
    hr = login_as(Role.HR)
    rows = [{"name": f"P {i}", "work_email": f"p{i}@org.example", "job_title": secrets.token_hex(64)} for i in range(8000)]
    data = to_csv(["name", "work_email", "job_title"], *rows)
    preview = csv_io.import_csv(Actor.for_user(hr), "people", data, limits=csv_io.Limits(), name="big.csv", apply=False)
    db.session.rollback()
    token = staging.seal(app.config["SECRET_KEY"], staging.Staged(hr.id, "people", "big.csv", data, preview.digest))
    assert len(token) > 500_000
    done = client.submit("/imports/people/confirm", {"upload": token})
    assert done.status_code == 302, text_of(done)[:500]
    assert len(people()) == 8000 + 2


def test_files_over_the_limits_are_refused_with_a_clear_message(client: Any, app: Flask, login_as: Any, registry: Any) -> None:
    login_as(Role.HR)
    app.config.update(IMPORT_MAX_BYTES=2048, IMPORT_MAX_ROWS=5)
    rows = [{"name": f"P{i}", "work_email": f"p{i}@org.example"} for i in range(6)]
    answer = upload(client, "people", to_csv(["name", "work_email"], *rows))
    assert answer.status_code == 400 and "The file has more than 5 rows (the limit)." in text_of(answer)
    answer = upload(client, "people", b"name,work_email\n" + b"x,y@z\n" * 600)
    assert answer.status_code == 400 and "The file is larger than 2 KB, the limit. Split it" in text_of(answer)
    # Far over (more than the limit and room for the form around it): refused before it is read.
    answer = upload(client, "people", b"name,work_email\n" + b"x" * 300_000)
    assert answer.status_code == 413
    assert "The file is larger than 2 KB, the limit. Split it into smaller files" in text_of(answer)
    answer = upload(client, "people", b"\xff\xfeh\x00r\x00")
    assert answer.status_code == 400 and "is not UTF-8 text" in text_of(answer)
    answer = client.submit("/imports/people", {})
    assert answer.status_code == 400 and "Choose the CSV file to import." in text_of(answer)


# --- Accounts, through the pages ----------------------------------------------------------


def test_it_imports_accounts_and_a_director_only_exports_them(
    app: Flask, client: Any, login_as: Any, make_user: Any, registry: Any
) -> None:
    login_as(Role.IT)
    assert "Import or export CSV" in client.get("/accounts/").text
    data = to_csv(
        ACCOUNTS,
        {
            "platform": "Facebook",
            "handle": "@riversidelib",
            "name": "Riverside Library Page",
            "steward_email": "jo@org.example",
            "admins": "Melvilla Dewey:admin",
            "recovery_contacts": "email:it@org.example",
        },
    )
    preview = upload(client, "accounts", data, "accounts.csv")
    assert "1 to add" in text_of(preview)
    assert confirm(client, "accounts", preview).headers["Location"].endswith("/accounts/")
    db.session.rollback()
    [account] = db.session.scalars(sa.select(Account))
    assert [(a.profile.name, a.role_name) for a in account.admins] == [("Melvilla Dewey", "admin")]

    director = app.test_client()
    director.login(make_user(Role.DIRECTOR))
    client = director
    listing = client.get("/accounts/")
    assert "Export as CSV" in listing.text and "Import or export CSV" not in listing.text
    exported = client.get("/imports/accounts/export.csv")
    assert exported.status_code == 200
    assert "Facebook,'@riversidelib,Riverside Library Page" in exported.text
    assert client.get("/imports/accounts").status_code == 403


def test_the_people_list_links_to_the_import_page_for_hr_only(client: Any, login_as: Any, make_user: Any) -> None:
    login_as(Role.HR)
    assert 'href="/imports/people"' in client.get("/people/").text
    it = client.application.test_client()
    it.login(make_user(Role.IT))
    assert 'href="/imports/people"' not in it.get("/people/").text


# --- The command line ---------------------------------------------------------------------


def flask(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_flask_import_people_dry_run_then_for_real(app: Flask, registry: Any, tmp_path: Path) -> None:
    file = tmp_path / "staff.csv"
    file.write_bytes(
        to_csv(
            PEOPLE,
            {"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "department": "Adult Services"},
            {"hr_id": "H2", "name": "Dana Okafor", "work_email": "dana@org.example", "manager_hr_id": "H1"},
        )
    )
    before = event_count()
    dry = flask(app, "import", "people", str(file), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Checking 2 rows of staff.csv" in dry.output
    assert "line 3: added H2 Dana Okafor" in dry.output
    assert "Dry run of staff.csv: 1 person added, 0 people updated, 1 person unchanged. Nothing was written." in dry.output
    assert "dana@org.example" not in people() and event_count() == before
    real = flask(app, "import", "people", str(file))
    assert real.exit_code == 0, real.output
    assert "Importing 2 rows of staff.csv" in real.output and "Imported staff.csv: 1 person added" in real.output
    assert "dana@org.example" in people() and event_count() == before + 2
    again = flask(app, "import", "people", str(file))
    assert "0 people added, 0 people updated, 2 people unchanged" in again.output and event_count() == before + 2


def test_a_bad_row_at_the_end_of_a_long_file_writes_nothing(app: Flask, registry: Any, tmp_path: Path) -> None:
    rows = [{"hr_id": f"N{i}", "name": f"P {i}", "work_email": f"p{i}@org.example", "manager_hr_id": "H1"} for i in range(2500)]
    rows.append({"hr_id": "N-last", "name": "Last", "work_email": "last@org.example", "manager_hr_id": "N-none"})
    file = tmp_path / "long.csv"
    file.write_bytes(to_csv(PEOPLE, *rows))
    before = (len(people()), event_count())
    result = flask(app, "import", "people", str(file))
    assert result.exit_code == 1
    assert (
        "line 2502, column manager_hr_id (F): Nobody on the staff list or in this file has the HR id “N-none”." in result.output
    )
    assert (len(people()), event_count()) == before


def test_flask_import_accounts_lists_every_problem_and_writes_nothing(app: Flask, registry: Any, tmp_path: Path) -> None:
    file = tmp_path / "accounts.csv"
    file.write_bytes(
        to_csv(
            ACCOUNTS,
            {"platform": "Facebook", "handle": "@a", "name": "A", "admins": "Melvilla Dewey:owner"},
            {"platform": "Myspace", "handle": "@b", "name": "B"},
        )
    )
    result = flask(app, "import", "accounts", str(file))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "line 2, column admins (K): “Melvilla Dewey:owner”: Facebook roles are: admin, editor." in result.output
    assert "line 3, column platform (A): There is no platform called “Myspace”." in result.output
    assert "2 problems in accounts.csv: nothing was imported." in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    unreadable = tmp_path / "bad.csv"
    unreadable.write_bytes(b"shoe_size\n42\n")
    result = flask(app, "import", "accounts", str(unreadable))
    assert result.exit_code == 1 and "does not know: shoe_size" in result.output


# --- Set-based checking, and the fuzz on both databases -----------------------------------


def statements_to_check(app: Flask, rows: int) -> int:
    data = to_csv(
        PEOPLE,
        *(
            {
                "hr_id": f"N{i}",
                "name": f"P {i}",
                "work_email": f"p{i}@org.example",
                "manager_hr_id": "H1",
                "department": "Adult Services",
            }
            for i in range(rows)
        ),
    )
    count = 0

    def counter(*args: Any) -> None:
        nonlocal count
        count += 1

    sa.event.listen(db.engine, "before_cursor_execute", counter)
    try:
        report = csv_io.import_csv(Actor.system(), "people", data, limits=csv_io.Limits(), apply=False)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counter)
    assert report.added == rows
    db.session.rollback()
    return count


def test_checking_a_file_takes_the_same_few_queries_whatever_its_length(app: Flask, registry: Any) -> None:
    assert statements_to_check(app, 1000) == statements_to_check(app, 10) <= 5


def around(limit: int) -> st.SearchStrategy[str]:
    """Short text, or text right around a column's length limit."""
    return st.text(max_size=12) | st.text(alphabet=st.characters(codec="utf-8"), min_size=limit - 2, max_size=limit + 3)


PEOPLE_FILES = st.lists(
    st.fixed_dictionaries(
        {"name": around(200), "work_email": st.from_regex(r"[a-z]{1,5}@[a-z]{1,5}", fullmatch=True) | around(254)},
        optional={
            "hr_id": around(120),
            "job_title": around(200),
            "personal_phone": around(40),
            "status": st.sampled_from(["active", "leaving", "departed", "x"]),
        },
    ),
    max_size=6,
).map(lambda rows: ("people", to_csv(["name", "work_email", "hr_id", "job_title", "personal_phone", "status"], *rows)))
ACCOUNT_FILES = st.lists(
    st.fixed_dictionaries(
        {"platform": st.sampled_from(["Facebook", "Other", "Nowhere"]), "handle": around(200), "name": around(200)},
        optional={
            "url": around(500),
            "purpose": st.text(max_size=600),
            "admins": st.builds(lambda role: f"Melvilla Dewey:{role}", around(60)),
            "recovery_contacts": st.builds(lambda value: f"trusted_contact:{value}", around(254)),
        },
    ),
    max_size=6,
).map(lambda rows: ("accounts", to_csv(["platform", "handle", "name", "url", "purpose", "admins", "recovery_contacts"], *rows)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=PEOPLE_FILES | ACCOUNT_FILES | st.tuples(st.sampled_from(["people", "accounts"]), st.binary(max_size=300)))
def test_random_files_only_ever_yield_import_errors_on_this_database(app: Flask, registry: Any, file: tuple[str, bytes]) -> None:
    """Over-long and odd text reaches the database here, so PostgreSQL's column limits are exercised too."""
    kind, data = file
    try:
        report = csv_io.import_csv(Actor.system(), kind, data, limits=csv_io.Limits(), apply=True)
        db.session.flush()
        assert report.ok == report.applied
    except ValidationFailed as refused:
        assert refused.field_errors["file"]
    finally:
        db.session.rollback()
