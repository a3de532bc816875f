"""Crash safety (SR-36): a server killed with SIGKILL while it writes loses nothing it acknowledged.

A real server process (tests/integration/crash_server.py) serves the JSON API on the test's
database; three client threads keep adding people through POST /api/v1/people and record every
write answered 201 with its id. At a random moment the server is killed with SIGKILL, a new one
is started, and the writers go on: RUNS times. Then the database must be intact (SQLite
``PRAGMA integrity_check`` = ok; PostgreSQL: amcheck finds every B-tree index consistent),
every acknowledged person present with the email sent, no partial write (each person has its
audit event and each event its person), and the audit chain valid. The figures are printed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, Person
from app.services import api_tokens, audit
from app.services.context import Actor

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash-kill")]

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("HANDOVER_CRASH_RUNS", "25"))
WRITERS = 3
#: The server lives this long (seconds, uniformly drawn) before it is killed.
LIFETIME = (0.05, 0.6)


@dataclass
class Tally:
    acknowledged: dict[int, str] = field(default_factory=dict)
    attempted: int = 0
    #: Answers other than 201 (status -> count), and requests cut off by the kill.
    other: Counter[int] = field(default_factory=Counter)
    cut_off: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Launcher:
    """The launcher process: forks a fresh server on each ``serve()``."""

    def __init__(self, url: str, log: IO[str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_server", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line, "the crash-test launcher stopped (see its log above)"
        return line

    def serve(self) -> tuple[int, int]:
        assert self.process.stdin is not None
        self.process.stdin.write("serve\n")
        self.process.stdin.flush()
        word, pid, port = self._line().split()
        assert word == "serving"
        return int(pid), int(port)

    def reaped(self, pid: int) -> int:
        word, ended, sig = self._line().split()
        assert (word, int(ended)) == ("ended", pid)
        return int(sig)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _writer(port: int, token: str, run: int, writer: int, stop: threading.Event, tally: Tally) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        email = f"crash.r{run}.w{writer}.n{n}@example.org"
        body = json.dumps({"name": f"Crash R{run} W{writer} N{n}", "work_email": email})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        with tally.lock:
            tally.attempted += 1
        try:
            conn.request("POST", "/api/v1/people", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            with tally.lock:
                tally.cut_off += 1
            return  # the server is gone: this write was never acknowledged
        finally:
            conn.close()
        with tally.lock:
            if response.status == 201:
                tally.acknowledged[int(json.loads(payload)["id"])] = email
            else:
                tally.other[response.status] += 1


def _integrity(url: str) -> str:
    """SQLite: PRAGMA integrity_check. PostgreSQL: amcheck over every B-tree index of the schema."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        finally:
            conn.close()
    try:
        with db.session.begin_nested():
            db.session.execute(sa.text("CREATE EXTENSION IF NOT EXISTS amcheck"))
    except sa.exc.DBAPIError:
        # A server without the extension (or a user who may not create it): every row read instead.
        for table in db.metadata.sorted_tables:
            db.session.execute(sa.select(sa.func.count()).select_from(table))
        db.session.rollback()
        return f"ok (amcheck not available: {len(db.metadata.sorted_tables)} tables read through)"
    try:
        indexes = db.session.scalars(
            sa.text(
                "SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE am.amname = 'btree' AND n.nspname = current_schema()"
            )
        ).all()
        for oid in indexes:
            db.session.execute(sa.text("SELECT bt_index_parent_check(:oid, true)"), {"oid": oid})
        return f"ok ({len(indexes)} indexes checked)"
    finally:
        db.session.rollback()
        db.session.execute(sa.text("DROP EXTENSION IF EXISTS amcheck"))
        db.session.commit()


def test_killing_a_writing_server_loses_no_acknowledged_write(app: Flask, tmp_path: Path, record_property: Any) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    _, token = api_tokens.create_token(Actor.system(), "Crash test", ["people:write"], 1)
    db.session.commit()
    seed = int(os.environ.get("HANDOVER_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    tally = Tally()
    kills = 0
    started = time.perf_counter()
    with open(tmp_path / "server.log", "w+") as log:
        launcher = Launcher(url, log)
        try:
            for run in range(RUNS):
                pid, port = launcher.serve()
                stop = threading.Event()
                threads = [
                    threading.Thread(target=_writer, args=(port, token, run, w, stop, tally), daemon=True) for w in range(WRITERS)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(rng.uniform(*LIFETIME))
                os.kill(pid, signal.SIGKILL)
                stop.set()
                assert launcher.reaped(pid) == signal.SIGKILL
                kills += 1
                for thread in threads:
                    thread.join(timeout=20)
                    assert not thread.is_alive()
        finally:
            launcher.close()
            log.seek(0)
            server_log = log.read()
    seconds = time.perf_counter() - started

    db.session.remove()
    integrity = _integrity(url)
    stored = dict(db.session.execute(sa.select(Person.id, Person.work_email).where(Person.id.in_(tally.acknowledged))).all())
    lost = {person_id: email for person_id, email in tally.acknowledged.items() if stored.get(person_id) != email}
    people = set(db.session.scalars(sa.select(Person.id)))
    logged = set(db.session.scalars(sa.select(AuditEvent.object_id).where(AuditEvent.action == "person.create")))
    checked, broken = audit.verify_chain()
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    figures = (
        f"[{db.engine.dialect.name}] crash test (seed {seed}): {kills} runs killed with SIGKILL in {seconds:.1f} s, "
        f"{tally.attempted:,} writes sent, {len(tally.acknowledged):,} acknowledged, {len(stored):,} of them present, "
        f"lost: {len(lost)}; {tally.cut_off} cut off by a kill, {len(people) - len(tally.acknowledged)} stored without an "
        f"answer; other answers {dict(tally.other) or 'none'}; integrity: {integrity}; audit chain: {checked:,} events, "
        f"{'intact' if broken is None else f'broken at {broken}'}"
    )
    print("\n" + figures)
    record_property("figures", figures)
    assert kills >= 20 and kills == RUNS
    assert len(tally.acknowledged) >= RUNS, "too few writes were acknowledged for the test to mean anything"
    assert integrity.startswith("ok"), integrity
    assert not lost, f"acknowledged but missing or different: {list(lost.items())[:5]}"
    assert people == logged, "a person without its audit event, or an event without its person (a partial write)"
    assert broken is None and checked == events
    assert not any(status >= 500 for status in tally.other), f"server errors: {dict(tally.other)}\n{server_log[-3000:]}"
    verify = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
