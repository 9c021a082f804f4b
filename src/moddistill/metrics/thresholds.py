"""Decision thresholds, chosen on validation data (never on policy cases).

Three strategies. ``global`` (the default): one threshold for every policy, the one that maximises validation
macro-F1. ``per_policy``: the F1-maximising threshold of each policy. ``adaptive``: each policy's own F1-best
threshold shrunk toward the global one by its support (``n / (n + shrinkage)`` of its own, where ``n`` is its
validation positives), and the global one where it has fewer than ``min_positives``. A validation split of a few
hundred listings holds about ten positives per policy, and a threshold tuned on ten examples is mostly noise: on the
sample, one shared threshold raised policy-case macro-F1 by 0.03 to 0.08 over per-policy ones (README, "What decided
the recipe"); but one threshold for a rare policy beside a common one sacrifices the rare one, which ``adaptive``
avoids where the data can tell them apart.

On top of any strategy, ``max_false_reject`` caps the share of the validation split's allowed look-alikes (the
policy's examples and contrast rows that land there) that any policy rejects: every threshold is raised to a
common floor, the floor with the best validation macro-F1 among those that keep the cap. Ordinary allowed listings
say little about look-alikes, so without it the chosen threshold sits far too low for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from moddistill.metrics.classification import flag, multilabel_metrics

DEFAULT_THRESHOLD = 0.5
STRATEGIES = ("global", "per_policy", "adaptive")
BOUNDS = (0.05, 0.95)
STEP = 0.01


@dataclass(frozen=True)
class ThresholdRule:
    """How a run turns validation scores into thresholds (``threshold_strategy`` and ``max_false_reject`` in the
    run's config)."""

    strategy: str = "global"
    max_false_reject: float | None = None
    min_positives: int = 3
    shrinkage: float = 20.0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"threshold strategy must be one of {STRATEGIES}, got {self.strategy!r}")

    @classmethod
    def from_cfg(cls, cfg) -> "ThresholdRule":
        cap = cfg.get("max_false_reject")
        return cls(strategy=str(cfg.threshold_strategy), max_false_reject=None if cap is None else float(cap))


@dataclass
class ThresholdChoice:
    """The thresholds, which rule each policy got, and the look-alike trade-off (floor -> validation macro-F1 and
    share of look-alikes rejected) when the split holds look-alikes."""

    thresholds: dict[str, float]
    rules: dict[str, str]
    strategy_thresholds: dict[str, float] = field(default_factory=dict)  # before any look-alike floor
    floor: float | None = None
    lookalikes: int = 0
    lookalike_false_reject: float | None = None
    note: str = ""
    curve: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def select_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *, strategy: str = "global",
    min_positives: int = 3, bounds: tuple[float, float] = BOUNDS,
) -> dict[str, float]:
    """Thresholds per policy id by ``strategy`` alone, clipped to ``bounds`` so a lucky split cannot flag (almost)
    everything or nothing."""
    rule = ThresholdRule(strategy=strategy, min_positives=min_positives)
    return choose_thresholds(y_true, scores, policy_ids, rule, bounds=bounds).thresholds


def choose_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], rule: ThresholdRule,
    lookalikes: np.ndarray | None = None, *, bounds: tuple[float, float] = BOUNDS,
) -> ThresholdChoice:
    """Thresholds by ``rule``; ``lookalikes`` marks the validation rows that are allowed look-alikes."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    shared = global_threshold(y_true, scores, policy_ids, bounds=bounds)
    if rule.strategy == "global":
        thresholds, rules = shared, {p: "global" for p in policy_ids}
    else:
        own = per_policy_thresholds(y_true, scores, policy_ids, min_positives=rule.min_positives, bounds=bounds)
        thresholds, rules = _combine(y_true, own, shared, policy_ids, rule)
    choice = ThresholdChoice(thresholds, rules, dict(thresholds))
    mask = np.zeros(len(scores), dtype=bool) if lookalikes is None else np.asarray(lookalikes, dtype=bool)
    choice.lookalikes = int(mask.sum())
    if choice.lookalikes:
        choice.curve = lookalike_tradeoff(y_true, scores, policy_ids, thresholds, mask, bounds=bounds)
        choice.lookalike_false_reject = _false_reject(scores[mask], [thresholds[p] for p in policy_ids])
    if rule.max_false_reject is not None:
        _apply_floor(choice, rule.max_false_reject, policy_ids)
    return choice


def _combine(y_true, own, shared, policy_ids, rule: ThresholdRule) -> tuple[dict[str, float], dict[str, str]]:
    thresholds, rules = {}, {}
    for i, pid in enumerate(policy_ids):
        n = int(y_true[:, i].sum())
        if n < rule.min_positives:
            # per_policy keeps its historical 0.5 here; adaptive falls back to the shared threshold
            fallback = DEFAULT_THRESHOLD if rule.strategy == "per_policy" else shared[pid]
            thresholds[pid] = fallback
            rules[pid] = f"{'default' if rule.strategy == 'per_policy' else 'global'} ({n} validation positives < " \
                         f"{rule.min_positives})"
        elif rule.strategy == "per_policy":
            thresholds[pid], rules[pid] = own[pid], f"own ({n} validation positives)"
        else:
            w = n / (n + rule.shrinkage)
            thresholds[pid] = round(w * own[pid] + (1 - w) * shared[pid], 4)
            rules[pid] = f"shrunk: {w:.2f} x own {own[pid]:.2f} + {1 - w:.2f} x global {shared[pid]:.2f} ({n} positives)"
    return thresholds, rules


def lookalike_tradeoff(y_true, scores, policy_ids, thresholds, lookalikes, *, bounds=BOUNDS,
                       step: float = STEP) -> list[dict[str, float]]:
    """For each common floor on the grid: validation macro-F1 and the share of look-alikes rejected when every
    threshold is raised to at least the floor."""
    base = np.array([thresholds[p] for p in policy_ids])
    curve = []
    for floor in np.round(np.arange(bounds[0], bounds[1] + step / 2, step), 4):
        t = np.maximum(base, floor)
        curve.append({"floor": float(floor),
                      "macro_f1": multilabel_metrics(y_true, flag(scores, t), policy_ids)["macro_f1"],
                      "lookalike_false_reject": _false_reject(scores[lookalikes], t)})
    return curve


def _apply_floor(choice: ThresholdChoice, cap: float, policy_ids) -> None:
    """Raise every threshold to the floor with the best validation macro-F1 among those whose look-alike false
    reject rate is at most ``cap`` (the lowest such floor on ties)."""
    if not choice.lookalikes:
        choice.note = f"max_false_reject={cap}: the validation split holds no allowed look-alikes; not applied"
        return
    feasible = [c for c in choice.curve if c["lookalike_false_reject"] <= cap + 1e-12]
    if not feasible:
        best = min(choice.curve, key=lambda c: (c["lookalike_false_reject"], -c["macro_f1"]))
        choice.note = (f"max_false_reject={cap}: no floor keeps it (lowest {best['lookalike_false_reject']:.3f} at "
                       f"{best['floor']:.2f}); that floor is used")
    else:
        best = max(feasible, key=lambda c: (round(c["macro_f1"], 9), -c["floor"]))
    raised = [pid for pid in policy_ids if choice.thresholds[pid] < best["floor"]]
    choice.floor = best["floor"] if raised else None  # a floor under every threshold changes nothing
    for pid in raised:
        choice.thresholds[pid] = best["floor"]
        choice.rules[pid] += f", raised to the look-alike floor {best['floor']:.2f}"
    choice.lookalike_false_reject = best["lookalike_false_reject"]


def _false_reject(scores: np.ndarray, thresholds) -> float:
    """Share of these (allowed) rows that at least one policy flags."""
    if not len(scores):
        return 0.0
    return float(flag(scores, thresholds).any(axis=1).mean())


def global_threshold(y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *,
                     bounds: tuple[float, float] = BOUNDS, step: float = STEP) -> dict[str, float]:
    """One threshold for all policies: the grid value in ``bounds`` with the best validation macro-F1 (the
    lowest such value on ties, so rare policies keep their recall)."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    grid = np.round(np.arange(bounds[0], bounds[1] + step / 2, step), 4)
    f1 = [multilabel_metrics(y_true, scores >= t, policy_ids)["macro_f1"] for t in grid]
    best = float(grid[int(np.argmax(f1))])
    return {pid: best for pid in policy_ids}


def per_policy_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *, min_positives: int = 3,
    bounds: tuple[float, float] = BOUNDS,
) -> dict[str, float]:
    """The F1-maximising threshold per policy. A policy with fewer than ``min_positives`` validation positives
    keeps ``DEFAULT_THRESHOLD``: a threshold tuned on one or two examples would be noise."""
    # here, not at the top: every script's config check reads STRATEGIES, and predict's path stays free of
    # scikit-learn (tests/serving/test_onnx_runtime.py runs it with torch made unimportable, where sklearn fails)
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    out = {}
    for i, pid in enumerate(policy_ids):
        if y_true[:, i].sum() < min_positives:
            out[pid] = DEFAULT_THRESHOLD
            continue
        precision, recall, thresholds = precision_recall_curve(y_true[:, i], scores[:, i])
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        best = int(np.argmax(f1[:-1]))  # the last point has no threshold
        out[pid] = float(np.clip(thresholds[best], *bounds))
    return out
