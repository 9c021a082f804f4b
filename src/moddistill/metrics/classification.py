"""Multi-label moderation metrics, counted per policy column (numpy only; `evaluate.load` needs the hub).

Every per-policy figure is about the *positive* class of its column ("this listing violates policy p"),
whatever the number of policies: scikit-learn reads an (n, 1) array as a binary target and would report
the negative class, so a one-policy label space is counted here by hand, exactly like a twelve-policy one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def f1_from_counts(tp, fp, fn) -> np.ndarray:
    """2·TP / (2·TP + FP + FN), elementwise; 0 where there is nothing to count (no positives, no flags)."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.broadcast(tp, denom).shape), where=denom > 0)


def _ratio(num, denom) -> np.ndarray:
    num, denom = np.asarray(num, dtype=float), np.asarray(denom, dtype=float)
    return np.divide(num, denom, out=np.zeros(denom.shape), where=denom > 0)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column true positives, false positives and false negatives of (n, k) 0/1 arrays."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    return (t & p).sum(axis=0), (~t & p).sum(axis=0), (t & ~p).sum(axis=0)


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, policy_ids: Sequence[str]) -> dict:
    """Per-policy precision/recall/F1/support, macro and micro F1, and allow/reject decision accuracy.

    ``y_true`` and ``y_pred`` are (n, k) 0/1 arrays in ``policy_ids`` order (k >= 1). Per policy, the
    positive class is "violates p"; a figure with nothing to count (no flags for precision, no positives
    for recall) is 0. Macro-F1 is the mean of the k per-policy F1 scores; micro-F1 counts every
    (listing, policy) pair. A listing's decision is "reject" when any policy is flagged, so decision
    accuracy is what a moderation queue experiences.
    """
    k = len(policy_ids)
    y_true, y_pred = _as_matrix(y_true, k), _as_matrix(y_pred, k)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    tp, fp, fn = confusion_counts(y_true, y_pred)
    precision, recall, f1 = _ratio(tp, tp + fp), _ratio(tp, tp + fn), f1_from_counts(tp, fp, fn)
    per_policy = {
        pid: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(tp[i] + fn[i]),
            "predicted": int(tp[i] + fp[i]),
        }
        for i, pid in enumerate(policy_ids)
    }
    return {
        "n": int(len(y_true)),
        "macro_f1": float(f1.mean()) if k else float("nan"),
        "micro_f1": float(f1_from_counts(tp.sum(), fp.sum(), fn.sum())),
        "decision_accuracy": decision_accuracy(y_true, y_pred),
        "per_policy": per_policy,
    }


def _as_matrix(y, k: int) -> np.ndarray:
    """(n, k) ints; a 1-D array is one policy's column (k == 1), an empty one has no rows."""
    y = np.asarray(y, dtype=int)
    if y.size == 0:
        return y.reshape(0, k)
    if y.ndim == 1 and k == 1:
        return y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != k:
        raise ValueError(f"expected an (n, {k}) array for {k} policies, got shape {y.shape}")
    return y


def decision_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean(np.asarray(y_true).any(axis=1) == np.asarray(y_pred).any(axis=1)))


def calibration(y_true: np.ndarray, scores: np.ndarray, *, bins: int = 10) -> dict:
    """Brier score and expected calibration error over every (listing, policy) pair.

    Brier = mean of (score - y)^2. ECE = sum over ``bins`` equal-width score bins of
    (pairs in bin / all pairs) * |observed violation rate - mean score| in that bin; a score of exactly
    1.0 falls in the last bin. ``reliability`` lists the non-empty bins for a reliability table.
    """
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size} values) and scores ({s.size} values) differ in size")
    if y.size == 0:
        return {"pairs": 0, "brier": float("nan"), "ece": float("nan"), "bins": bins, "reliability": []}
    which = np.clip(np.floor(np.clip(s, 0.0, 1.0) * bins).astype(int), 0, bins - 1)
    ece, reliability = 0.0, []
    for b in range(bins):
        member = which == b
        n = int(member.sum())
        if not n:
            continue
        mean_score, rate = float(s[member].mean()), float(y[member].mean())
        ece += n / y.size * abs(rate - mean_score)
        reliability.append({"low": b / bins, "high": (b + 1) / bins, "pairs": n,
                            "mean_score": mean_score, "violation_rate": rate})
    return {"pairs": int(y.size), "brier": float(np.mean((s - y) ** 2)), "ece": float(ece), "bins": bins,
            "reliability": reliability}


def logit(p, eps: float = 1e-6) -> np.ndarray:
    """log(p / (1 - p)) of probabilities clipped to [eps, 1 - eps], so 0 and 1 stay finite."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


def flag(scores: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """0/1 flags: a policy is flagged when its score is at or above its threshold."""
    return (np.asarray(scores) >= np.asarray(thresholds, dtype=float)[None, :]).astype(int)
