"""Decision thresholds, chosen on validation data (never on policy cases).

A threshold strategy turns validation labels and scores into one threshold per policy (``ThresholdStrategy``); the
run's config names it (``threshold_strategy``), a built-in or a plugin ``package.module:Name``. Three are built in.
``global`` (the default): one threshold for every policy, the one that maximises validation macro-F1.
``per_policy``: the F1-maximising threshold of each policy. ``adaptive``: each policy's own F1-best threshold shrunk
toward the global one by its support (``n / (n + shrinkage)`` of its own, where ``n`` is its validation positives),
and the global one where it has fewer than ``min_positives``. A validation split of a few hundred listings holds
about ten positives per policy, and a threshold tuned on ten examples is mostly noise: on the sample, one shared
threshold raised policy-case macro-F1 by 0.03 to 0.08 over per-policy ones (README, "What decided the recipe"); but
one threshold for a rare policy beside a common one sacrifices the rare one, which ``adaptive`` avoids where the data
can tell them apart.

On top of any strategy, ``max_false_reject`` caps the share of the validation split's allowed look-alikes (the
policy's examples and contrast rows that land there) that any policy rejects: every threshold is raised to a
common floor, the floor with the best validation macro-F1 among those that keep the cap. Ordinary allowed listings
say little about look-alikes, so without it the chosen threshold sits far too low for them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence

import numpy as np

from moddistill.errors import UserError
from moddistill.metrics.classification import flag, multilabel_metrics
from moddistill.registry import Registry

DEFAULT_THRESHOLD = 0.5
BOUNDS = (0.05, 0.95)
STEP = 0.01

THRESHOLD_STRATEGIES = Registry("threshold strategy", {
    "global": "moddistill.metrics.thresholds:GlobalThreshold",
    "per_policy": "moddistill.metrics.thresholds:PerPolicyThresholds",
    "adaptive": "moddistill.metrics.thresholds:AdaptiveThresholds",
})


class ThresholdStrategy(Protocol):
    """Built with no arguments. ``choose`` returns a threshold per policy id, within ``bounds`` so a lucky split
    cannot flag (almost) everything or nothing, and a sentence per policy saying how it was chosen (``rules`` in
    ``metrics.json``). ``y_true``: (n, k) 0/1 teacher labels; ``scores``: (n, k) the model's validation scores."""

    def choose(self, y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *,
               bounds: tuple[float, float]) -> tuple[dict[str, float], dict[str, str]]: ...


@dataclass(frozen=True)
class ThresholdRule:
    """How a run turns validation scores into thresholds (``threshold_strategy`` and ``max_false_reject`` in the
    run's config)."""

    strategy: str = "global"
    max_false_reject: float | None = None

    def __post_init__(self):
        THRESHOLD_STRATEGIES.resolve(self.strategy)  # a built-in name or a plugin that imports; else a UserError

    @classmethod
    def from_cfg(cls, cfg) -> "ThresholdRule":
        cap = cfg.get("max_false_reject")
        return cls(strategy=str(cfg.threshold_strategy), max_false_reject=None if cap is None else float(cap))

    @classmethod
    def parse(cls, text: str) -> "ThresholdRule":
        """``strategy[@max_false_reject]``: ``global``, ``adaptive@0.05``, ``my_pkg.thresholds:Mine@0.1``."""
        strategy, _, cap = str(text).partition("@")
        try:
            value = float(cap) if cap else None
        except ValueError:
            value = -1.0
        if value is not None and not 0 <= value <= 1:
            raise UserError(f"threshold rule {text!r}: expected strategy[@max_false_reject], the cap a number in [0, 1]")
        return cls(strategy=strategy, max_false_reject=value)


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
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *,
    strategy: str | ThresholdStrategy = "global", bounds: tuple[float, float] = BOUNDS,
) -> dict[str, float]:
    """Thresholds per policy id by ``strategy`` alone (a name, or a strategy built with other settings)."""
    return _by_strategy(strategy, y_true, scores, policy_ids, bounds)[0]


def choose_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], rule: ThresholdRule,
    lookalikes: np.ndarray | None = None, *, bounds: tuple[float, float] = BOUNDS,
) -> ThresholdChoice:
    """Thresholds by ``rule``; ``lookalikes`` marks the validation rows that are allowed look-alikes."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    thresholds, rules = _by_strategy(rule.strategy, y_true, scores, policy_ids, bounds)
    choice = ThresholdChoice(thresholds, rules, dict(thresholds))
    mask = np.zeros(len(scores), dtype=bool) if lookalikes is None else np.asarray(lookalikes, dtype=bool)
    choice.lookalikes = int(mask.sum())
    if choice.lookalikes:
        choice.curve = lookalike_tradeoff(y_true, scores, policy_ids, thresholds, mask, bounds=bounds)
        choice.lookalike_false_reject = _false_reject(scores[mask], [thresholds[p] for p in policy_ids])
    if rule.max_false_reject is not None:
        _apply_floor(choice, rule.max_false_reject, policy_ids)
    return choice


def _by_strategy(strategy: str | ThresholdStrategy, y_true, scores, policy_ids,
                 bounds) -> tuple[dict[str, float], dict[str, str]]:
    """The strategy's thresholds and reasons, checked: a plugin that misses a policy or goes out of [0, 1] fails
    here, naming itself, not later as a KeyError in some report."""
    impl = THRESHOLD_STRATEGIES.resolve(strategy)() if isinstance(strategy, str) else strategy
    thresholds, rules = impl.choose(np.asarray(y_true, dtype=int), np.asarray(scores, dtype=float), policy_ids,
                                    bounds=bounds)
    bad = [p for p in policy_ids if not isinstance(thresholds.get(p), numbers.Real) or p not in rules
           or not (math.isfinite(thresholds[p]) and 0 <= thresholds[p] <= 1)]
    if bad:
        raise UserError(f"threshold strategy {strategy!r}: no threshold in [0, 1] with a reason for "
                        f"{', '.join(bad)}")
    return {p: float(thresholds[p]) for p in policy_ids}, {p: str(rules[p]) for p in policy_ids}


class GlobalThreshold:
    def choose(self, y_true, scores, policy_ids, *, bounds):
        return global_threshold(y_true, scores, policy_ids, bounds=bounds), {p: "global" for p in policy_ids}


@dataclass(frozen=True)
class PerPolicyThresholds:
    """Each policy's own F1-best threshold; ``DEFAULT_THRESHOLD`` where it has fewer than ``min_positives``."""

    min_positives: int = 3

    def choose(self, y_true, scores, policy_ids, *, bounds):
        own = per_policy_thresholds(y_true, scores, policy_ids, min_positives=self.min_positives, bounds=bounds)
        rules = {}
        for i, pid in enumerate(policy_ids):
            n = int(y_true[:, i].sum())
            rules[pid] = (f"default ({n} validation positives < {self.min_positives})" if n < self.min_positives
                          else f"own ({n} validation positives)")
        return own, rules


@dataclass(frozen=True)
class AdaptiveThresholds:
    """Each policy's own threshold shrunk toward the global one by its support; the global one below
    ``min_positives``."""

    min_positives: int = 3
    shrinkage: float = 20.0

    def choose(self, y_true, scores, policy_ids, *, bounds):
        shared = global_threshold(y_true, scores, policy_ids, bounds=bounds)
        own = per_policy_thresholds(y_true, scores, policy_ids, min_positives=self.min_positives, bounds=bounds)
        thresholds, rules = {}, {}
        for i, pid in enumerate(policy_ids):
            n = int(y_true[:, i].sum())
            if n < self.min_positives:
                thresholds[pid] = shared[pid]
                rules[pid] = f"global ({n} validation positives < {self.min_positives})"
            else:
                w = n / (n + self.shrinkage)
                thresholds[pid] = round(w * own[pid] + (1 - w) * shared[pid], 4)
                rules[pid] = (f"shrunk: {w:.2f} x own {own[pid]:.2f} + {1 - w:.2f} x global {shared[pid]:.2f} "
                              f"({n} positives)")
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
    # here, not at the top: every script's config check reads this module, and predict's path stays free of
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
