"""Scores on the policy cases -> metrics (overall, per policy, per slice, inv/dir checks) and a markdown report.

Takes a score matrix rather than a model, so a student checkpoint and a teacher's stored labels are
judged by exactly the same code and read in the same table.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from moddistill.data.policy_cases import PolicyCase
from moddistill.metrics.classification import calibration, flag, multilabel_metrics

# what an evaluation writes to <run>/eval/<cases stem>/ beside its metrics.json (runs/run.py METRICS_FILE);
# evaluate.py writes them, leaderboard/collect.py reads them
REPORT_FILE = "report.md"
CASE_SCORES_FILE = "case_scores.jsonl"  # one row per case: expected, scores, flagged, language, kind, tags

# the policy-case tag of an allowed listing written to resemble a violation (data/policy_cases/*.jsonl)
LOOKALIKE_TAG = "lookalike"


def evaluate_cases(
    cases: Sequence[PolicyCase], scores: np.ndarray, policy_ids: Sequence[str], thresholds: Mapping[str, float]
) -> dict:
    ids = list(policy_ids)
    y_true = np.array([[p in c.expected for p in ids] for c in cases], dtype=int)
    scores = np.asarray(scores, dtype=float).reshape(len(cases), len(ids))
    y_pred = flag(scores, [thresholds[p] for p in ids])
    result = multilabel_metrics(y_true, y_pred, ids)
    result["thresholds"] = {p: float(thresholds[p]) for p in ids}
    result["calibration"] = calibration(y_true, scores)
    result["false_reject"] = {
        "allowed": _false_reject(cases, y_pred, lambda c: True),
        LOOKALIKE_TAG: _false_reject(cases, y_pred, lambda c: LOOKALIKE_TAG in c.tags),
    }
    result["slices"] = {
        "language": _slices(cases, y_true, y_pred, ids, lambda c: [c.listing.language]),
        "kind": _slices(cases, y_true, y_pred, ids, lambda c: [c.kind]),
        "tag": _slices(cases, y_true, y_pred, ids, lambda c: list(c.tags)),
    }
    result["invariance"] = _invariance(cases, y_pred)
    result["directional"] = _directional(cases, scores, ids)
    result["errors"] = [
        {"id": c.id, "expected": list(c.expected), "flagged": [p for p, f in zip(ids, y_pred[i]) if f],
         "title": c.listing.title, "kind": c.kind, "tags": list(c.tags)}
        for i, c in enumerate(cases) if (y_true[i] != y_pred[i]).any()
    ]
    return result


def _slices(cases, y_true, y_pred, ids, keys) -> dict:
    members = defaultdict(list)
    for i, c in enumerate(cases):
        for k in keys(c):
            members[k].append(i)
    out = {}
    for k, idx in sorted(members.items()):
        m = multilabel_metrics(y_true[idx], y_pred[idx], ids)
        out[k] = {"n": len(idx), "macro_f1": _present_macro_f1(m), "decision_accuracy": m["decision_accuracy"],
                  "micro_f1": m["micro_f1"], "exact_match": float(np.mean((y_true[idx] == y_pred[idx]).all(axis=1)))}
    return out


def _present_macro_f1(m: dict) -> float:
    """A slice's macro-F1: the mean F1 of the policies the slice has cases of (nan when it has none, as for
    the allowed look-alikes). Over the whole suite, where every policy has cases, this is the macro-F1."""
    f1 = [p["f1"] for p in m["per_policy"].values() if p["support"]]
    return float(np.mean(f1)) if f1 else float("nan")


def _false_reject(cases, y_pred, member) -> dict:
    """Among allowed cases (nothing expected) chosen by ``member``: how many, and the share flagged for anything."""
    idx = [i for i, c in enumerate(cases) if not c.expected and member(c)]
    rejected = [bool(y_pred[i].any()) for i in idx]
    return {"n": len(idx), "rate": float(np.mean(rejected)) if idx else float("nan")}


def _invariance(cases, y_pred) -> dict:
    """inv cases must reach the same decision (same flagged policies) as the case they perturb."""
    index = {c.id: i for i, c in enumerate(cases)}
    pairs = [(i, index[c.variant_of]) for i, c in enumerate(cases) if c.kind == "inv"]
    same = [bool((y_pred[i] == y_pred[j]).all()) for i, j in pairs]
    return {"n": len(pairs), "consistent": float(np.mean(same)) if same else float("nan"),
            "failed": [cases[i].id for (i, _), ok in zip(pairs, same) if not ok]}


def _directional(cases, scores, ids) -> dict:
    """dir cases must move the named policy's score the named way relative to the case they perturb."""
    index = {c.id: i for i, c in enumerate(cases)}
    results = []
    for i, c in enumerate(cases):
        if c.kind != "dir":
            continue
        policy, move = c.direction
        k = ids.index(policy)
        delta = float(scores[i, k] - scores[index[c.variant_of], k])
        results.append((c.id, delta > 0 if move == "up" else delta < 0))
    return {"n": len(results), "passed": float(np.mean([ok for _, ok in results])) if results else float("nan"),
            "failed": [cid for cid, ok in results if not ok]}


def markdown_report(result: dict, title: str) -> str:
    lines = [f"# {title}", ""]
    collapse = result.get("collapse") or {}
    if collapse.get("failed_policies"):
        from moddistill.runs.collapse import collapse_message

        lines += [f"> **{collapse_message(collapse)}**", ""]
    lines.append(markdown_summary(result))
    cal = result.get("calibration")
    if cal and cal["reliability"]:
        lines += ["", f"## Calibration ({cal['pairs']} case × policy pairs)", "",
                  "| score bin | pairs | mean score | violation rate |", "|---|---:|---:|---:|"]
        for b in cal["reliability"]:
            lines.append(f"| {b['low']:.1f}–{b['high']:.1f} | {b['pairs']} | {b['mean_score']:.3f} | "
                         f"{b['violation_rate']:.3f} |")
    for name, rows in result["slices"].items():
        lines += ["", f"## By {name}", "",
                  f"| {name} | n | macro-F1 | decision accuracy | micro-F1 | exact match |",
                  "|---|---:|---:|---:|---:|---:|"]
        for key, m in rows.items():
            lines.append(f"| {key} | {m['n']} | {format_number(m.get('macro_f1'))} | {m['decision_accuracy']:.3f} | "
                         f"{m['micro_f1']:.3f} | {m['exact_match']:.3f} |")
    if result["slices"]:
        lines += ["", "(a slice's macro-F1 is the mean F1 of the policies it has cases of; n/a when it has none)"]
    if result["errors"]:
        lines += ["", f"## Errors ({len(result['errors'])} cases)", "", "| case | expected | flagged | title |",
                  "|---|---|---|---|"]
        for e in result["errors"][:50]:
            title = e["title"].replace("|", "/")[:70]
            lines.append(f"| {e['id']} | {', '.join(e['expected']) or '—'} | {', '.join(e['flagged']) or '—'} | {title} |")
        if len(result["errors"]) > 50:
            lines.append(f"\n({len(result['errors']) - 50} more in metrics.json)")
    return "\n".join(lines) + "\n"


def markdown_summary(result: dict) -> str:
    """The headline figures and the per-policy table (what scripts/evaluate.py prints)."""
    lines = [f"- cases: {result['n']}",
             f"- macro-F1: **{result['macro_f1']:.3f}**, micro-F1: {result['micro_f1']:.3f}",
             f"- allow/reject decision accuracy: **{result['decision_accuracy']:.3f}**"]
    look = result.get("false_reject", {}).get(LOOKALIKE_TAG)
    if look and look["n"]:
        lines.append(f"- allowed look-alikes rejected: {format_share(look['rate'])} of {look['n']}")
    lines += [f"- invariance (inv cases keep their decision): {format_share(result['invariance']['consistent'])} "
              f"of {result['invariance']['n']}",
              f"- directional (dir cases move the score the right way): {format_share(result['directional']['passed'])} "
              f"of {result['directional']['n']}"]
    if cal := result.get("calibration"):
        lines.append(f"- calibration over {cal['pairs']} case × policy pairs: Brier {format_number(cal['brier'])}, "
                     f"ECE ({cal['bins']} bins) {format_number(cal['ece'])}")
    if (scoring := result.get("scoring")) and scoring.get("listings_per_second"):
        lines.append(f"- scoring: {scoring['listings_per_second']:.1f} listings/s ({scoring['seconds']:.1f} s, "
                     f"model load included)")
    lines += ["", "## Per policy", "",
              "| policy | precision | recall | F1 | support | flagged | threshold |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for pid, m in result["per_policy"].items():
        lines.append(f"| {pid} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} | "
                     f"{m['predicted']} | {result['thresholds'][pid]:.2f} |")
    return "\n".join(lines)


def format_share(x: float | None) -> str:
    """A share as a percentage with one decimal; "n/a" for None or NaN (reports, model card, fusion report)."""
    return "n/a" if x is None or x != x else f"{100 * x:.1f}%"


def format_number(x: float | None) -> str:
    """A figure with three decimals; "n/a" for None or NaN."""
    return "n/a" if x is None or x != x else f"{x:.3f}"
