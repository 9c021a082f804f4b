"""Decision thresholds, chosen on validation data (never on policy cases).

Two strategies. ``per_policy``: the F1-maximising threshold of each policy. ``global`` (the default): one
threshold for every policy, the one that maximises validation macro-F1. A validation split of a few hundred
listings holds about ten positives per policy, and a threshold tuned on ten examples is mostly noise: on the
sample, one shared threshold raised policy-case macro-F1 by 0.03 to 0.08 for students and the TF-IDF baseline
alike (see README, "What decided the recipe").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve

from moddistill.evaluation.metrics import multilabel_metrics

DEFAULT_THRESHOLD = 0.5
STRATEGIES = ("global", "per_policy")
BOUNDS = (0.05, 0.95)


def select_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *, strategy: str = "global",
    min_positives: int = 3, bounds: tuple[float, float] = BOUNDS,
) -> dict[str, float]:
    """Thresholds per policy id, clipped to ``bounds`` so a lucky split cannot flag (almost) everything or nothing."""
    if strategy == "global":
        return global_threshold(y_true, scores, policy_ids, bounds=bounds)
    if strategy == "per_policy":
        return per_policy_thresholds(y_true, scores, policy_ids, min_positives=min_positives, bounds=bounds)
    raise ValueError(f"threshold strategy must be one of {STRATEGIES}, got {strategy!r}")


def global_threshold(y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *,
                     bounds: tuple[float, float] = BOUNDS, step: float = 0.01) -> dict[str, float]:
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
