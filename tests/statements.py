"""Counting the SQL statements a request sends, each finding rule's apart from the page's own.

A page that shows findings evaluates only the rules the finding index holds for the rows it
shows (``FindingFilters.rule_ids``): which rules run depends on what those rows are, not on how
many accounts the registry has. What must not grow with the registry is the page's own statements
and the statements of each rule that runs; ``growth`` compares those.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.services import findings


@dataclass
class Statements:
    total: int = 0
    #: A rule's evaluator (by function name: two rules may share one) → the statements it sent.
    by_rule: Counter[str] = field(default_factory=Counter)

    @property
    def own(self) -> int:
        """The statements sent outside every rule's evaluation."""
        return self.total - sum(self.by_rule.values())


def growth(small: Statements, large: Statements) -> dict[str, tuple[int, int]]:
    """What cost differently at the two sizes: the page's own statements, and each rule run at both."""
    grown = {"page": (small.own, large.own)} if small.own != large.own else {}
    for rule in small.by_rule.keys() & large.by_rule.keys():
        if small.by_rule[rule] != large.by_rule[rule]:
            grown[rule] = (small.by_rule[rule], large.by_rule[rule])
    return grown


@contextmanager
def counting(engine: sa.Engine) -> Iterator[Statements]:
    """Every statement sent to ``engine`` while inside, and which rule's evaluation sent it."""
    counted = Statements()
    running: list[str] = []

    def count(*_: Any) -> None:
        counted.total += 1
        if running:
            counted.by_rule[running[-1]] += 1

    def labelled(evaluator: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            running.append(evaluator.__name__)
            try:
                return evaluator(*args, **kwargs)
            finally:
                running.pop()

        return run

    originals = dict(findings.EVALUATORS)
    # One wrapper per evaluator, so two rules sharing one still run it once (evaluate() skips an
    # evaluator it has seen).
    wrappers = {evaluator: labelled(evaluator) for evaluator in set(originals.values())}
    findings.EVALUATORS.update({rule_id: wrappers[evaluator] for rule_id, evaluator in originals.items()})
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        findings.EVALUATORS.update(originals)


@contextmanager
def recording(engine: sa.Engine, keep: Callable[[str], bool]) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent to ``engine`` while inside that ``keep`` accepts, each with its
    parameters (to read its plan with EXPLAIN)."""
    kept: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if keep(statement):
            kept.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield kept
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


#: Switched off by ``plan(…, sortless=True)`` on PostgreSQL: sorts, and the scans and joins whose
#: rows must be sorted afterwards.
_SORTING = ("seqscan", "bitmapscan", "sort", "incremental_sort", "mergejoin", "hashjoin")


def plan(statement: str, parameters: Any, *, sortless: bool = False) -> list[str]:
    """The plan of a recorded statement, one line a step: SQLite's EXPLAIN QUERY PLAN, or
    PostgreSQL's EXPLAIN. ``sortless`` (PostgreSQL): for the rest of the transaction, ask whether
    the order can be read without a sort at all (on a table of a few rows its costs may prefer a
    sort whatever the indexes; a sort is then chosen only where no index gives the order)."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        return [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    if sortless:
        for setting in _SORTING:
            connection.exec_driver_sql(f"SET LOCAL enable_{setting} = off")
    return [row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
