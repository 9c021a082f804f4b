"""A persistent request cache, so no answer is paid for twice.

Keyed by the SHA-256 of the full request (model, messages, every generation parameter, the sample index
and the attempt number); each answer is committed the moment it arrives, in WAL mode, so a run killed
with SIGKILL loses no finished answer and a rerun makes no call for anything already answered. Only
answers are stored (not the prompts, which would make the cache many times larger), and never
credentials: the API key is not part of a request body.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Mapping


def request_key(body: Mapping[str, Any], *, sample: int, attempt: int) -> str:
    canonical = json.dumps({"body": body, "sample": sample, "attempt": attempt}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RequestCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit: one write, one commit
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; fsync at checkpoints
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, answer: Mapping[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)",
                         (key, json.dumps(answer, ensure_ascii=False)))

    def get_meta(self, key: str) -> str | None:
        """A remembered fact about a server (e.g. the structured-output form it accepts), or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RequestCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
