"""docs/security-requirements.md names a row for every requirement and only test files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "security-requirements.md"


def test_every_requirement_has_a_row_naming_existing_tests() -> None:
    text = MAP.read_text(encoding="utf-8")
    rows = {int(n): line for n, line in re.findall(r"^\| SR-(\d\d) \|(.*)$", text, flags=re.MULTILINE)}
    assert sorted(rows) == list(range(1, 39)), "every SR-01 … SR-38 needs exactly one row"
    for number, line in rows.items():
        named = re.findall(r"`((?:tests/[\w/]+\.py)|Makefile)`", line)
        assert named, f"SR-{number:02d} names no test"
        missing = [path for path in named if not (ROOT / path).is_file()]
        assert not missing, f"SR-{number:02d} names files that do not exist: {missing}"
