"""Fusion: which listings the student settles alone, which go to the LLM, and which to human experts.

Per policy, the student's score is read as a distance from its threshold, by the export's routing rule
(``Certainty``; the built-in ``logit_margin``: in logit space, or a plugin ``package.module:Name``). Within ``margin``
of the threshold the student is unsure of that policy; a listing with any unsure policy goes to the LLM, which
decides those policies, while the student's confident decisions stand. A listing goes to the experts instead
when the LLM gave no usable answer, when the LLM contradicts a decision the student is very sure of (beyond
``disagreement_margin``), or when it is flagged for a policy configured as always-human. One margin for every
policy keeps the frontier one-dimensional (LLM share -> quality) and needs no per-policy data to fit, which
the ~50 cases per policy could not support.

Quality figures count an expert row at the decision it would have without the expert (the LLM's where it
answered, else the student's): experts are not assumed right.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Protocol, Sequence

import numpy as np

from moddistill.metrics.classification import logit, multilabel_metrics
from moddistill.registry import Registry

FUSION_FILE = "fusion.json"
ROUTES = ("student", "llm", "expert")
DEFAULT_RULE = "logit_margin"
# fusion.rule: the routing rules by name, or a plugin package.module:Name (a class with the Certainty methods)
FUSION_RULES = Registry("fusion rule", {DEFAULT_RULE: "moddistill.fusion.rules:LogitMargin"})


class Certainty(Protocol):
    """How sure the student is of each decision; built with no arguments. The unit of the operating point's
    ``margin`` and ``disagreement_margin``."""

    def distance(self, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """(n, k) scores and (k,) thresholds -> (n, k) signed distances: >= 0 exactly where the score is at or above
        its threshold (the student flags it), and the further from 0 the surer."""

    def band(self, threshold: float, margin: float) -> tuple[float, float]:
        """The scores within ``margin`` of ``threshold``: (low, high), the student unsure in [low, high)."""


class LogitMargin:
    """logit(score) - logit(threshold): the same distance on either side of any threshold, unlike a band of
    probabilities, so one margin fits a policy at 0.15 and one at 0.6."""

    def distance(self, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        return logit(scores) - logit(np.asarray(thresholds))

    def band(self, threshold: float, margin: float) -> tuple[float, float]:
        if not math.isfinite(margin):
            return 0.0, 1.0
        t = float(logit(threshold))
        return 1 / (1 + math.exp(-(t - margin))), 1 / (1 + math.exp(-(t + margin)))


@dataclass
class FusionRules:
    labels: list[str]
    thresholds: dict[str, float]
    margin: float  # distance (by ``rule``) from a policy's threshold inside which the student is unsure of it
    disagreement_margin: float  # the student is this sure (distance) and the LLM says otherwise: experts
    always_human: list[str] = field(default_factory=list)
    chosen: dict = field(default_factory=dict)  # how this operating point was chosen, and its measured figures
    rule: str = DEFAULT_RULE  # a FUSION_RULES name or plugin: how the distance is measured

    @cached_property
    def certainty(self) -> Certainty:
        return FUSION_RULES.resolve(self.rule)()

    def distance(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) the student's signed distance from each threshold, in ``labels`` order."""
        return self.certainty.distance(scores, np.array([self.thresholds[p] for p in self.labels], dtype=float))

    def bands(self) -> dict[str, tuple[float, float]]:
        """Per policy (low, high): below low the student allows, at or above high it rejects, between: the LLM."""
        out = {}
        for p in self.labels:
            low, high = self.certainty.band(self.thresholds[p], self.margin)
            out[p] = (round(low, 6), round(high, 6))
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["margin"] = self.margin if math.isfinite(self.margin) else "inf"
        d["bands"] = {p: list(b) for p, b in self.bands().items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FusionRules":
        """``rule`` defaults to the one rule older exports knew."""
        margin = float("inf") if d["margin"] == "inf" else float(d["margin"])
        return cls(list(d["labels"]), dict(d["thresholds"]), margin, float(d["disagreement_margin"]),
                   list(d.get("always_human", [])), dict(d.get("chosen", {})), str(d.get("rule", DEFAULT_RULE)))


@dataclass
class Fused:
    """The fused moderator's outcome on n listings."""

    decisions: np.ndarray  # (n, k) bool: what each listing is flagged for
    decided_by: np.ndarray  # (n,) str: student | llm | expert
    reasons: list[str]  # why a listing went where it went ("" for the student)
    unsure: np.ndarray  # (n, k) bool: policies the student was unsure of

    @property
    def routed(self) -> np.ndarray:
        return self.unsure.any(axis=1)


def signed_margins(scores: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """(n, k) logit(score) - logit(threshold), in ``thresholds``' order: > 0 flagged, and how surely."""
    return LogitMargin().distance(scores, np.array(list(thresholds.values())))


def routed(scores: np.ndarray, rules: FusionRules) -> np.ndarray:
    """(n,) bool: the listings with a policy inside its band, which go to the LLM (all that routing needs)."""
    return (np.abs(rules.distance(scores)) < rules.margin).any(axis=1)


def fuse(scores: np.ndarray, llm_probs: np.ndarray | None, rules: FusionRules) -> Fused:
    """Route and decide. ``llm_probs``: (n, k) LLM probabilities, NaN rows where the LLM gave no answer (or
    None when the LLM was not asked, e.g. unreachable: every routed listing then goes to the experts)."""
    margins = rules.distance(scores)
    student = margins >= 0
    unsure = np.abs(margins) < rules.margin
    routed = unsure.any(axis=1)
    n = len(scores)
    llm = np.full(scores.shape, np.nan) if llm_probs is None else np.asarray(llm_probs, dtype=float)
    answered = ~np.isnan(llm).any(axis=1)
    llm_flags = np.where(np.isnan(llm), 0.0, llm) >= 0.5
    decisions = np.where(unsure & answered[:, None], llm_flags, student)
    decided_by = np.where(routed, "llm", "student").astype(object)
    reasons = [""] * n
    sure = np.abs(margins) >= rules.disagreement_margin
    human = [rules.labels.index(p) for p in rules.always_human]
    for i in range(n):
        if routed[i] and not answered[i]:
            decided_by[i], reasons[i] = "expert", "no usable LLM answer"
            continue
        if routed[i]:
            contrary = [rules.labels[j] for j in np.flatnonzero(sure[i] & (llm_flags[i] != student[i]))]
            if contrary:
                decided_by[i], reasons[i] = "expert", f"student and LLM disagree strongly on {', '.join(contrary)}"
                continue
            reasons[i] = "student unsure of " + ", ".join(rules.labels[j] for j in np.flatnonzero(unsure[i]))
        flagged_human = [rules.labels[j] for j in human if decisions[i, j]]
        if flagged_human:
            decided_by[i], reasons[i] = "expert", f"always reviewed by experts: {', '.join(flagged_human)}"
    return Fused(decisions, decided_by.astype(str), reasons, unsure)


def _quality(y_pred: np.ndarray, gold: np.ndarray | None, llm_only: np.ndarray, labels: Sequence[str]) -> dict:
    out = {"agreement_with_llm_only": float(np.mean((y_pred == llm_only).all(axis=1)))}
    if gold is not None:
        m = multilabel_metrics(gold, y_pred, labels)
        out.update(macro_f1=m["macro_f1"], decision_accuracy=m["decision_accuracy"],
                   per_policy_f1={p: v["f1"] for p, v in m["per_policy"].items()})
    return out


def llm_only_decisions(scores: np.ndarray, llm_probs: np.ndarray, rules: FusionRules) -> np.ndarray:
    """What the LLM alone decides; where it gave no answer, the student's decision stands in."""
    student = rules.distance(scores) >= 0
    answered = ~np.isnan(llm_probs).any(axis=1)
    return np.where(answered[:, None], np.nan_to_num(llm_probs) >= 0.5, student)


def frontier(scores: np.ndarray, llm_probs: np.ndarray, gold: np.ndarray | None, base: FusionRules,
             points: int = 101) -> list[dict]:
    """Fused quality at a sweep of margins chosen so the LLM share runs from 0 to 100% in even steps."""
    labels = base.labels
    nearest = np.abs(base.distance(scores)).min(axis=1)
    cuts = np.unique(np.concatenate([[0.0], np.quantile(nearest, np.linspace(0, 1, points)) + 1e-9, [np.inf]]))
    llm_only = llm_only_decisions(scores, llm_probs, base)
    rows = []
    for margin in cuts:
        rules = FusionRules(labels, base.thresholds, float(margin), base.disagreement_margin, base.always_human,
                            rule=base.rule)
        fused = fuse(scores, llm_probs, rules)
        shares = {r: float(np.mean(fused.decided_by == r)) for r in ROUTES}
        rows.append({"margin": float(margin), "llm_share": float(np.mean(fused.routed)),
                     "expert_share": shares["expert"], "automation_rate": shares["student"],
                     **_quality(fused.decisions, gold, llm_only, labels)})
    return rows


def choose(rows: list[dict], *, llm_share: float | None, target: float | None, gold: bool) -> tuple[dict, str]:
    """The operating point: the best quality within an LLM budget, or the smallest LLM share that reaches
    ``target`` x the LLM-only quality. Quality is macro-F1 against gold labels when there are any, else
    agreement with the LLM alone. Returns the row and a sentence saying how it was chosen."""
    key = "macro_f1" if gold else "agreement_with_llm_only"
    if llm_share is not None:
        within = [r for r in rows if r["llm_share"] <= llm_share + 1e-12]
        best = max(within, key=lambda r: (round(r[key], 9), -r["llm_share"]))
        return best, (f"the best {key} with at most {llm_share:.0%} of listings sent to the LLM")
    llm_only = rows[-1][key]
    reached = [r for r in rows if r[key] >= target * llm_only - 1e-12]
    if reached:
        best = min(reached, key=lambda r: r["llm_share"])
        return best, f"the smallest LLM share whose {key} reaches {target:.0%} of LLM-only ({llm_only:.3f})"
    best = max(rows, key=lambda r: (round(r[key], 9), -r["llm_share"]))
    return best, (f"no LLM share reaches {target:.0%} of LLM-only {key} ({llm_only:.3f}): the best point instead")


def kpis(scores: np.ndarray, llm_probs: np.ndarray, gold: np.ndarray | None, rules: FusionRules) -> dict:
    """What the business reads at one operating point, per policy and overall. Against gold labels when given,
    else against the LLM's own decisions (then "LLM-only" is the reference and scores 1 by definition)."""
    labels = rules.labels
    fused = fuse(scores, llm_probs, rules)
    student = rules.distance(scores) >= 0
    llm_only = llm_only_decisions(scores, llm_probs, rules)
    truth = gold if gold is not None else llm_only
    # a (listing, policy) decision is automatic when the student made it: the policy was not in its band and
    # the listing did not go to the experts
    auto = ~fused.unsure & (fused.decided_by != "expert")[:, None]
    per_policy = {}
    for j, p in enumerate(labels):
        a = auto[:, j]
        tp = int((student[a, j] & (truth[a, j] == 1)).sum())
        flagged, positives = int(student[a, j].sum()), int((truth[a, j] == 1).sum())
        per_policy[p] = {
            "automation_rate": float(a.mean()),
            # listings sent to the experts that the fused decision flags for p (the queue's load per policy)
            "expert_share": float(((fused.decided_by == "expert") & fused.decisions[:, j]).mean()),
            "llm_share": float((fused.unsure[:, j] & (fused.decided_by == "llm")).mean()),
            "auto_precision": tp / flagged if flagged else float("nan"),
            "auto_recall": tp / positives if positives else float("nan"),
        }
    out = {"reference": "gold labels" if gold is not None else "the LLM's decisions",
           "listings": int(len(scores)),
           "automation_rate": float(np.mean(fused.decided_by == "student")),
           "llm_share": float(np.mean(fused.decided_by == "llm")),
           "routed_share": float(np.mean(fused.routed)),
           "expert_share": float(np.mean(fused.decided_by == "expert")),
           "per_policy": per_policy}
    a = auto
    tp = int((student & (truth == 1) & a).sum())
    out["auto_precision"] = tp / max(int((student & a).sum()), 1)
    out["auto_recall"] = tp / max(int(((truth == 1) & a).sum()), 1)
    for name, pred in (("fused", fused.decisions), ("student_only", student), ("llm_only", llm_only)):
        m = multilabel_metrics(truth, pred, labels)
        out[name] = {"macro_f1": m["macro_f1"], "decision_accuracy": m["decision_accuracy"],
                     "agreement_with_llm_only": float(np.mean((pred == llm_only).all(axis=1)))}
        for p in labels:
            per_policy[p][f"{name}_f1"] = m["per_policy"][p]["f1"]
    return out
