"""The CSV format itself: reading a file (size, encoding, header, rows), formula escaping, lists."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services import csv_io
from app.services.csv_io import Limits, escape_cell, read_table, unescape_cell
from app.services.errors import ValidationFailed
from app.services.exports import FORMULA_STARTS

HEADER = "hr_id,name,work_email"


def table(text: str | bytes, kind: str = "people", limits: Limits | None = None) -> csv_io.Table:
    return read_table(kind, text, limits or Limits(), name="staff.csv")


def refused(text: str | bytes, kind: str = "people", limits: Limits | None = None) -> str:
    with pytest.raises(ValidationFailed) as caught:
        table(text, kind, limits)
    message = caught.value.field_errors["file"][0]
    assert caught.value.message.startswith("staff.csv: ") and "Nothing was imported" in caught.value.message
    return message


# --- Reading ------------------------------------------------------------------------------


def test_rows_come_with_the_line_they_start_on_trimmed_and_unescaped() -> None:
    text = '\ufeffHR_ID, Name ,Work-Email\r\nH1,"  Jo Kim ",jo@org.example\r\n\r\n,,\r\nH2,"Dana\nOkafor",\'=dana@org.example\r\nH3,Sam,sam@org.example'
    t = table(text)
    assert t.columns == ["hr_id", "name", "work_email"]
    assert [(r.line, r.cells["hr_id"], r.cells["name"], r.cells["work_email"]) for r in t.rows] == [
        (2, "H1", "Jo Kim", "jo@org.example"),
        (5, "H2", "Dana\nOkafor", "=dana@org.example"),  # blank lines skipped; the quoted cell spans two lines
        (7, "H3", "Sam", "sam@org.example"),
    ]


def test_a_semicolon_separated_file_is_read_too() -> None:
    t = table("hr_id;name;work_email\nH1;Kim, Jo;jo@org.example\n")
    assert t.rows[0].cells == {"hr_id": "H1", "name": "Kim, Jo", "work_email": "jo@org.example"}


def test_a_row_with_the_wrong_number_of_cells_is_kept_with_its_problem() -> None:
    t = table(f"{HEADER}\nH1,Jo\nH2,Dana,dana@org.example,extra\nH3,Sam,sam@org.example,,\n")
    assert "2 cells but the header names 3 columns" in t.rows[0].problem
    assert "4 cells but the header names 3 columns" in t.rows[1].problem
    assert t.rows[2].problem == ""  # empty trailing cells are only trailing commas


def test_spreadsheet_letters_name_the_columns() -> None:
    t = table(",".join(c.name for c in csv_io.ACCOUNT_COLUMNS) + "\n", "accounts")
    assert [t.letter(c) for c in ("platform", "handle", "recovery_contacts", "nothing")] == ["A", "B", "L", ""]
    wide = csv_io.Table("people", "", [f"c{i}" for i in range(30)], [])
    assert [wide.letter("c25"), wide.letter("c26"), wide.letter("c27")] == ["Z", "AA", "AB"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The file is empty."),
        ("\r\n\r\n  \n", "The file is empty."),
        (b"hr_id,name,work_email\nH1,Jos\xe9,j@org.example\n", "Line 2 is not UTF-8 text"),
        ("hr_id,name,work_email\nH1,Jo\x00,j@org.example\n", "Line 2 holds a NUL character"),
        ("hr_id,name,work_email,shoe_size\n", "does not know: shoe_size. The columns are: hr_id, name, work_email"),
        ("hr_id,name\n", "The header lacks work_email"),
        ("name,work_email,name\n", "The header names name more than once"),
        ("name,,work_email\n", "Column 2 of the header has no name"),
        ('name,work_email\n"Jo"x,jo@org.example\n', "Line 2 is not valid CSV"),
        ("name,work_email\n" + "x" * 200_000 + ",a@b\n", "Line 2 is not valid CSV"),
        ("name,work_email\ud800\n", "characters that are not text"),
    ],
)
def test_an_unreadable_file_is_refused_with_a_clear_message(text: str | bytes, expected: str) -> None:
    assert expected in refused(text)


def test_size_and_row_limits_say_what_to_do() -> None:
    limits = Limits(max_bytes=2048, max_rows=3)
    assert "larger than 2 KB, the limit. Split it" in refused("name,work_email\n" + "a,b@c\n" * 400, limits=limits)
    too_many = "name,work_email\n" + "".join(f"P{i},p{i}@org.example\n" for i in range(4))
    assert "more than 3 rows (the limit)" in refused(too_many, limits=limits)
    assert len(table(too_many.rsplit("P3", 1)[0], limits=limits).rows) == 3


# --- Formula escaping ---------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_escaped_on_export(start: str) -> None:
    assert escape_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert unescape_cell(escape_cell(f"{start}HYPERLINK(1)")) == f"{start}HYPERLINK(1)"


def test_only_formula_like_cells_get_a_quote() -> None:
    assert escape_cell("Jo's page") == "Jo's page"
    assert escape_cell("'quoted'") == "'quoted'"
    assert escape_cell("'=1") == "''=1"  # looks escaped already: one more quote, so the import gives it back whole
    assert unescape_cell("'quoted'") == "'quoted'"
    many = "'" * 5000 + "=1"  # however many quotes: no recursion to run out of
    assert unescape_cell(escape_cell(many)) == many


@given(st.text())
def test_escaping_round_trips_and_never_leaves_a_formula(text: str) -> None:
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(FORMULA_STARTS)


# --- Lists (admins, recovery contacts) ----------------------------------------------------

token = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1).map(str.strip).filter(bool)


@given(st.lists(st.tuples(token, token), max_size=5))
def test_list_cells_round_trip_whatever_the_names_hold(pairs: list[tuple[str, str]]) -> None:
    cell = "; ".join(csv_io._pair(a, b) for a, b in pairs)
    assert csv_io._list_items(cell) == pairs


def test_list_cells_read_as_people_write_them() -> None:
    assert csv_io._list_items(" Melvilla Dewey : admin ;reference@:editor;; ") == [
        ("Melvilla Dewey", "admin"),
        ("reference@", "editor"),
    ]
    assert csv_io._list_items("trusted_contact:Call Jo: 555") == [("trusted_contact", "Call Jo: 555")]
    assert csv_io._list_items("no colon here") == [("no colon here", None)]
    assert csv_io._list_items(r"Jo\; Co\:op:owner") == [("Jo; Co:op", "owner")]
    assert csv_io._list_items("a:b\\") == [("a", "b\\")]  # a backslash at the very end is kept


def test_an_export_is_a_csv_that_excel_opens_as_utf8() -> None:
    body = "".join(csv_io._csv(csv_io.PEOPLE_COLUMNS[:3], [[["H1", "=cmd|' /C calc'!A0", "jo@org.example"]]]))
    assert body.startswith("\ufeffhr_id,name,work_email\r\n")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1] == ["H1", "'=cmd|' /C calc'!A0", "jo@org.example"]


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import ConfigError, config_for

    assert (config_for("testing").load()["IMPORT_MAX_BYTES"], config_for("testing").load()["IMPORT_MAX_ROWS"]) == (
        5 * 1024 * 1024,
        50_000,
    )
    monkeypatch.setenv("HANDOVER_IMPORT_MAX_ROWS", "200")
    monkeypatch.setenv("HANDOVER_IMPORT_PREVIEW_MINUTES", "15")
    values = config_for("testing").load()
    assert (values["IMPORT_MAX_ROWS"], values["IMPORT_PREVIEW_MINUTES"]) == (200, 15)
    monkeypatch.setenv("HANDOVER_IMPORT_MAX_BYTES", "0")
    with pytest.raises(ConfigError, match="HANDOVER_IMPORT_MAX_BYTES must be a whole number above 0"):
        config_for("testing").load()
