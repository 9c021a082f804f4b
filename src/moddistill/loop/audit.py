"""Auditing automatic decisions: a stratified random sample of what the student (or the LLM) decided without an
expert, for human QA (``draw_sample``), and, once the experts' verdicts on it are back, estimates of how often those
decisions are right (``estimate``): per policy, the precision of automatic rejects and the miss rate of automatic
allows, each with a Wilson 95% interval.

Decisions are ``moderate.py`` rows (``decided_by``: student | llm | expert) or ``predict.py`` rows (no
``decided_by``: all decided by the student). Rows decided by experts are not automatic and are left out.

Strata are disjoint, so each listing can be drawn once only: ``allow`` (nothing flagged) and ``reject:<policy>``
for each policy with automatic rejects. A listing flagged for several policies belongs to the stratum of its
rarest one (the fewest automatic rejects), so rare policies keep every row they have. Allocation of ``size``:
each stratum first gets up to ``min_per_stratum`` (all it holds if fewer), one listing per stratum per round,
rarest first, while ``size`` lasts, so a rare policy is audited at all; the rest is split in proportion to the
strata's populations (largest remainders), never more than a stratum holds. Within a stratum the draw is simple
random sampling; a sampled row's weight is its stratum's population over its sample size.

Estimates are weighted by those weights (a ratio estimator), because a policy's automatic rejects can sit in
several strata sampled at different rates; with one stratum they are the plain share k/n. The interval is Wilson's
at the effective sample size (Kish: (sum w)^2 / sum w^2; n when the weights are equal). A sampled listing without a
verdict yet is *pending* and one whose experts disagree is a *conflict*: both are counted and left out (their
stratum's weight is spread over its answered listings), never guessed.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from moddistill.data.listings import read_listings
from moddistill.data.policy import Policy
from moddistill.data.records import Row, read_records, record_id, unique_ids, write_jsonl
from moddistill.errors import UserError
from moddistill.evaluation.report import format_number
from moddistill.provenance import sha256_file
from moddistill.teacher.expert_verdicts import read_expert_verdicts

ALLOW = "allow"
REJECT = "reject:"
DECIDERS = ("student", "llm", "expert")
Z95 = 1.959964
REPORT_MD, REPORT_JSON = "audit_report.md", "audit_report.json"


@dataclass(frozen=True)
class Decision:
    id: str
    flagged: tuple[str, ...]  # in policy order; empty: allowed
    decided_by: str


def wilson(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` trials: sound at 0/n and n/n, where the
    normal approximation collapses to a zero-width interval."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(hits: Iterable[bool], weights: Iterable[float]) -> dict[str, Any]:
    """Weighted share of hits with its Wilson 95% interval; ``k`` and ``n`` are the raw counts."""
    y, w = np.array(list(hits), dtype=float), np.array(list(weights), dtype=float)
    if not len(y):
        return {"k": 0, "n": 0, "estimate": None, "low": None, "high": None, "n_effective": 0}
    p = float(y @ w / w.sum())
    n_eff = float(w.sum() ** 2 / (w ** 2).sum())
    low, high = wilson(p, n_eff)
    return {"k": int(y.sum()), "n": len(y), "estimate": round(p, 6), "low": round(low, 6), "high": round(high, 6),
            "n_effective": round(n_eff, 2)}


def parse_decision(row: Row, policy: Policy) -> Decision:
    d = row.data
    rid = record_id(row)
    flagged = d.get("flagged")
    if not isinstance(flagged, list):
        raise row.error("flagged", "missing" if flagged is None else f"expected a list of policy ids, got {flagged!r}")
    for i, pid in enumerate(flagged):
        if pid not in policy.ids:
            raise row.error(f"flagged[{i}]", f"policy id {pid!r} is not in the policy {policy.id}")
    by = d.get("decided_by", "student")
    if by not in DECIDERS:
        raise row.error("decided_by", f"expected one of {', '.join(DECIDERS)}, got {by!r}")
    return Decision(rid, tuple(p for p in policy.ids if p in flagged), by)


def read_decisions(path: str | Path, policy: Policy) -> list[Decision]:
    """Every decision of a moderate.py or predict.py output (an empty file is refused); ids must be unique."""
    return read_records(path, unique_ids(lambda row: parse_decision(row, policy), "decision"))[0]


def strata(automatic: list[Decision], policy: Policy) -> dict[str, list[Decision]]:
    """Disjoint strata in a fixed order (allow, then the policies' order), each in file order; see the module doc."""
    rejects = Counter(p for d in automatic for p in d.flagged)
    out: dict[str, list[Decision]] = {ALLOW: []} | {REJECT + p: [] for p in policy.ids}
    for d in automatic:
        out[REJECT + min(d.flagged, key=lambda p: rejects[p]) if d.flagged else ALLOW].append(d)
    return {h: members for h, members in out.items() if members}


def allocate(populations: dict[str, int], size: int, floor: int) -> dict[str, int]:
    """``size`` split over strata: the floor first (rarest first, a round at a time), the rest in proportion."""
    alloc = {h: 0 for h in populations}
    left = size
    rarest_first = sorted(populations, key=lambda h: populations[h])
    for _ in range(floor):
        for h in rarest_first:
            if left and alloc[h] < populations[h]:
                alloc[h] += 1
                left -= 1
    while left:
        room = [h for h in populations if alloc[h] < populations[h]]
        total = sum(populations[h] for h in room)
        quota = {h: left * populations[h] / total for h in room}
        given = {h: min(populations[h] - alloc[h], int(quota[h])) for h in room}
        if not any(given.values()):  # every quota below one listing: the largest ones get one each
            given = {h: 1 for h in sorted(room, key=lambda h: -quota[h])[:left]}
        for h, g in given.items():
            alloc[h] += g
            left -= g
    return alloc


def draw_sample(decisions_path: str | Path, output: str | Path, size: int, policy: Policy, *,
                listings_path: str | Path | None = None, seed: int = 0, min_per_stratum: int = 10) -> dict[str, Any]:
    """Write the sample (one row per drawn listing, in the decisions' order: the listing's own fields when
    ``listings_path`` is given, and an ``audit`` field) and ``<output stem>.summary.json``; returns the summary."""
    decisions = read_decisions(decisions_path, policy)
    automatic = [d for d in decisions if d.decided_by != "expert"]
    if size > len(automatic):
        raise UserError(f"size={size} but {decisions_path} holds {len(automatic)} automatic decisions "
                        f"({len(decisions) - len(automatic)} by experts are not audited): pass size={len(automatic)} "
                        "or less")
    listings = {}
    if listings_path is not None:
        listings = {x.id: x for x in read_listings(listings_path)[0]}
        missing = [d.id for d in decisions if d.id not in listings]
        if missing:
            raise UserError(f"{listings_path}: {len(missing)} of the {len(decisions)} decided listings are not in this "
                            f"file (first: {missing[0]!r}); pass the listings the decisions were made on")
    groups = strata(automatic, policy)
    alloc = allocate({h: len(m) for h, m in groups.items()}, size, min_per_stratum)
    rng = np.random.default_rng(seed)
    drawn = {}
    for h, members in groups.items():
        for i in rng.choice(len(members), size=alloc[h], replace=False):
            drawn[members[i].id] = {"stratum": h, "weight": round(len(members) / alloc[h], 6),
                                    "decision": list(members[i].flagged), "decided_by": members[i].decided_by}
    rows = [{**(listings[d.id].to_dict() if listings else {"id": d.id}), "audit": drawn[d.id]}
            for d in decisions if d.id in drawn]
    output = Path(output)
    write_jsonl(output, rows)
    summary = {
        "decisions": str(decisions_path), "decisions_sha256": sha256_file(decisions_path),
        "listings": str(listings_path) if listings_path else None, "output": str(output), "seed": seed, "size": size,
        "min_per_stratum": min_per_stratum, "decisions_read": len(decisions), "automatic": len(automatic),
        "by_experts_not_audited": len(decisions) - len(automatic),
        "strata": {h: {"population": len(m), "sample": alloc[h],
                       "weight": round(len(m) / alloc[h], 6) if alloc[h] else None} for h, m in groups.items()},
        # a policy's automatic rejects, wherever their stratum: what its precision estimate speaks for
        "automatic_rejects": {p: sum(p in d.flagged for d in automatic) for p in policy.ids},
    }
    output.with_name(output.stem + ".summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def estimate(decisions_path: str | Path, sample_path: str | Path, verdict_files: list[str], policy: Policy,
             output_dir: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """Estimates from the experts' verdicts on a sample ``draw_sample`` wrote from ``decisions_path``; writes
    ``audit_report.md`` and ``audit_report.json`` to ``output_dir`` (default: the sample's directory)."""
    automatic = [d for d in read_decisions(decisions_path, policy) if d.decided_by != "expert"]
    groups = strata(automatic, policy)
    stratum_of = {d.id: h for h, members in groups.items() for d in members}
    decision_of = {d.id: d for d in automatic}
    seen: set[str] = set()

    def parse(row: Row) -> tuple[str, str]:
        rid, audit = record_id(row), row.data.get("audit")
        if not isinstance(audit, dict) or not isinstance(audit.get("stratum"), str):
            raise row.error("audit.stratum", "missing: not a sample written by scripts/audit.py")
        if rid in seen:
            raise row.error("id", f"duplicate id {rid!r}")
        seen.add(rid)
        if stratum_of.get(rid) != audit["stratum"]:
            raise row.error("audit.stratum", f"listing {rid!r} is not an automatic decision in stratum "
                                             f"{audit['stratum']!r} of {decisions_path}: was the sample drawn from "
                                             "other decisions?")
        return rid, audit["stratum"]

    sample = read_records(sample_path, parse)[0]
    verdicts = read_expert_verdicts(verdict_files, policy)
    conflicted = {c.id for c in verdicts.conflicts}
    answered = [(lid, h) for lid, h in sample if lid in verdicts.standing]
    per_stratum = {h: {"population": len(groups[h]), "sampled": n, "answered": 0} for h, n in
                   Counter(h for _, h in sample).items()}
    for _, h in answered:
        per_stratum[h]["answered"] += 1
    weight = {h: s["population"] / s["answered"] for h, s in per_stratum.items() if s["answered"]}

    def share(rows, hit) -> dict[str, Any]:
        rows = list(rows)
        return proportion((hit(decision_of[lid].flagged, verdicts.standing[lid].violations) for lid, _ in rows),
                          (weight[h] for _, h in rows))

    rejects = [(lid, h) for lid, h in answered if h != ALLOW]
    allows = [(lid, h) for lid, h in answered if h == ALLOW]
    report = {
        "decisions": str(decisions_path), "sample": str(sample_path), "verdicts": verdicts.files,
        "sampled": len(sample), "answered": len(answered),
        "pending": sum(lid not in verdicts.standing and lid not in conflicted for lid, _ in sample),
        "conflicts": sum(lid in conflicted for lid, _ in sample),
        "verdicts_outside_sample": sum(lid not in seen for lid in verdicts.standing),
        "strata": per_stratum,
        "overall": {"automatic_rejects": sum(bool(d.flagged) for d in automatic),
                    "reject_precision": share(rejects, lambda f, v: bool(set(f) & set(v))),
                    "allow_miss_rate": share(allows, lambda f, v: bool(v))},
        "policies": {p: {"automatic_rejects": sum(p in d.flagged for d in automatic),
                         "reject_precision": share(((lid, h) for lid, h in rejects if p in decision_of[lid].flagged),
                                                   lambda f, v, p=p: p in v),
                         "allow_miss_rate": share(allows, lambda f, v, p=p: p in v)} for p in policy.ids},
    }
    out = Path(output_dir) if output_dir else Path(sample_path).parent
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / REPORT_MD).write_text(markdown(report) + "\n", encoding="utf-8")
    return report, out


def _cell(m: dict[str, Any]) -> str:
    if not m["n"]:
        return "n/a | 0"
    return f"{format_number(m['estimate'])} [{format_number(m['low'])}, {format_number(m['high'])}] | {m['k']}/{m['n']}"


def markdown(report: dict[str, Any]) -> str:
    """The audit table: per policy, reject precision and allow miss rate with their Wilson 95% intervals."""
    lines = [
        "# Audit of automatic decisions", "",
        f"Decisions {report['decisions']}, sample {report['sample']}: {report['sampled']} sampled, "
        f"{report['answered']} with an expert verdict, {report['pending']} pending (no verdict yet), "
        f"{report['conflicts']} with conflicting verdicts (left out).", "",
        "| policy | automatic rejects | reject precision [95% CI] | confirmed/audited | allow miss rate [95% CI] "
        "| missed/audited |",
        "|---|---:|---:|---:|---:|---:|",
        f"| **all** | {report['overall']['automatic_rejects']} | {_cell(report['overall']['reject_precision'])} | "
        f"{_cell(report['overall']['allow_miss_rate'])} |",
    ]
    for p, m in report["policies"].items():
        lines.append(f"| {p} | {m['automatic_rejects']} | {_cell(m['reject_precision'])} | "
                     f"{_cell(m['allow_miss_rate'])} |")
    lines += ["", "Precision: the share of automatic rejects for the policy whose verdict names it (all: names any "
              "flagged policy). Miss rate: the share of automatic allows whose verdict names the policy (all: any "
              "violation). Estimates are weighted by stratum (k/n when one stratum holds them); intervals are "
              "Wilson's 95%."]
    return "\n".join(lines)
