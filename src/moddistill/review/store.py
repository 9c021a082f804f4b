"""The review store: every verdict an expert gives in the console, one SQLite row each, in WAL mode.

Nothing is overwritten: a reviewer deciding again adds a row, and two reviewers on one listing are two rows.
What stands is settled exactly as ``teacher/expert_verdicts.py`` settles verdict files (the later time of the same
reviewer wins; reviewers who disagree are a conflict), by reading the store's export with that module. Each verdict
is committed (``synchronous=FULL``) before the console answers the reviewer, so a server killed mid-session loses
no verdict it has acknowledged. An *escalation* ("not mine to decide") is stored too, but it is no verdict: the
export, which is the documented verdict JSONL, leaves it out.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from moddistill.data.policy import Policy
from moddistill.data.records import Row, read_records, write_jsonl
from moddistill.errors import UserError
from moddistill.teacher.expert_verdicts import (
    ExpertVerdict,
    ExpertVerdicts,
    parse_verdict_row,
    read_expert_verdicts,
)

ALLOW, VIOLATES, ESCALATE = "allow", "violates", "escalate"
DECISIONS = (ALLOW, VIOLATES, ESCALATE)
CONSOLE = "console"  # the origin of a verdict given in the console (an imported one names its file)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('allow', 'violates', 'escalate')),
    violations TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    time TEXT NOT NULL,
    note TEXT NOT NULL,
    origin TEXT NOT NULL,
    UNIQUE (id, decision, violations, reviewer, time)
)"""


class UnknownItem(UserError, LookupError):
    """A verdict for a listing that is not in the review queue."""


@dataclass(frozen=True)
class StoredVerdict:
    id: str
    decision: str  # ALLOW | VIOLATES | ESCALATE
    violations: tuple[str, ...]  # in policy order; () for allow and escalate
    reviewer: str
    time: str  # ISO 8601, as the verdict format writes it
    note: str = ""
    origin: str = CONSOLE

    def verdict_row(self) -> dict:
        """The documented verdict JSONL row (``teacher/expert_verdicts.py``)."""
        row = {"id": self.id, "violations": list(self.violations), "reviewer": self.reviewer, "time": self.time}
        return row | ({"note": self.note} if self.note else {})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_verdict(known_ids: set[str], policy: Policy, *, id: str, decision: str,
                 violations: list[str], reviewer: str, note: str = "", time: str | None = None) -> StoredVerdict:
    """A verdict checked as the verdict reader checks a file's row (policy ids, reviewer, time), for a listing in
    the queue: an unknown listing raises ``UnknownItem``, anything else a ``RowError`` naming the field."""
    if id not in known_ids:
        raise UnknownItem(f"listing {id!r} is not in this review queue")
    row = Row(CONSOLE, "verdict", {"id": id, "violations": violations, "reviewer": reviewer,
                                   "time": time or now(), "note": note})
    if decision not in DECISIONS:
        raise row.error("decision", f"expected one of {', '.join(DECISIONS)}, got {decision!r}")
    if decision == VIOLATES and not violations:
        raise row.error("violations", "a 'violates' verdict names at least one policy (or decide allow)")
    if decision != VIOLATES and violations:
        raise row.error("violations", f"a {decision!r} verdict names no policy")
    v = parse_verdict_row(row, policy)
    return StoredVerdict(v.id, decision, v.violations, v.reviewer, v.time, v.note)


class VerdictStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection per use (the console serves requests from several threads), committed on the way out."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA synchronous=FULL")
            with db:
                yield db
        finally:
            db.close()

    def add(self, verdicts: Iterable[StoredVerdict]) -> int:
        """Store the verdicts in one transaction; returns how many were new (an identical row is stored once, so
        importing a file twice adds nothing)."""
        with self._connect() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO verdicts (id, decision, violations, reviewer, time, note, origin) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(v.id, v.decision, json.dumps(list(v.violations)), v.reviewer, v.time, v.note, v.origin)
                            for v in verdicts])
            return db.total_changes - before

    def all(self) -> list[StoredVerdict]:
        """Every stored verdict and escalation, in the order they were stored."""
        with self._connect() as db:
            rows = db.execute("SELECT id, decision, violations, reviewer, time, note, origin FROM verdicts "
                              "ORDER BY seq").fetchall()
        return [StoredVerdict(i, d, tuple(json.loads(v)), r, t, n, o) for i, d, v, r, t, n, o in rows]

    def export(self, path: str | Path) -> int:
        """Write the verdict JSONL (escalations left out) through a temporary file; returns the rows written."""
        rows = [v.verdict_row() for v in self.all() if v.decision != ESCALATE]
        write_jsonl(path, rows)
        return len(rows)

    def settle(self, policy: Policy) -> ExpertVerdicts:
        """What stands, per listing, read back by ``read_expert_verdicts`` from the export: its settlement and
        conflicts, not another one."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "review_store.jsonl"
            self.export(path)
            return read_expert_verdicts([path], policy)


def read_verdict_file(path: str | Path, policy: Policy, known_ids: set[str], *, origin: str) -> list[StoredVerdict]:
    """A verdict JSONL file as stored verdicts, every row checked by the verdict reader; a row for a listing outside
    the queue refuses the whole file (nothing stored), naming its line."""
    rows = read_records(path, lambda row: parse_verdict_row(row, policy), allow_empty=True)[0]
    for v in rows:
        if v.id not in known_ids:
            raise UnknownItem(f"{v.source}, field 'id': listing {v.id!r} is not in this review queue")
    return [stored(v, origin) for v in rows]


def stored(v: ExpertVerdict, origin: str) -> StoredVerdict:
    """A verdict read from a file, as the store keeps it."""
    return StoredVerdict(v.id, VIOLATES if v.violations else ALLOW, v.violations, v.reviewer, v.time, v.note, origin)
