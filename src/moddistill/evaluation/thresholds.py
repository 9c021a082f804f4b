"""Per-policy decision thresholds, chosen on validation data (never on policy cases)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve

DEFAULT_THRESHOLD = 0.5


def select_thresholds(
    y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str], *, min_positives: int = 3,
    bounds: tuple[float, float] = (0.05, 0.95),
) -> dict[str, float]:
    """The F1-maximising threshold per policy on validation data.

    A policy with fewer than ``min_positives`` validation positives keeps ``DEFAULT_THRESHOLD``: a
    threshold tuned on one or two examples would be noise. Thresholds are clipped to ``bounds`` so a
    lucky validation split cannot set a policy to flag (almost) everything or nothing.
    """
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
