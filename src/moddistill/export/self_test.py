"""The export's self-test: the policy's own examples scored by the exported model at its thresholds.

A model that rejects an allowed look-alike the policy itself names, or lets through one of its violating examples,
contradicts the document it enforces, in a way a policy writer sees at once. The examples are training rows
(``distill/contrast.py``), so for most of them passing is a floor, not a generalisation figure: the policy cases say
how the model generalises. The grouped split holds some examples out in validation; a failure among those is marked
``held_out``, since the model never trained on it.
"""

from __future__ import annotations

from typing import Callable, Collection, Sequence

import numpy as np

from moddistill.data.listings import RENDER_VERSION, render_listing
from moddistill.data.policy import Policy

SHOWN = 10


def policy_self_test(policy: Policy, score: Callable[[Sequence[str]], np.ndarray],
                     thresholds: dict[str, float], render_version: str = RENDER_VERSION,
                     held_out: Collection[str] = frozenset()) -> dict:
    """``score(texts)`` -> (n, labels) probabilities in ``policy.ids`` order, for the examples rendered as
    ``render_version``. Returns the counts and the failures: allowed examples any policy flags, and violating
    examples with a violated policy left unflagged; ``held_out`` names the ids the run never trained on."""
    examples = policy.examples
    if not examples:
        return {"examples": 0, "passed": True, "allowed": 0, "violating": 0, "held_out": 0, "allowed_rejected": [],
                "violating_missed": []}
    scores = np.asarray(score([render_listing(e.listing, render_version) for e in examples]), dtype=float)
    t = np.array([thresholds[p] for p in policy.ids])
    flagged = scores >= t[None, :]
    rejected, missed = [], []
    for e, row, s in zip(examples, flagged, scores):
        if e.is_lookalike and row.any():
            rejected.append({"id": e.listing.id, "title": e.listing.title, "held_out": e.listing.id in held_out,
                             "flagged": {p: round(float(v), 3) for p, f, v in zip(policy.ids, row, s) if f}})
        elif not e.is_lookalike:
            unflagged = [p for p in e.violates if not row[policy.ids.index(p)]]
            if unflagged:
                missed.append({"id": e.listing.id, "title": e.listing.title, "held_out": e.listing.id in held_out,
                               "missed": {p: round(float(s[policy.ids.index(p)]), 3) for p in unflagged}})
    allowed = sum(e.is_lookalike for e in examples)
    return {"examples": len(examples), "allowed": allowed, "violating": len(examples) - allowed,
            "held_out": sum(e.listing.id in held_out for e in examples), "passed": not rejected and not missed, "allowed_rejected": rejected, "violating_missed": missed}


def self_test_lines(result: dict | None) -> list[str]:
    """The model card's section."""
    if not result or not result["examples"]:
        return ["The policy lists no examples: nothing to self-test.", ""]
    lines = [f"{result['allowed'] - len(result['allowed_rejected'])} of {result['allowed']} allowed look-alikes "
             f"allowed, {result['violating'] - len(result['violating_missed'])} of {result['violating']} violating "
             f"examples flagged for every policy they violate: **{'passed' if result['passed'] else 'failed'}**. "
             f"The examples are training rows, so this is a floor, not a generalisation figure; "
             f"{result.get('held_out', 0)} of them were held out in the run's validation split instead (never "
             "trained on), and a failure among those says so.", ""]
    for key, what in (("allowed_rejected", "flagged"), ("violating_missed", "missed")):
        for r in result[key][:SHOWN]:
            lines.append(f"- `{r['id']}` {r['title'][:80]}: {what} "
                         + ", ".join(f"{p} {v:.2f}" for p, v in r[what].items())
                         + (" (held out: never trained on)" if r.get("held_out") else ""))
        if len(result[key]) > SHOWN:
            lines.append(f"- ... and {len(result[key]) - SHOWN} more (moddistill.json, `self_test`)")
    return lines + [""]
