"""Expert verdicts: a reviewer's decision on a listing, which overrides the teacher's label in training and is the
ground truth of an audit (``scripts/audit.py``).

One JSONL row per decision::

    {"id": "lst-00042", "violations": ["weapons"], "reviewer": "ana", "time": "2024-05-02T14:03:00Z",
     "note": "replica sold as real"}

- ``id``: the listing's id;
- ``violations``: the policy ids the listing violates, ``[]`` when it violates none; every id must be in the policy
  (an unknown one is an error naming file, line and field, e.g. ``violations[1]``);
- ``reviewer``: who decided (any non-empty text);
- ``time``: when, ISO 8601 (``2024-05-02T14:03:00Z``, ``2024-05-02T16:03:00+02:00``, ``2024-05-02``); a time
  without an offset is taken as UTC;
- ``note``: optional text, kept as the label's rationale.

Several files may be read together (one per review round or reviewer). Per listing:

- the same reviewer twice: the later ``time`` wins (a reviewer correcting themselves; equal times: the row read last);
- several reviewers who agree on the set of violations: one verdict (its provenance names them all);
- reviewers who disagree: a *conflict*. It is reported (count, and the first few in the log) and the listing gets
  no expert verdict, so training keeps the teacher's label: a disagreement between experts is theirs to settle,
  not ours to resolve by a rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from moddistill.data.policy import Policy
from moddistill.data.records import ReadReport, Row, read_records, record_id
from moddistill.provenance import sha256_file
from moddistill.teacher.labels import TeacherLabel

log = logging.getLogger(__name__)
SHOWN_CONFLICTS = 5  # conflicts listed in the log and the report; all are counted


@dataclass(frozen=True)
class ExpertVerdict:
    id: str
    violations: tuple[str, ...]  # in policy order
    reviewer: str
    time: str  # as written
    at: datetime  # ``time`` parsed, timezone-aware
    note: str = ""
    source: str = ""  # "file, line N"


@dataclass(frozen=True)
class Conflict:
    id: str
    verdicts: dict[str, list[str]]  # reviewer -> the violations they decided (their latest verdict)

    def summary(self) -> str:
        return f"{self.id}: " + "; ".join(f"{r} {v or 'none'}" for r, v in self.verdicts.items())


@dataclass
class ExpertVerdicts:
    """What stands after several files are read: one verdict per listing, conflicts left out."""

    standing: dict[str, ExpertVerdict]  # listing id -> the latest of the agreeing reviewers' verdicts
    reviewers: dict[str, list[str]]  # listing id -> every reviewer who agreed on it
    conflicts: list[Conflict]
    reports: list[ReadReport]
    superseded: int = 0  # a reviewer's earlier verdicts replaced by their later one
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256

    def summary(self) -> dict[str, Any]:
        return {"files": self.files, "read": sum(r.read for r in self.reports),
                "rejected": sum(r.rejected for r in self.reports), "superseded": self.superseded,
                "listings": len(self.standing), "conflicts": len(self.conflicts),
                "conflict_examples": [c.summary() for c in self.conflicts[:SHOWN_CONFLICTS]]}


def parse_verdict_row(row: Row, policy: Policy) -> ExpertVerdict:
    d = row.data
    rid = record_id(row)
    violations = d.get("violations")
    if violations is None:
        raise row.error("violations", "missing (use [] for a listing that violates no policy)")
    if not isinstance(violations, list):
        raise row.error("violations", f"expected a list of policy ids, got {violations!r}")
    for i, pid in enumerate(violations):
        if pid not in policy.ids:
            raise row.error(f"violations[{i}]", f"policy id {pid!r} is not in the policy {policy.id}")
    reviewer = d.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise row.error("reviewer", "missing" if reviewer in (None, "") else f"expected text, got {reviewer!r}")
    time = d.get("time")
    if time in (None, ""):
        raise row.error("time", "missing")
    try:
        at = datetime.fromisoformat(time) if isinstance(time, str) else None
    except ValueError:
        at = None
    if at is None:
        raise row.error("time", f"expected an ISO 8601 time such as '2024-05-02T14:03:00Z', got {time!r}")
    note = d.get("note") or ""
    if not isinstance(note, str):
        raise row.error("note", "expected text")
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return ExpertVerdict(rid, tuple(p for p in policy.ids if p in violations), reviewer.strip(), time,
                         at, note.strip(), f"{row.file}, {row.location}")


def read_expert_verdicts(
    paths: Iterable[str | Path], policy: Policy, *, on_error: str = "raise", rejects_dir: str | Path | None = None,
) -> ExpertVerdicts:
    """Read every file (in order) and settle each listing as the module docstring says. An empty file is accepted:
    a review round with nothing decided yet."""
    rows: list[ExpertVerdict] = []
    reports, files = [], {}
    for i, path in enumerate(paths):
        rejects = Path(rejects_dir) / f"expert_verdicts_{i}_{Path(path).stem}_rejects.jsonl" if rejects_dir else None
        kept, report = read_records(path, lambda row: parse_verdict_row(row, policy), on_error=on_error,
                                    rejects_path=rejects, allow_empty=True)
        log.info("expert verdicts: %s", report.summary())
        rows += kept
        reports.append(report)
        files[str(path)] = sha256_file(path)

    latest: dict[str, dict[str, ExpertVerdict]] = {}  # listing id -> reviewer -> their latest verdict
    superseded = 0
    for v in rows:
        mine = latest.setdefault(v.id, {})
        if v.reviewer in mine:
            superseded += 1
            if v.at < mine[v.reviewer].at:
                continue
        mine[v.reviewer] = v
    standing, reviewers, conflicts = {}, {}, []
    for lid, by_reviewer in latest.items():
        if len({v.violations for v in by_reviewer.values()}) > 1:
            conflicts.append(Conflict(lid, {r: list(v.violations) for r, v in sorted(by_reviewer.items())}))
            continue
        standing[lid] = max(by_reviewer.values(), key=lambda v: v.at)
        reviewers[lid] = sorted(by_reviewer)
    if conflicts:
        log.warning("expert verdicts: %d listings with conflicting verdicts get none (first: %s)", len(conflicts),
                    " | ".join(c.summary() for c in conflicts[:SHOWN_CONFLICTS]))
    return ExpertVerdicts(standing, reviewers, conflicts, reports, superseded, files)


def apply_verdicts(
    labels: dict[str, TeacherLabel], verdicts: ExpertVerdicts, listing_ids: set[str], policy: Policy,
) -> tuple[dict[str, TeacherLabel], dict[str, Any]]:
    """Teacher labels with every standing verdict for a listing in ``listing_ids`` in place of the teacher's label:
    hard 0/1 labels, provenance ``source: expert`` with the teacher's own provenance kept under ``teacher``. A
    verdict for a listing the teacher never labelled labels it (an expert label is a label). Returns the labels and
    the counts for the data report."""
    out = dict(labels)
    overrides = changed = added = unused = 0
    for lid, v in verdicts.standing.items():
        if lid not in listing_ids:
            unused += 1
            continue
        teacher = labels.get(lid)
        if teacher is None:
            added += 1
        else:
            overrides += 1
            changed += tuple(teacher.violated()) != v.violations
        provenance = {"source": "expert", "reviewer": v.reviewer, "time": v.time, "reviewers": verdicts.reviewers[lid],
                      "file": v.source, "teacher": dict(teacher.provenance) if teacher else None}
        out[lid] = TeacherLabel(lid, {p: float(p in v.violations) for p in policy.ids}, v.note, provenance)
    counts = {**verdicts.summary(), "overrides": overrides, "changed": changed, "added": added, "unused": unused}
    if verdicts.files:
        log.info("expert verdicts: %d override the teacher (%d change its label), %d label listings the teacher "
                 "did not, %d for listings not in the training data, %d conflicts left to the teacher",
                 overrides, changed, added, unused, len(verdicts.conflicts))
    return out, counts
