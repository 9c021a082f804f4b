"""Multi-label moderation metrics (scikit-learn underneath; `evaluate.load` needs the hub)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, policy_ids: Sequence[str]) -> dict:
    """Per-policy precision/recall/F1/support, macro and micro F1, and allow/reject decision accuracy.

    ``y_true`` and ``y_pred`` are (n, k) 0/1 arrays in ``policy_ids`` order. A listing's decision is
    "reject" when any policy is flagged, so decision accuracy is what a moderation queue experiences.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, labels=range(len(policy_ids)), zero_division=0
    )
    per_policy = {
        pid: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(y_pred[:, i].sum()),
        }
        for i, pid in enumerate(policy_ids)
    }
    return {
        "n": int(len(y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "decision_accuracy": decision_accuracy(y_true, y_pred),
        "per_policy": per_policy,
    }


def decision_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean(np.asarray(y_true).any(axis=1) == np.asarray(y_pred).any(axis=1)))


def flag(scores: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """0/1 flags: a policy is flagged when its score is at or above its threshold."""
    return (np.asarray(scores) >= np.asarray(thresholds, dtype=float)[None, :]).astype(int)
