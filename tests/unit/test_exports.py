"""Spreadsheet-safe CSV cells (formula injection, OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from enum import Enum

import pytest

from app.services.exports import BOM, safe_cell, to_csv


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
    ],
)
def test_formula_starts_get_a_leading_quote(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize(
    "value",
    ["Riverside Library", "a=b", "x+y", "mail@example.org", "", " =not at the start", "'already quoted", "\n=newline first"],
)
def test_other_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_values_that_are_not_text():
    class Colour(Enum):
        RED = "red"
        MINUS = "-1"

    assert safe_cell(None) == ""
    assert safe_cell(3) == "3"
    assert safe_cell(-3) == "'-3"  # a spreadsheet would read it as a formula too
    assert safe_cell(True) == "yes" and safe_cell(False) == "no"
    assert safe_cell(date(2030, 1, 31)) == "2030-01-31"
    assert safe_cell(datetime(2030, 1, 31, 9, 5)) == "2030-01-31T09:05:00"
    assert safe_cell(Colour.RED) == "red"
    assert safe_cell(Colour.MINUS) == "'-1"


def test_to_csv_writes_a_header_and_escapes_every_cell():
    text = to_csv(["Name", "=Header"], [["=1+1", 'say "hi", then\nleave'], [None, "@x"]])
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows == [["Name", "'=Header"], ["'=1+1", 'say "hi", then\nleave'], ["", "'@x"]]
    assert text.endswith("\r\n")
