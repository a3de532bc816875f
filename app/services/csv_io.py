"""CSV import and export of people and of accounts: one format each, read and written here.

What it guarantees, whichever door calls it (the upload pages, ``flask import``):

* **All or nothing.** A file with any problem writes nothing; a file without problems writes
  every row, through the same services (and so the same rules and audit events) as the forms.
* **Every problem at once,** by line and column, so a file is fixed in one go.
* **Idempotent upsert.** People are matched by ``hr_id``, else by work email; accounts by
  platform + handle, else (an account with no handle) by platform + name. A row that matches
  the registry changes nothing and records nothing, so export → import is a no-op.
* **Bounded.** ``Limits`` caps the size and the number of rows, with a message saying so.
* **No formula, no secret.** Exported cells a spreadsheet would run as a formula are escaped
  (``exports.FORMULA_STARTS``); credential notes are never part of either format.

The formats are described column by column in ``PEOPLE_COLUMNS`` and ``ACCOUNT_COLUMNS`` (the
upload pages render them) and in README.md "CSV import and export". A column missing from the
header leaves that field as it is on records the file updates.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from enum import Enum
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, RecoveryContact, RecoveryKind
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile
from app.services import accounts, audit, exports, people, permissions, urls
from app.services.context import Actor
from app.services.errors import ValidationFailed

#: Called with how many more rows were checked or written (for a progress bar).
Progress = Callable[[int], None]

KINDS = ("people", "accounts")


@dataclass(frozen=True)
class Limits:
    """How big an uploaded file may be (HANDOVER_IMPORT_MAX_BYTES, HANDOVER_IMPORT_MAX_ROWS)."""

    max_bytes: int = 5 * 1024 * 1024
    max_rows: int = 50_000


@dataclass(frozen=True)
class Column:
    """One column of a format, as the upload page documents it."""

    name: str
    help: str
    example: str = ""
    #: The header must have it.
    required: bool = False


PEOPLE_COLUMNS = (
    Column(
        "hr_id",
        "The person's id in the HR system or identity provider. A row whose hr_id is on the staff list "
        "updates that person; otherwise the work email decides.",
        "HR-0042",
    ),
    Column("name", "Full name.", "Dana Okafor", required=True),
    Column("work_email", "Work email address; no two people share one.", "dana@org.example", required=True),
    Column("job_title", "Job title.", "Outreach librarian"),
    Column(
        "department", "The department's name, as on the Departments page (add a new department there first).", "Adult Services"
    ),
    Column("manager_hr_id", "The manager's hr_id. The manager may be on the staff list or in the same file.", "HR-0007"),
    Column("manager_email", "Or the manager's work email (if both are given they must name the same person).", "jo@org.example"),
    Column("status", "active, leaving or departed; empty means active.", "active"),
    Column("last_day", "The last working day, as YYYY-MM-DD; needed when the status is leaving.", "2026-12-31"),
    Column("left_on", "The day they left, as YYYY-MM-DD; needed when the status is departed.", ""),
    Column("personal_email", "Kept only to spot its use as a recovery contact.", ""),
    Column("personal_phone", "Kept only to spot its use as a recovery contact.", ""),
)

ACCOUNT_COLUMNS = (
    Column("platform", "The platform's name (or short name), as on the Platforms page.", "Facebook", required=True),
    Column(
        "handle",
        "The handle on the platform. With the platform it identifies the account; an account with no handle "
        "is identified by its name instead.",
        "@riversidelib",
        required=True,
    ),
    Column("name", "A name people will recognise.", "Riverside Library Page", required=True),
    Column("url", "Where the account is.", "https://facebook.example/riversidelib"),
    Column("purpose", "What it is for.", "News, events and patron questions."),
    Column("department", "The department's name, as on the Departments page.", "Adult Services"),
    Column("status", "active, dormant or retired; empty means active. Retire an existing account on its page.", "active"),
    Column("owner_profile", "The profile holding the platform's top role: its handle, or its name.", "Melvilla Dewey"),
    Column("steward_email", "The work email of the person accountable for the account.", "jo@org.example"),
    Column("has_own_login", "yes if the account is signed into with its own username and password; empty means no.", "no"),
    Column(
        "admins",
        "Every profile holding a role, as profile:role, separated by semicolons. The list replaces the "
        "account's roles: a role not listed is removed.",
        "Melvilla Dewey:admin; reference@:editor",
    ),
    Column(
        "recovery_contacts",
        "Every recovery contact, as kind:value separated by semicolons; kind is email, phone, "
        "backup_codes_holder or trusted_contact. The list replaces the account's contacts.",
        "email:it@org.example; phone:+1 555 0100",
    ),
)

FORMATS = {"people": PEOPLE_COLUMNS, "accounts": ACCOUNT_COLUMNS}
#: What a row's key is called on the preview.
KEY_LABELS = {"people": "hr_id or work email", "accounts": "platform and handle"}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


# --- Reading a file -----------------------------------------------------------------------


@dataclass
class Row:
    """One record of the file: where it starts, and its cells by column name (trimmed, unescaped)."""

    line: int
    cells: dict[str, str]
    #: Why the record cannot be read as a row (a wrong number of cells); empty if it can.
    problem: str = ""


@dataclass
class Table:
    kind: str
    name: str
    columns: list[str]
    rows: list[Row]

    def has(self, column: str) -> bool:
        return column in self.columns

    def letter(self, column: str) -> str:
        """The spreadsheet letter of a column (A, B, … AA), or "" if the file has no such column."""
        if column not in self.columns:
            return ""
        n, letters = self.columns.index(column) + 1, ""
        while n:
            n, rest = divmod(n - 1, 26)
            letters = chr(ord("A") + rest) + letters
        return letters


def _file_problem(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name or 'The file'}: {message} Nothing was imported.", {"file": [message]})


def size_text(n: int) -> str:
    """A size as people read it: 5.0 MB, 2 KB."""
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def _header_name(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lstrip("\ufeff").strip().lower())


def read_table(kind: str, data: bytes | str, limits: Limits, name: str = "") -> Table:
    """Read a whole CSV file of ``kind`` into rows, checking its size, encoding and header.

    UTF-8 (a byte-order mark is allowed), comma- or semicolon-separated (as the header shows),
    quotes doubled inside quoted cells. Blank lines are skipped. Raises ValidationFailed (field
    ``file``) for a file that cannot be read at all; a row with the wrong number of cells is kept
    with its ``problem`` set, so it is reported with the rest.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown import kind {kind!r}")
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise _file_problem(name, "It holds characters that are not text.") from None
    if len(data) > limits.max_bytes:
        raise _file_problem(
            name,
            f"The file is larger than {size_text(limits.max_bytes)}, the limit. Split it into smaller files "
            "and import them one after the other.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _file_problem(
            name,
            f"Line {line} is not UTF-8 text. Save the file as “CSV UTF-8” (in Excel: Save As → CSV UTF-8) and upload it again.",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _file_problem(name, f"Line {line} holds a NUL character: this is not a text CSV file.")
    if not text.strip():
        raise _file_problem(name, "The file is empty.")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ";" if "," not in first_line and ";" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
        columns = _check_header(kind, [_header_name(cell) for cell in header], name)
        rows: list[Row] = []
        last_line = reader.line_num
        for cells in reader:
            start, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= limits.max_rows:
                raise _file_problem(
                    name,
                    f"The file has more than {limits.max_rows:,} rows (the limit). Split it into smaller files "
                    "and import them one after the other.",
                )
            rows.append(_row(start, columns, cells))
    except StopIteration:
        raise _file_problem(name, "The file is empty.") from None
    except csv.Error as error:
        raise _file_problem(
            name,
            f"Line {reader.line_num} is not valid CSV ({error}). A cell holding a quote, comma or line break must be "
            'quoted, with each quote inside it doubled ("").',
        ) from None
    return Table(kind=kind, name=name, columns=columns, rows=rows)


def _check_header(kind: str, columns: list[str], name: str) -> list[str]:
    known = [c.name for c in FORMATS[kind]]
    while columns and not columns[-1]:
        columns.pop()  # trailing separators
    if "" in columns:
        raise _file_problem(name, f"Column {columns.index('') + 1} of the header has no name.")
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise _file_problem(
            name,
            f"The header has {'a column' if len(unknown) == 1 else 'columns'} Handover does not know: "
            f"{', '.join(unknown)}. The columns are: {', '.join(known)}.",
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise _file_problem(name, f"The header names {', '.join(repeated)} more than once.")
    missing = [c.name for c in FORMATS[kind] if c.required and c.name not in columns]
    if missing:
        raise _file_problem(
            name, f"The header lacks {', '.join(missing)}. The first row must name the columns: {', '.join(known)}."
        )
    return columns


def _row(line: int, columns: list[str], cells: list[str]) -> Row:
    problem = ""
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        problem = f"This row has {len(cells)} cells but the header names {len(columns)} columns."
    elif len(cells) < len(columns):
        problem = (
            f"This row has {len(cells)} cells but the header names {len(columns)} columns "
            "(a line break inside a cell needs quotes around the cell)."
        )
    values = {column: unescape_cell(cell.strip()) for column, cell in zip(columns, cells, strict=False)}
    return Row(line=line, cells=values, problem=problem)


# --- Cells: formula escaping, lists --------------------------------------------------------


def _is_escaped(text: str) -> bool:
    """Whether ``text`` is how :func:`escape_cell` writes some other text: quotes in front of
    something a spreadsheet would run."""
    rest = text.lstrip("'")
    return len(rest) < len(text) and rest.startswith(exports.FORMULA_STARTS)


#: The first characters of the only texts ``escape_cell`` changes (each formula start is one character).
_ESCAPED_FIRST = frozenset(exports.FORMULA_STARTS) | {"'"}


def escape_cell(text: str) -> str:
    """Text as written to an export: a cell a spreadsheet would run as a formula gets a leading
    quote (as ``exports.safe_cell`` does), and so does text that already looks escaped, so that
    :func:`unescape_cell` gives back exactly what was exported."""
    if text[:1] not in _ESCAPED_FIRST:  # most cells (2.4 million of them in an export of 200,000 accounts)
        return text
    return "'" + text if text.startswith(exports.FORMULA_STARTS) or _is_escaped(text) else text


def unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and _is_escaped(text) else text


def _list_items(cell: str) -> list[tuple[str, str | None]]:
    """``a:b; c:d`` → [("a", "b"), ("c", "d")]: items split at semicolons, each at its first colon
    (an item without one gives (item, None)); a backslash makes the next character plain."""
    items: list[tuple[str, str | None]] = []
    first: str | None = None
    current: list[str] = []

    def close() -> None:
        text = "".join(current).strip()
        item = (text, None) if first is None else (first.strip(), text)
        if item[0] or item[1]:
            items.append(item)

    escaped = False
    for ch in cell:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            close()
            first, current = None, []
        elif ch == ":" and first is None:
            first, current = "".join(current), []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")
    close()
    return items


def _escape_item(text: str, colon: bool) -> str:
    text = text.replace("\\", "\\\\").replace(";", "\\;")
    return text.replace(":", "\\:") if colon else text


def _pair(first: str, second: str) -> str:
    return f"{_escape_item(first, colon=True)}:{_escape_item(second, colon=False)}"


# --- Reports ------------------------------------------------------------------------------


class Fate(Enum):
    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    ERROR = "error"

    @property
    def label(self) -> str:
        return {"add": "Added", "update": "Updated", "unchanged": "Unchanged", "error": "Not imported"}[self.value]


@dataclass(frozen=True)
class Problem:
    """Why a row cannot be imported: its line, its column ("" for the whole row) and what to do."""

    line: int
    column: str
    message: str
    #: The column's spreadsheet letter, when the file has that column.
    letter: str = ""


@dataclass(frozen=True)
class Change:
    column: str
    before: str
    after: str


@dataclass
class RowResult:
    line: int
    #: What identifies the row's record (an hr_id, an email, a platform and handle).
    key: str
    #: The record's name.
    label: str
    fate: Fate = Fate.UNCHANGED
    changes: list[Change] = field(default_factory=list)


@dataclass
class ImportReport:
    """Every row's fate and every problem. ``applied`` says whether the rows were written (flushed:
    the door commits); ``stale`` that the registry changed since the preview being confirmed."""

    kind: str
    name: str
    rows: list[RowResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False
    stale: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, fate: Fate) -> int:
        return sum(1 for r in self.rows if r.fate is fate)

    @property
    def added(self) -> int:
        return self.count(Fate.ADD)

    @property
    def updated(self) -> int:
        return self.count(Fate.UPDATE)

    @property
    def unchanged(self) -> int:
        return self.count(Fate.UNCHANGED)

    @property
    def changed(self) -> int:
        return self.added + self.updated

    @property
    def digest(self) -> str:
        """A fingerprint of what the import would do: a confirmation applies only the plan it saw."""
        plan = [[r.line, r.fate.value, [[c.column, c.before, c.after] for c in r.changes]] for r in self.rows]
        plan.append([[p.line, p.column, p.message] for p in self.problems])
        return hashlib.sha256(json.dumps([self.kind, plan], separators=(",", ":")).encode()).hexdigest()

    def summary(self) -> str:
        noun = "person" if self.kind == "people" else "account"
        plural = "people" if self.kind == "people" else "accounts"

        def n(count: int) -> str:
            return f"{count} {noun if count == 1 else plural}"

        return f"{n(self.added)} added, {n(self.updated)} updated, {n(self.unchanged)} unchanged"

    def lines_of(self, fate: Fate) -> str:
        """The lines with this fate as ranges, e.g. "2–40, 45, 47–90"."""
        ranges: list[list[int]] = []
        for line in (r.line for r in self.rows if r.fate is fate):
            if ranges and line == ranges[-1][1] + 1:
                ranges[-1][1] = line
            else:
                ranges.append([line, line])
        return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in ranges)


class _Rows:
    """Collects problems and results while a table is checked."""

    def __init__(self, table: Table, report: ImportReport) -> None:
        self.table = table
        self.report = report
        self.failed: set[int] = set()
        self.flagged: set[tuple[int, str]] = set()

    def problem(self, line: int, column: str, message: str) -> None:
        self.report.problems.append(Problem(line, column, message, self.table.letter(column)))
        self.failed.add(line)
        self.flagged.add((line, column))

    def finish(self, results: Iterable[RowResult]) -> None:
        order = {column: i for i, column in enumerate(self.table.columns)}
        self.report.problems.sort(key=lambda p: (p.line, order.get(p.column, -1)))
        self.report.rows = []
        for result in sorted(results, key=lambda r: r.line):
            if result.line in self.failed:
                result.fate, result.changes = Fate.ERROR, []
            self.report.rows.append(result)


def _q(value: str) -> str:
    """A cell's text quoted in a message, shortened if long."""
    return f"“{value if len(value) <= 60 else value[:57] + '…'}”"


@functools.cache
def _max_length(model: Any, column: str) -> int | None:
    return getattr(model.__table__.c[column].type, "length", None)


def _text(rows: _Rows, row: Row, column: str, model: Any = None, attr: str | None = None) -> str:
    value = row.cells.get(column, "")
    limit = _max_length(model, attr or column) if model is not None else None
    if limit and len(value) > limit:
        rows.problem(row.line, column, f"At most {limit} characters (this has {len(value)}).")
    return value


def _email(rows: _Rows, row: Row, column: str) -> str:
    value = _text(rows, row, column, Person, "work_email")
    if value and not _EMAIL.match(value):
        rows.problem(row.line, column, f"{_q(value)} is not an email address.")
    return value


def _date(rows: _Rows, row: Row, column: str) -> date | None:
    value = row.cells.get(column, "")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        rows.problem(row.line, column, f"{_q(value)} is not a date: write it as YYYY-MM-DD, e.g. 2026-12-31.")
        return None


def _choice(rows: _Rows, row: Row, column: str, enum_cls: Any, default: Any) -> Any:
    value = row.cells.get(column, "").lower().replace(" ", "_").replace("-", "_")
    if not value:
        return default
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        rows.problem(row.line, column, f"{_q(row.cells[column])} is not one of: {allowed}.")
        return default


def _shown(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- Importing ----------------------------------------------------------------------------


def run_import(
    actor: Actor,
    table: Table,
    *,
    apply: bool,
    expected_digest: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of ``table`` against the registry and, if ``apply`` and nothing is wrong,
    write them all (flushed, for the caller to commit). With ``apply`` false nothing is left
    written. With ``expected_digest`` (the digest of the preview the user confirmed), the rows are
    written only if the plan is still the same; otherwise the report is ``stale``.

    ``progress`` is told of each row checked, and again of each row written: twice the rows in all
    when applying. Raises PermissionDenied; everything wrong with the rows is in the report.
    """
    report = ImportReport(kind=table.kind, name=table.name)
    tick = progress or (lambda n: None)
    importer = _PeopleImport if table.kind == "people" else _AccountImport
    importer(actor, table, report, tick).run(apply, expected_digest)
    return report


def progress_steps(table: Table, apply: bool) -> int:
    """How many rows ``run_import`` reports to ``progress`` at most (for a progress bar's length)."""
    rehearsed = table.kind == "accounts"
    return len(table.rows) * (2 if apply or rehearsed else 1)


def import_csv(
    actor: Actor,
    kind: str,
    data: bytes | str,
    *,
    limits: Limits,
    name: str = "",
    apply: bool = False,
    expected_digest: str | None = None,
) -> ImportReport:
    """Read a file and run the import (see :func:`read_table` and :func:`run_import`)."""
    permissions.require(may_import(actor, kind), _IMPORT_DENIED[kind])
    return run_import(actor, read_table(kind, data, limits, name), apply=apply, expected_digest=expected_digest)


_IMPORT_DENIED = {
    "people": "Only HR and admins import the staff list.",
    "accounts": "Only IT and admins import accounts.",
}


def may_import(actor: Actor, kind: str) -> bool:
    """Whether the actor may import files of this kind (HR and admins: people; IT and admins: accounts)."""
    return permissions.can_edit_people(actor) if kind == "people" else permissions.can_edit_inventory(actor)


def may_export(actor: Actor, kind: str) -> bool:
    """People carry personal contact details: HR and admins. Accounts: everyone who reads the registry."""
    return permissions.can_edit_people(actor) if kind == "people" else permissions.can_read_registry(actor)


class _Import:
    kind = ""
    #: Whether a preview also runs the rows through the services (in a savepoint, rolled back) to
    #: list what their rules refuse. The people check is complete without it (and must stay fast).
    rehearse = False

    def __init__(self, actor: Actor, table: Table, report: ImportReport, tick: Progress) -> None:
        permissions.require(may_import(actor, table.kind), _IMPORT_DENIED[table.kind])
        self.actor = actor
        self.table = table
        self.report = report
        self.rows = _Rows(table, report)
        self.tick = tick

    def run(self, apply: bool, expected_digest: str | None) -> None:
        results = self.check()
        for row in self.table.rows:
            if row.problem:
                self.rows.problem(row.line, "", row.problem)
        if self.changes_pending() and (self.rehearse or (apply and self.report.ok)):
            # Written inside a savepoint: nothing stays written unless the whole file goes in.
            savepoint = db.session.begin_nested()
            try:
                self.write()
            except BaseException:
                savepoint.rollback()
                raise
            self.rows.finish(results)
            stale = expected_digest is not None and expected_digest != self.report.digest
            if apply and self.report.ok and not stale:
                self.record()
                savepoint.commit()
                self.report.applied = True
            else:
                savepoint.rollback()
                self.report.stale = stale
            return
        self.rows.finish(results)
        self.report.stale = expected_digest is not None and expected_digest != self.report.digest
        self.report.applied = apply and self.report.ok and not self.report.stale

    def check(self) -> list[RowResult]:
        raise NotImplementedError

    def changes_pending(self) -> bool:
        raise NotImplementedError

    def write(self) -> None:
        raise NotImplementedError

    def record(self) -> None:
        counts = {"added": self.report.added, "updated": self.report.updated, "unchanged": self.report.unchanged}
        audit.record_event(
            self.actor,
            f"import.{self.kind}",
            "import",
            None,
            f"Imported {self.kind} from {self.table.name or 'a CSV file'}: {self.report.summary()}",
            None,
            {"file": self.table.name, **counts},
        )

    def _load_departments(self) -> None:
        """Departments by name, without case: both kinds of file name them."""
        self.departments = {d.name.strip().casefold(): d for d in db.session.scalars(sa.select(Department))}

    def _department(self, row: Row) -> int | None:
        value = row.cells.get("department", "")
        if not value:
            return None
        department = self.departments.get(value.casefold())
        if department is None:
            self.rows.problem(
                row.line, "department", f"There is no department called {_q(value)}. Add it on the Departments page first."
            )
            return None
        return department.id

    def service_problem(self, line: int, error: ValidationFailed, columns: dict[str, str], prefix: str = "") -> None:
        """A service's refusal as problems of the row; not repeated on a column whose problem was found first."""
        if not error.field_errors:
            self.rows.problem(line, "", prefix + error.message)
        for name, messages in error.field_errors.items():
            column = columns.get(name.rpartition(".")[2], "")
            if (line, column) in self.rows.flagged and not prefix:
                continue
            for message in messages:
                self.rows.problem(line, column, prefix + message)


# --- People -------------------------------------------------------------------------------

#: A person in the plan: ("person", id) for someone on the staff list, ("line", n) for a new row.
Node = tuple[str, int]

_PERSON_COLUMNS = {
    "name": "name",
    "work_email": "work_email",
    "job_title": "job_title",
    "hr_id": "hr_id",
    "department_id": "department",
    "manager_id": "manager_email",
    "status": "status",
    "last_day": "last_day",
    "left_on": "left_on",
    "personal_email": "personal_email",
    "personal_phone": "personal_phone",
}


@dataclass(eq=False)
class _PersonPlan:
    row: Row
    result: RowResult
    #: The person the row is about, as a row of the staff list (None: the row adds someone).
    target: Any
    data: people.PersonData
    node: Node
    manager: Node | None = None
    manager_refs: tuple[str, str] | None = None
    #: The target's stored values (None for a new person).
    before: people.PersonData | None = None

    @cached_property
    def stored(self) -> people.PersonData:
        """The row's data as it would be stored (``people.normalise``), worked out once."""
        return people.normalise(self.data)


class _PeopleImport(_Import):
    kind = "people"

    def check(self) -> list[RowResult]:
        # The staff list as plain rows (id and the stored fields): the check compares a whole
        # staff list and needs no ORM object; write() loads the people it changes.
        everyone = db.session.execute(sa.select(Person.__table__)).all()
        self.by_id = {p.id: p for p in everyone}
        self.by_hr = {p.hr_id: p for p in everyone if p.hr_id}
        self.by_email = {p.work_email.strip().lower(): p for p in everyone}
        self._load_departments()
        self.department_names = {d.id: d.name for d in self.departments.values()}
        self.plans: list[_PersonPlan] = []
        for row in self.table.rows:
            if not row.problem:
                self.plans.append(self._plan(row))
            self.tick(1)
        self.new_rows = {p.node: p for p in self.plans if p.target is None}
        self._check_unique()
        self._resolve_managers()
        for plan in self.plans:
            if plan.row.line not in self.rows.failed:
                self._compare(plan)
        return [p.result for p in self.plans] + [
            RowResult(r.line, r.cells.get("hr_id") or r.cells.get("work_email", ""), r.cells.get("name", ""))
            for r in self.table.rows
            if r.problem
        ]

    def _plan(self, row: Row) -> _PersonPlan:
        t, rows = self.table, self.rows
        hr_id = _text(rows, row, "hr_id", Person)
        email = _email(rows, row, "work_email").lower()
        target = self.by_hr.get(hr_id) if hr_id else None
        if target is None and email in self.by_email:
            holder = self.by_email[email]
            if holder.hr_id and hr_id and holder.hr_id != hr_id:
                rows.problem(
                    row.line,
                    "work_email",
                    f"{email} belongs to {holder.name}, whose hr_id is {holder.hr_id}: the row's hr_id and work email "
                    "must name the same person.",
                )
            else:
                target = holder
        before = _person_data(target) if target else None
        base = before or people.PersonData(name="", work_email="")
        values: dict[str, Any] = {}
        if t.has("hr_id"):
            values["hr_id"] = hr_id or None
        values["name"] = _text(rows, row, "name", Person)
        values["work_email"] = email
        if t.has("job_title"):
            values["job_title"] = _text(rows, row, "job_title", Person)
        if t.has("department"):
            values["department_id"] = self._department(row)
        if t.has("status"):
            values["status"] = _choice(rows, row, "status", PersonStatus, PersonStatus.ACTIVE)
        for column in ("last_day", "left_on"):
            if t.has(column):
                values[column] = _date(rows, row, column)
        if t.has("personal_email"):
            values["personal_email"] = _email(rows, row, "personal_email") or None
        if t.has("personal_phone"):
            values["personal_phone"] = _text(rows, row, "personal_phone", Person) or None
        data = replace(base, **values)
        for name, messages in people.field_errors(data).items():
            if (row.line, _PERSON_COLUMNS[name]) in rows.flagged:
                continue  # already said, more precisely
            for message in messages:
                rows.problem(row.line, _PERSON_COLUMNS[name], message)
        plan = _PersonPlan(
            row=row,
            result=RowResult(row.line, hr_id or email, data.name.strip()),
            target=target,
            data=data,
            node=("person", target.id) if target else ("line", row.line),
            before=before,
        )
        if t.has("manager_hr_id") or t.has("manager_email"):
            plan.manager_refs = (row.cells.get("manager_hr_id", ""), row.cells.get("manager_email", "").lower())
        elif target is not None and target.manager_id is not None:
            plan.manager = ("person", target.manager_id)
        return plan

    def _check_unique(self) -> None:
        """No two people share a work email or hr_id, in the file or with the staff list; no person twice."""
        seen: dict[tuple[str, Any], int] = {}
        for plan in self.plans:
            line, data = plan.row.line, plan.stored
            if plan.target is not None:
                if (first := seen.get(("person", plan.target.id))) is not None:
                    self.rows.problem(line, "", f"This row is about {plan.target.name}, like line {first}.")
                seen.setdefault(("person", plan.target.id), line)
            holder = self.by_email.get(data.work_email)
            if (line, "work_email") in self.rows.flagged:
                pass  # said already
            elif holder is not None and holder is not plan.target:
                self.rows.problem(line, "work_email", f"{data.work_email} already belongs to {holder.name} on the staff list.")
            elif (first := seen.get(("email", data.work_email))) is not None and data.work_email:
                self.rows.problem(line, "work_email", f"{data.work_email} is also on line {first}.")
            seen.setdefault(("email", data.work_email), line)
            if data.hr_id:
                holder = self.by_hr.get(data.hr_id)
                if holder is not None and holder is not plan.target:
                    self.rows.problem(line, "hr_id", f"{holder.name} already has this HR id.")
                elif (first := seen.get(("hr", data.hr_id))) is not None:
                    self.rows.problem(line, "hr_id", f"The HR id {data.hr_id} is also on line {first}.")
                seen.setdefault(("hr", data.hr_id), line)

    def _resolve_managers(self) -> None:
        """Managers by hr_id or work email, as they will be once the file is in."""
        by_hr: dict[str, Node] = {p.hr_id: ("person", p.id) for p in self.by_hr.values() if p.hr_id}
        by_email: dict[str, Node] = {email: ("person", p.id) for email, p in self.by_email.items()}
        for plan in self.plans:
            if plan.target is not None:
                by_hr.pop(plan.target.hr_id or "", None)
                by_email.pop(plan.target.work_email.strip().lower(), None)
        for plan in self.plans:
            data = plan.stored
            if data.hr_id:
                by_hr.setdefault(data.hr_id, plan.node)
            by_email.setdefault(data.work_email, plan.node)
        for plan in self.plans:
            if plan.manager_refs is None:
                continue
            ref_hr, ref_email = plan.manager_refs
            line = plan.row.line
            found_hr = by_hr.get(ref_hr) if ref_hr else None
            found_email = by_email.get(ref_email) if ref_email else None
            if ref_hr and found_hr is None:
                self.rows.problem(line, "manager_hr_id", f"Nobody on the staff list or in this file has the HR id {_q(ref_hr)}.")
            if ref_email and found_email is None:
                self.rows.problem(
                    line, "manager_email", f"Nobody on the staff list or in this file has the work email {_q(ref_email)}."
                )
            if found_hr and found_email and found_hr != found_email:
                self.rows.problem(line, "manager_email", "manager_hr_id and manager_email name two different people.")
            plan.manager = found_hr or found_email
            if plan.manager is not None and plan.manager == plan.node:
                self.rows.problem(line, "manager_hr_id" if ref_hr else "manager_email", "A person cannot be their own manager.")

    def _manager_label(self, node: Node | None) -> str:
        if node is None:
            return ""
        if node[0] == "person":
            person = self.by_id.get(node[1]) or db.session.get(Person, node[1])
            return f"{person.name} ({person.work_email})" if person else ""
        plan = self.new_rows[node]
        return f"{plan.data.name.strip()} ({plan.stored.work_email}, line {node[1]})"

    def _compare(self, plan: _PersonPlan) -> None:
        after = plan.stored
        result = plan.result
        if plan.target is None:
            result.fate = Fate.ADD
            return
        before = people.normalise(plan.before or people.data_of(plan.target))
        current_manager = ("person", plan.target.manager_id) if plan.target.manager_id is not None else None
        for name in people.DATA_FIELDS:
            if name == "manager_id":
                if plan.manager != current_manager:
                    result.changes.append(
                        Change("manager", self._manager_label(current_manager), self._manager_label(plan.manager))
                    )
                continue
            old, new = getattr(before, name), getattr(after, name)
            if old != new:
                if name == "department_id":
                    old, new = self.department_names.get(old, ""), self.department_names.get(new, "")
                result.changes.append(Change(_PERSON_COLUMNS[name], _shown(old), _shown(new)))
        result.fate = Fate.UPDATE if result.changes else Fate.UNCHANGED

    def changes_pending(self) -> bool:
        return any(p.result.fate in (Fate.ADD, Fate.UPDATE) for p in self.plans)

    def write(self) -> None:
        """New people a level of management at a time (a manager before those they manage), then the
        updates; people in a loop of new managers get their manager once all of them exist. Each
        step is one batch written by the people service (multi-row inserts and updates)."""
        ids: dict[Node, int] = {}

        def manager_id(plan: _PersonPlan) -> int | None:
            if plan.manager is None:
                return None
            return plan.manager[1] if plan.manager[0] == "person" else ids[plan.manager]

        pending = [p for p in self.plans if p.result.fate is Fate.ADD]
        looped: list[_PersonPlan] = []
        while pending:
            ready = [p for p in pending if p.manager is None or p.manager[0] == "person" or p.manager in ids]
            if not ready:
                looped = ready = pending
            batch = [replace(p.data, manager_id=None if looped else manager_id(p)) for p in ready]
            try:
                created = people.create_people(self.actor, batch)
            except ValidationFailed as error:
                self._batch_problem(ready, error)
                return
            for plan, person_id in zip(ready, created, strict=True):
                ids[plan.node] = person_id
            self.tick(len(ready))
            done = {id(p) for p in ready}
            pending = [p for p in pending if id(p) not in done]
        updates = [p for p in self.plans if p.result.fate is Fate.UPDATE]
        wanted = sorted({plan.target.id for plan in updates} | {ids[plan.node] for plan in looped})
        loaded: dict[int, Person] = {}
        for first in range(0, len(wanted), 5_000):
            loaded.update(
                (p.id, p) for p in db.session.scalars(sa.select(Person).where(Person.id.in_(wanted[first : first + 5_000])))
            )
        changes = [(loaded[plan.target.id], replace(plan.data, manager_id=manager_id(plan))) for plan in updates]
        changes += [(loaded[ids[plan.node]], replace(plan.data, manager_id=manager_id(plan))) for plan in looped]
        try:
            people.update_people(self.actor, changes)
        except ValidationFailed as error:
            self._batch_problem(updates + looped, error)
            return
        self.tick(len(updates))
        self.tick(sum(1 for p in self.plans if p.result.fate is Fate.UNCHANGED) + len(self.table.rows) - len(self.plans))

    def _batch_problem(self, plans: list[_PersonPlan], error: ValidationFailed) -> None:
        for key, messages in error.field_errors.items():
            index, _, name = key.partition(".")
            line = plans[int(index)].row.line if index.isdigit() else 0
            for message in messages:
                self.rows.problem(line, _PERSON_COLUMNS.get(name, ""), message)
        if not error.field_errors:
            self.rows.problem(plans[0].row.line, "", error.message)


def _person_data(person: Person) -> people.PersonData:
    return people.data_of(person)


# --- Accounts -----------------------------------------------------------------------------

_ACCOUNT_COLUMNS = {
    "platform_id": "platform",
    "name": "name",
    "handle": "handle",
    "url": "url",
    "purpose": "purpose",
    "department_id": "department",
    "status": "status",
    "owner_profile_id": "owner_profile",
    "steward_id": "steward_email",
    "has_own_login": "has_own_login",
    "profile_id": "admins",
    "role_name": "admins",
    "value": "recovery_contacts",
    "person_id": "recovery_contacts",
    "kind": "recovery_contacts",
}


def profile_token(profile: Profile) -> str:
    """How a profile is written in the accounts format: its handle, or its name if it has none."""
    return _token(profile.handle, profile.name)


def _token(handle: str | None, name: str) -> str:
    return (handle or "").strip() or name.strip()


def _contact_key(kind: RecoveryKind, value: str) -> tuple[str, str]:
    value = value.strip()
    return kind.value, value.lower() if kind is RecoveryKind.EMAIL else value


@dataclass(eq=False)
class _AccountPlan:
    row: Row
    result: RowResult
    platform: Platform
    target: Account | None
    data: accounts.AccountData
    fields_changed: bool = False
    remove_admins: list[AccountAdmin] = field(default_factory=list)
    add_admins: list[tuple[Profile, str]] = field(default_factory=list)
    remove_contacts: list[RecoveryContact] = field(default_factory=list)
    add_contacts: list[tuple[RecoveryKind, str]] = field(default_factory=list)
    #: The admins and recovery contacts cells as the account will have them.
    admins_after: str = ""
    contacts_after: str = ""


class _AccountImport(_Import):
    kind = "accounts"
    #: The services' rules on roles, owners and handles are the ones a preview must show.
    rehearse = True

    def check(self) -> list[RowResult]:
        platforms = list(db.session.scalars(sa.select(Platform).order_by(Platform.name)))
        self.platforms: dict[str, Platform] = {}
        for platform in platforms:
            self.platforms.setdefault(platform.slug.casefold(), platform)
        for platform in platforms:
            self.platforms[platform.name.strip().casefold()] = platform
        self.platform_names = ", ".join(p.name for p in platforms)
        self._load_departments()
        self.people = {p.work_email.strip().lower(): p for p in db.session.scalars(sa.select(Person))}
        self.emails = {p.id: p.work_email for p in self.people.values()}
        self.department_names = {d.id: d.name for d in self.departments.values()}
        wanted = {
            p.id for row in self.table.rows if (p := self.platforms.get(row.cells.get("platform", "").casefold())) is not None
        }
        self.profiles: dict[int, list[Profile]] = {pid: [] for pid in wanted}
        for profile in db.session.scalars(sa.select(Profile).where(Profile.platform_id.in_(wanted))):
            self.profiles[profile.platform_id].append(profile)
        existing = db.session.scalars(
            sa.select(Account)
            .where(Account.platform_id.in_(wanted))
            .options(
                selectinload(Account.admins).selectinload(AccountAdmin.profile),
                selectinload(Account.recovery_contacts),
                selectinload(Account.department),
                selectinload(Account.owner_profile),
                selectinload(Account.steward),
            )
        )
        self.by_handle: dict[tuple[int, str], list[Account]] = {}
        self.by_name: dict[tuple[int, str], list[Account]] = {}
        for account in existing:
            if (account.handle or "").strip():
                self.by_handle.setdefault((account.platform_id, account.handle.strip().casefold()), []).append(account)
            else:
                self.by_name.setdefault((account.platform_id, account.name.strip().casefold()), []).append(account)
        self.plans: list[_AccountPlan] = []
        results: list[RowResult] = []
        seen: dict[tuple[Any, ...], int] = {}
        for row in self.table.rows:
            plan = None if row.problem else self._plan(row)
            if plan is None:
                cells = row.cells
                results.append(
                    RowResult(row.line, f"{cells.get('platform', '')} {cells.get('handle', '')}".strip(), cells.get("name", ""))
                )
            else:
                key = _account_key(plan)
                if (first := seen.get(key)) is not None:
                    self.rows.problem(row.line, "handle", f"This account is also on line {first}.")
                seen.setdefault(key, row.line)
                self.plans.append(plan)
                results.append(plan.result)
            self.tick(1)
        return results

    def _plan(self, row: Row) -> _AccountPlan | None:
        t, rows, line = self.table, self.rows, row.line
        platform_name = row.cells.get("platform", "")
        platform = self.platforms.get(platform_name.casefold())
        if platform is None:
            rows.problem(
                line,
                "platform",
                f"There is no platform called {_q(platform_name)}. The platforms are: {self.platform_names}."
                if platform_name
                else "Say which platform the account is on.",
            )
            return None
        handle = _text(rows, row, "handle", Account)
        name = _text(rows, row, "name", Account)
        target = self._find(row, platform, handle, name)
        base = _account_data(target) if target else accounts.AccountData(platform_id=platform.id, name="")
        values: dict[str, Any] = {"handle": handle, "name": name}
        if t.has("url"):
            values["url"] = _text(rows, row, "url", Account)
            if problem := urls.web_address_problem(values["url"]):
                rows.problem(row.line, "url", problem)
        if t.has("purpose"):
            values["purpose"] = row.cells["purpose"]
        if t.has("department"):
            values["department_id"] = self._department(row)
        if t.has("status"):
            values["status"] = _choice(rows, row, "status", AccountStatus, AccountStatus.ACTIVE)
        if t.has("owner_profile"):
            owner = self._profile(row, "owner_profile", platform, row.cells["owner_profile"])
            values["owner_profile_id"] = owner.id if owner else None
        if t.has("steward_email"):
            values["steward_id"] = self._steward(row)
        if t.has("has_own_login"):
            values["has_own_login"] = self._yes_no(row, "has_own_login")
        data = replace(base, **values)
        plan = _AccountPlan(
            row=row,
            result=RowResult(line, f"{platform.name} {handle}".strip(), name),
            platform=platform,
            target=target,
            data=data,
        )
        if t.has("admins"):
            self._plan_admins(plan)
        if t.has("recovery_contacts"):
            self._plan_contacts(plan)
        self._compare(plan)
        return plan

    def _find(self, row: Row, platform: Platform, handle: str, name: str) -> Account | None:
        """By platform + handle; else the platform's one account with no handle and this name."""
        found = self.by_handle.get((platform.id, handle.casefold()), []) if handle else []
        if not found:
            found = self.by_name.get((platform.id, name.casefold()), [])
        if len(found) > 1:
            what = f"the handle {handle}" if handle else f"no handle and the name {_q(name)}"
            self.rows.problem(
                row.line,
                "handle",
                f"{len(found)} {platform.name} accounts have {what}: give each its own handle on its page first.",
            )
            return None
        return found[0] if found else None

    def _steward(self, row: Row) -> int | None:
        value = row.cells.get("steward_email", "").lower()
        if not value:
            return None
        person = self.people.get(value)
        if person is None:
            self.rows.problem(row.line, "steward_email", f"Nobody on the staff list has the work email {_q(value)}.")
            return None
        return person.id

    def _yes_no(self, row: Row, column: str) -> bool:
        value = row.cells.get(column, "").lower()
        if value in _YES:
            return True
        if value not in _NO:
            self.rows.problem(row.line, column, f"{_q(row.cells[column])}: write yes or no.")
        return False

    def _profile(self, row: Row, column: str, platform: Platform, token: str) -> Profile | None:
        token = token.strip()
        if not token:
            return None
        wanted = token.casefold()
        found = [
            p
            for p in self.profiles.get(platform.id, [])
            if (p.handle or "").strip().casefold() == wanted or p.name.strip().casefold() == wanted
        ]
        if not found:
            self.rows.problem(
                row.line,
                column,
                f"There is no {platform.name} profile with the handle or name {_q(token)}. Add it on the Profiles page first.",
            )
            return None
        if len(found) > 1:
            self.rows.problem(
                row.line,
                column,
                f"{len(found)} {platform.name} profiles have the handle or name {_q(token)}: give them distinct handles first.",
            )
            return None
        return found[0]

    def _plan_admins(self, plan: _AccountPlan) -> None:
        line, platform = plan.row.line, plan.platform
        wanted: dict[int, tuple[Profile, str]] = {}
        for token, role in _list_items(plan.row.cells["admins"]):
            if not role:
                self.rows.problem(line, "admins", f"{_q(token)}: write the profile and its role as profile:role.")
                continue
            profile = self._profile(plan.row, "admins", platform, token)
            if profile is None:
                continue
            if profile.id in wanted:
                self.rows.problem(line, "admins", f"{_q(token)} is listed twice; a profile holds one role on an account.")
                continue
            role = next((r for r in platform.role_names or [] if r.casefold() == role.casefold()), role)
            limit = _max_length(AccountAdmin, "role_name")
            if limit and len(role) > limit:
                self.rows.problem(line, "admins", f"{_q(token)}: a role name has at most {limit} characters.")
                continue
            wanted[profile.id] = (profile, role)
        plan.admins_after = "; ".join(_pair(profile_token(p), role) for p, role in wanted.values())
        current = {a.profile_id: a for a in plan.target.admins} if plan.target else {}
        plan.remove_admins = [a for pid, a in current.items() if pid not in wanted or wanted[pid][1] != a.role_name]
        plan.add_admins = [(p, role) for pid, (p, role) in wanted.items() if pid not in current or current[pid].role_name != role]

    def _plan_contacts(self, plan: _AccountPlan) -> None:
        line = plan.row.line
        wanted: list[tuple[RecoveryKind, str]] = []
        for kind_name, value in _list_items(plan.row.cells["recovery_contacts"]):
            try:
                kind = RecoveryKind(kind_name.lower().replace(" ", "_").replace("-", "_"))
            except ValueError:
                kinds = ", ".join(k.value for k in RecoveryKind)
                self.rows.problem(
                    line, "recovery_contacts", f"{_q(kind_name)} is not a kind of recovery contact ({kinds}); write kind:value."
                )
                continue
            if not value:
                self.rows.problem(
                    line, "recovery_contacts", f"{_q(kind_name)}: give the address, number or name after the colon."
                )
                continue
            limit = _max_length(RecoveryContact, "value")
            if limit and len(value) > limit:
                self.rows.problem(line, "recovery_contacts", f"{_q(value)}: at most {limit} characters.")
                continue
            wanted.append((kind, value))
        plan.contacts_after = "; ".join(_pair(kind.value, value) for kind, value in wanted)
        unmatched = list(plan.target.recovery_contacts) if plan.target else []
        for kind, value in wanted:
            match = next((c for c in unmatched if _contact_key(c.kind, c.value) == _contact_key(kind, value)), None)
            if match is None:
                plan.add_contacts.append((kind, value))
            else:
                unmatched.remove(match)
        plan.remove_contacts = unmatched

    def _compare(self, plan: _AccountPlan) -> None:
        result = plan.result
        if plan.target is None:
            result.fate = Fate.ADD
            return
        before, after = _account_data(plan.target), plan.data
        for f in fields(accounts.AccountData):
            old, new = getattr(before, f.name), getattr(after, f.name)
            if isinstance(old, str):
                old, new = old.strip(), (new or "").strip()
            if old == new:
                continue
            plan.fields_changed = True
            result.changes.append(Change(_ACCOUNT_COLUMNS[f.name], self._label(f.name, old), self._label(f.name, new)))
        if plan.remove_admins or plan.add_admins:
            result.changes.append(Change("admins", _admins_cell(plan.target), plan.admins_after))
        if plan.remove_contacts or plan.add_contacts:
            result.changes.append(Change("recovery_contacts", _contacts_cell(plan.target), plan.contacts_after))
        result.fate = Fate.UPDATE if result.changes else Fate.UNCHANGED

    def _label(self, name: str, value: Any) -> str:
        if value is None:
            return ""
        if name == "department_id":
            return self.department_names.get(value, "")
        if name == "steward_id":
            return self.emails.get(value, "")
        if name == "owner_profile_id":
            profile = db.session.get(Profile, value)
            return profile_token(profile) if profile else ""
        return _shown(value)

    def changes_pending(self) -> bool:
        return any(p.result.fate in (Fate.ADD, Fate.UPDATE) for p in self.plans)

    def write(self) -> None:
        for plan in self.plans:
            if plan.result.fate not in (Fate.ADD, Fate.UPDATE):
                pass
            elif plan.row.line in self.rows.failed:
                self._rehearse_failed(plan)
            else:
                self._write(plan)
            self.tick(1)

    def _rehearse_failed(self, plan: _AccountPlan) -> None:
        """A row with problems already still goes past the services, for what else they would say;
        in a savepoint of its own, undone at once, as its bad values may be refused by the database
        (PostgreSQL refuses over-long text) and must not stop the rest of the rehearsal."""
        savepoint = db.session.begin_nested()
        try:
            self._write(plan)
            db.session.flush()
        except sa.exc.SQLAlchemyError:
            pass  # the row's own problems are reported already
        finally:
            savepoint.rollback()

    def _write(self, plan: _AccountPlan) -> None:
        line, actor = plan.row.line, self.actor
        try:
            if plan.target is None:
                account = accounts.create_account(actor, plan.data)
            else:
                account = plan.target
                if plan.fields_changed:
                    accounts.update_account(actor, account, plan.data, account.version)
        except ValidationFailed as error:
            self.service_problem(line, error, _ACCOUNT_COLUMNS)
            return
        for admin in plan.remove_admins:
            accounts.remove_admin(actor, account, admin.id)
        for profile, role in plan.add_admins:
            try:
                accounts.add_admin(actor, account, profile.id, role)
            except ValidationFailed as error:
                self.service_problem(line, error, _ACCOUNT_COLUMNS, f"{_q(_pair(profile_token(profile), role))}: ")
        for contact in plan.remove_contacts:
            accounts.remove_recovery_contact(actor, account, contact.id)
        for kind, value in plan.add_contacts:
            try:
                accounts.add_recovery_contact(actor, account, kind, value)
            except ValidationFailed as error:
                self.service_problem(line, error, _ACCOUNT_COLUMNS, f"{_q(_pair(kind.value, value))}: ")


def _admins_cell(account: Account) -> str:
    return "; ".join(_admin_item(a.profile.handle, a.profile.name, a.role_name) for a in account.admins)


def _contacts_cell(account: Account) -> str:
    return "; ".join(_contact_item(c.kind, c.value) for c in account.recovery_contacts)


def _admin_item(handle: str | None, name: str, role: str) -> str:
    return _pair(_token(handle, name), role)


def _contact_item(kind: RecoveryKind, value: str) -> str:
    return _pair(kind.value, value)


def _account_key(plan: _AccountPlan) -> tuple[Any, ...]:
    """What makes two rows the same account: the account they update, or the new account's identity."""
    if plan.target is not None:
        return ("account", plan.target.id)
    handle = plan.data.handle.strip().casefold()
    return ("new", plan.platform.id, handle, "" if handle else plan.data.name.strip().casefold())


def _account_data(account: Account) -> accounts.AccountData:
    return accounts.AccountData(**{f.name: getattr(account, f.name) for f in fields(accounts.AccountData)})


# --- Exporting ----------------------------------------------------------------------------


def _csv(columns: Sequence[Column], batches: Iterable[Iterable[Sequence[Any]]]) -> Iterator[str]:
    """The file a batch of rows at a time: a byte-order mark (so Excel reads UTF-8), the header,
    CRLF line ends, each cell escaped so that an import reads back what was exported."""
    return exports.csv_chunks([c.name for c in columns], batches, cell=_exported_cell)


def _exported_cell(value: Any) -> str:
    return escape_cell(_shown(value))


def export_csv(actor: Actor, kind: str) -> Iterator[str]:
    """Every person, or every account, in the import format (import it back and nothing changes),
    as chunks for a response that streams.

    Never carries a secret: credential notes are not part of either format. Raises PermissionDenied
    (people: HR and admins, as the file holds personal contact details; accounts: registry readers)
    here, before the first chunk.
    """
    if kind == "people":
        permissions.require(
            may_export(actor, kind), "Only HR and admins export the staff list: it holds personal contact details."
        )
        return _csv(PEOPLE_COLUMNS, _people_batches())
    permissions.require(may_export(actor, kind), "Only the roles that read the whole registry export accounts.")
    return _csv(ACCOUNT_COLUMNS, _account_batches())


_EXPORT_MANAGER = sa.orm.aliased(Person, name="manager")
_EXPORT_PEOPLE = (
    sa.select(
        Person.id,  # then the file's columns, in order
        Person.hr_id,
        Person.name,
        Person.work_email,
        Person.job_title,
        Department.name,
        _EXPORT_MANAGER.hr_id,
        _EXPORT_MANAGER.work_email,
        Person.status,
        Person.last_day,
        Person.left_on,
        Person.personal_email,
        Person.personal_phone,
    )
    .outerjoin(Department, Person.department_id == Department.id)
    .outerjoin(_EXPORT_MANAGER, Person.manager_id == _EXPORT_MANAGER.id)
    .order_by(Person.name, Person.id)
)


def _people_batches() -> Iterator[list[list[Any]]]:
    """Every person in name order, EXPORT_BATCH at a time, as plain rows."""
    for rows in _in_name_order(_EXPORT_PEOPLE, name_at=2):
        yield [list(row[1:]) for row in rows]


def _in_name_order(stmt: sa.Select, name_at: int, params: dict[str, Any] | None = None) -> Iterator[Sequence[sa.Row]]:
    """The rows of ``stmt`` (ordered by name then id; the id its first column, the name at
    ``name_at``), EXPORT_BATCH at a time: each batch read on from the last row of the one before,
    through the name index, however far into the list it is."""
    name, row_id = stmt.selected_columns[name_at], stmt.selected_columns[0]
    batch = stmt
    while True:
        rows = db.session.execute(batch.limit(EXPORT_BATCH), params or {}).all()
        if rows:
            yield rows
        if len(rows) < EXPORT_BATCH:
            return
        batch = stmt.where(sa.tuple_(name, row_id) > sa.tuple_(sa.literal(rows[-1][name_at]), sa.literal(rows[-1][0])))


#: People or accounts written at a time by the export: for accounts, a statement for them and one
#: each for their roles and recovery contacts (all 200,000 as objects at once took 36 s and 1.87 GB).
EXPORT_BATCH = 1_000

_EXPORT_OWNER = sa.orm.aliased(Profile, name="owner")
_EXPORT_STEWARD = sa.orm.aliased(Person, name="steward")
_EXPORT_ACCOUNTS = (
    sa.select(
        Account.id,
        Account.name,
        Account.handle,
        Account.url,
        Account.purpose,
        Department.name,
        Account.status,
        _EXPORT_OWNER.handle,
        _EXPORT_OWNER.name,
        _EXPORT_STEWARD.work_email,
        Account.has_own_login,
    )
    .outerjoin(Department, Account.department_id == Department.id)
    .outerjoin(_EXPORT_OWNER, Account.owner_profile_id == _EXPORT_OWNER.id)
    .outerjoin(_EXPORT_STEWARD, Account.steward_id == _EXPORT_STEWARD.id)
    .where(Account.platform_id == sa.bindparam("platform"))
    .order_by(Account.name, Account.id)
)


def _account_batches() -> Iterator[list[list[Any]]]:
    """Every account in platform then name order, a batch at a time: each platform's accounts read
    on from the last one written, through the (platform, name) index, as plain rows."""
    for platform_id, platform_name in db.session.execute(sa.select(Platform.id, Platform.name).order_by(Platform.name)):
        for rows in _in_name_order(_EXPORT_ACCOUNTS, name_at=1, params={"platform": platform_id}):
            admins, contacts = _grouped_roles_and_contacts([r[0] for r in rows])
            yield [
                [
                    platform_name,
                    handle,
                    name,
                    url,
                    purpose,
                    department,
                    status,
                    _token(owner_handle, owner_name) if owner_name is not None else None,
                    steward_email,
                    own_login,
                    "; ".join(admins.get(account_id, ())),
                    "; ".join(contacts.get(account_id, ())),
                ]
                for (
                    account_id,
                    name,
                    handle,
                    url,
                    purpose,
                    department,
                    status,
                    owner_handle,
                    owner_name,
                    steward_email,
                    own_login,
                ) in rows
            ]


def _grouped_roles_and_contacts(ids: list[int]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """The cells' items of these accounts, as ``_admins_cell`` and ``_contacts_cell`` write them."""
    admins: dict[int, list[str]] = {}
    for account_id, handle, name, role in db.session.execute(
        sa.select(AccountAdmin.account_id, Profile.handle, Profile.name, AccountAdmin.role_name)
        .join(Profile, AccountAdmin.profile_id == Profile.id)
        .where(AccountAdmin.account_id.in_(ids))
        .order_by(AccountAdmin.id)
    ):
        admins.setdefault(account_id, []).append(_admin_item(handle, name, role))
    contacts: dict[int, list[str]] = {}
    for account_id, kind, value in db.session.execute(
        sa.select(RecoveryContact.account_id, RecoveryContact.kind, RecoveryContact.value)
        .where(RecoveryContact.account_id.in_(ids))
        .order_by(RecoveryContact.id)
    ):
        contacts.setdefault(account_id, []).append(_contact_item(kind, value))
    return admins, contacts
