"""The teacher-label record: per-policy probabilities, a rationale, and provenance.

One JSONL row per listing::

    {"id": "lst-00001", "labels": {"weapons": 1, "drugs": 0, ...}, "rationale": "...",
     "provenance": {"backend": "replay", "model": "...", "prompt_version": "...", "time": "..."}}

``labels`` may give, for every policy id, a probability in [0, 1] (a hard label is 0 or 1, booleans
count), a vote count ``{"votes": 2, "total": 3}`` or a list of 0/1 votes (both become fractions); or it
may be the list of violated policy ids (hard labels). A policy id outside the policy is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from moddistill.data.policy import Policy
from moddistill.data.records import ReadReport, Row, read_records, record_id, unique_ids


@dataclass(frozen=True)
class TeacherLabel:
    id: str
    probs: Mapping[str, float]  # every policy id -> probability of violation
    rationale: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def vector(self, policy_ids: tuple[str, ...]) -> list[float]:
        return [float(self.probs[p]) for p in policy_ids]

    def violated(self, threshold: float = 0.5) -> list[str]:
        return [p for p, v in self.probs.items() if v >= threshold]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "labels": dict(self.probs), "rationale": self.rationale, "provenance": dict(self.provenance)}


def parse_teacher_row(row: Row, policy: Policy) -> TeacherLabel:
    d = row.data
    rid = record_id(row)
    labels = d.get("labels")
    if labels is None:
        raise row.error("labels", "missing")
    probs = _probs(row, labels, policy.ids)
    rationale = d.get("rationale") or ""
    if not isinstance(rationale, str):
        raise row.error("rationale", "expected text")
    provenance = d.get("provenance") or {}
    if not isinstance(provenance, Mapping):
        raise row.error("provenance", "expected a mapping")
    return TeacherLabel(rid, probs, rationale.strip(), dict(provenance))


def read_teacher_labels(
    path: str | Path, policy: Policy, *, on_error: str = "raise", rejects_path: str | Path | None = None
) -> tuple[dict[str, TeacherLabel], ReadReport]:
    labels, report = read_records(path, unique_ids(lambda row: parse_teacher_row(row, policy), "label"),
                                  on_error=on_error, rejects_path=rejects_path)
    return {lab.id: lab for lab in labels}, report


def _probs(row: Row, labels: Any, policy_ids: tuple[str, ...]) -> dict[str, float]:
    if isinstance(labels, list):  # the list of violated policy ids: hard labels
        unknown = [p for p in labels if p not in policy_ids]
        if unknown:
            raise row.error("labels", f"policy id {unknown[0]!r} is not in the policy")
        return {p: float(p in labels) for p in policy_ids}
    if not isinstance(labels, Mapping):
        raise row.error("labels", "expected a mapping of policy id to probability, or a list of policy ids")
    for key in labels:
        if key not in policy_ids:
            raise row.error(f"labels.{key}", "policy id is not in the policy")
    out = {}
    for pid in policy_ids:
        if pid not in labels:
            raise row.error(f"labels.{pid}", "missing (every policy needs a probability)")
        out[pid] = _prob(row, f"labels.{pid}", labels[pid])
    return out


def _prob(row: Row, where: str, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, Mapping):  # vote counts
        votes, total = value.get("votes"), value.get("total")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (votes, total)) or not 0 <= votes <= total or total == 0:
            raise row.error(where, f"expected {{'votes': k, 'total': n}} with 0 <= k <= n and n > 0, got {dict(value)}")
        return votes / total
    if isinstance(value, list):  # individual 0/1 votes
        if not value or not all(isinstance(v, int) and v in (0, 1) for v in value):
            raise row.error(where, f"expected a non-empty list of 0/1 votes, got {value!r}")
        return sum(int(v) for v in value) / len(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise row.error(where, f"expected a probability in [0, 1], got {value!r}")
    return float(value)
