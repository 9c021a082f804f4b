"""The review queue: the listings experts are asked to decide, read from the project's own files.

A queue file is any of (told apart row by row, by the field each kind carries):

- ``moderate.py`` output (``decided_by``): its rows decided by ``expert`` are queued, the others are not the
  experts' to decide (``audit.py`` samples them);
- an ``audit.py`` sample (``audit``): automatic decisions drawn for QA;
- a ``select_batch.py`` batch (``selection``): listings chosen for labelling.

A listing queued by several files is one item with several routes (a verdict is per listing). Rows without the
listing's fields take them from ``listings``, and rows without scores take them from ``decisions`` (a moderate.py
or predict.py output). A bad row is one ``RowError`` naming file, line and field, as every other reader does.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from moddistill.data.listings import Listing, parse_listing, read_listings
from moddistill.data.policy import Policy
from moddistill.data.records import Row, read_records, record_id, unique_ids
from moddistill.errors import UserError
from moddistill.loop.audit import parse_decision

log = logging.getLogger(__name__)
EXPERT, AUDIT, BATCH = "expert", "audit", "batch"


@dataclass(frozen=True)
class Route:
    """Why a listing is in the queue: which file sent it, and its reason in that file's words."""

    kind: str  # EXPERT | AUDIT | BATCH
    why: str
    source: str  # "file, line N"


@dataclass
class Item:
    id: str
    listing: Listing | None
    routes: list[Route]
    scores: dict[str, float] = field(default_factory=dict)  # the student's, per policy; {} when no file has them
    decision: tuple[str, ...] | None = None  # what the automatic (or fused) decision flagged, where there is one
    llm: Mapping[str, Any] | None = None  # moderate.py's ``llm``: labels, rationale, model, prompt_version
    named: tuple[str, ...] = ()  # policies the routes name (a selection's policy, a reason's words)

    def in_question(self, policy: Policy, thresholds: Mapping[str, float]) -> tuple[str, ...]:
        """The policies whose clauses the reviewer should read first: flagged by the decision, the student (at its
        threshold) or the LLM, or named by a route; with none of these, the one the student scores highest
        against its threshold."""
        llm_labels = (self.llm or {}).get("labels") or {}
        asked = set(self.decision or ()) | set(self.named)
        asked |= {p for p, s in self.scores.items() if p in thresholds and s >= thresholds[p]}
        asked |= {p for p, prob in llm_labels.items() if isinstance(prob, (int, float)) and prob >= 0.5}
        if not asked and self.scores:  # the highest score relative to its threshold (the highest, without any)
            asked = {max(self.scores, key=lambda p: self.scores[p] / thresholds.get(p, 1.0))}
        return tuple(p for p in policy.ids if p in asked)


@dataclass
class Queue:
    items: dict[str, Item]  # listing id -> item, in the order the files list them
    files: list[str]
    audit_samples: list[str]  # the files among them that are audit.py samples (the dashboard's estimates)
    not_for_experts: int = 0  # moderate.py rows the student or the LLM decided: not queued

    def ids(self) -> list[str]:
        return list(self.items)


@dataclass(frozen=True)
class _QueueRow:
    id: str
    kind: str | None  # None: a moderate.py row not decided by experts
    listing: Listing | None
    route: Route | None
    scores: dict[str, float]
    decision: tuple[str, ...] | None
    llm: Mapping[str, Any] | None
    named: tuple[str, ...]


def parse_scores(row: Row, policy: Policy) -> dict[str, float]:
    """A row's ``scores`` ({policy id: probability}); {} when it has none."""
    scores = row.data.get("scores")
    if scores is None:
        return {}
    if not isinstance(scores, Mapping):
        raise row.error("scores", f"expected a mapping of policy id to score, got {type(scores).__name__}")
    out = {}
    for p, s in scores.items():
        if p not in policy.ids:
            raise row.error(f"scores.{p}", f"policy id {p!r} is not in the policy {policy.id}")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or not 0 <= s <= 1:
            raise row.error(f"scores.{p}", f"expected a probability in [0, 1], got {s!r}")
        out[p] = float(s)
    return out


def _named(text: str, policy: Policy) -> tuple[str, ...]:
    return tuple(p for p in policy.ids if re.search(rf"\b{re.escape(p)}\b", text))


def _listing_if_given(row: Row) -> Listing | None:
    return parse_listing(row) if "title" in row.data else None


def _policy_list(row: Row, key: str, value: Any, policy: Policy) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise row.error(key, f"expected a list of policy ids, got {value!r}")
    for i, p in enumerate(value):
        if p not in policy.ids:
            raise row.error(f"{key}[{i}]", f"policy id {p!r} is not in the policy {policy.id}")
    return tuple(p for p in policy.ids if p in value)


def parse_queue_row(row: Row, policy: Policy) -> _QueueRow:
    d, where = row.data, f"{row.file}, {row.location}"
    rid = record_id(row)
    if isinstance(d.get("audit"), Mapping):
        audit = d["audit"]
        if not isinstance(audit.get("stratum"), str):
            raise row.error("audit.stratum", "missing: not a sample written by scripts/audit.py")
        decision = _policy_list(row, "audit.decision", audit.get("decision", []), policy)
        by = audit.get("decided_by", "student")
        why = (f"audit sample, stratum {audit['stratum']}: {by} decided "
               f"{', '.join(decision) if decision else 'allow'}")
        return _QueueRow(rid, AUDIT, _listing_if_given(row), Route(AUDIT, why, where), parse_scores(row, policy),
                         decision, None, ())
    if isinstance(d.get("selection"), Mapping):
        selection = d["selection"]
        reason = selection.get("reason")
        if not isinstance(reason, str):
            raise row.error("selection.reason", "missing: not a batch written by scripts/select_batch.py")
        chosen = selection.get("policy")
        why = f"labelling batch ({selection.get('strategy', 'selection')}, rank {selection.get('rank', '?')}): {reason}"
        return _QueueRow(rid, BATCH, parse_listing(row), Route(BATCH, why, where), parse_scores(row, policy), None,
                         None, tuple(p for p in policy.ids if p == chosen) or _named(reason, policy))
    if "decided_by" in d:
        decision = parse_decision(row, policy)
        if decision.decided_by != EXPERT:
            return _QueueRow(rid, None, None, None, {}, None, None, ())
        llm = d.get("llm")
        if llm is not None and not (isinstance(llm, Mapping) and isinstance(llm.get("labels", {}), Mapping)):
            raise row.error("llm", "expected moderate.py's LLM answer: {labels: {policy: probability}, rationale}")
        reason = d.get("reason") or "routed to experts"
        if not isinstance(reason, str):
            raise row.error("reason", f"expected text, got {reason!r}")
        return _QueueRow(rid, EXPERT, _listing_if_given(row), Route(EXPERT, reason, where),
                         parse_scores(row, policy), decision.flagged, llm, _named(reason, policy))
    raise row.error("<row>", "not a row of moderate.py output (decided_by), an audit.py sample (audit) or a "
                             "select_batch.py batch (selection)")


def read_queue(paths: list[str], policy: Policy, *, listings: str | Path | None = None,
               decisions: str | Path | None = None) -> Queue:
    """Every queued listing of ``paths`` (an empty file adds none), each with its listing and scores joined in."""
    items: dict[str, Item] = {}
    audit_samples, skipped = [], 0
    for path in paths:
        rows, report = read_records(path, unique_ids(lambda row: parse_queue_row(row, policy), "listing"),
                                    allow_empty=True)
        log.info("review queue: %s", report.summary())
        if any(r.kind == AUDIT for r in rows):
            audit_samples.append(str(path))
        for r in rows:
            if r.kind is None:
                skipped += 1
                continue
            item = items.setdefault(r.id, Item(r.id, None, []))
            item.routes.append(r.route)
            item.listing = item.listing or r.listing
            item.scores = item.scores or r.scores
            item.decision = item.decision if item.decision is not None else r.decision
            item.llm = item.llm or r.llm
            item.named = tuple(dict.fromkeys(item.named + r.named))
    _join_listings(items, listings)
    _join_scores(items, decisions, policy)
    return Queue(items, [str(p) for p in paths], audit_samples, skipped)


def _join_listings(items: dict[str, Item], listings: str | Path | None) -> None:
    missing = [item for item in items.values() if item.listing is None]
    if not missing:
        return
    by_id = {x.id: x for x in read_listings(listings)[0]} if listings else {}
    for item in missing:
        item.listing = by_id.get(item.id)
        if item.listing is None:
            raise UserError(f"{item.routes[0].source}: listing {item.id!r} has no listing fields (title, ...) "
                            + (f"and is not in {listings}" if listings else
                               "and no listings= file was given: pass the listings the decisions were made on"))


def _join_scores(items: dict[str, Item], decisions: str | Path | None, policy: Policy) -> None:
    if decisions is None or all(item.scores for item in items.values()):
        return

    def parse(row: Row) -> tuple[str, dict[str, float], tuple[str, ...]]:
        return record_id(row), parse_scores(row, policy), parse_decision(row, policy).flagged

    for rid, scores, flagged in read_records(decisions, parse)[0]:
        item = items.get(rid)
        if item is not None and not item.scores:
            item.scores = scores
            item.decision = item.decision if item.decision is not None else flagged
