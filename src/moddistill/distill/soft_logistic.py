"""Logistic regression on soft labels: what the TF-IDF baseline fits per policy and what the student's stacked
n-gram channel fits before the encoder trains (``distill/ngram_fit.py``)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)


def soft_label_rows(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft labels ``p`` (n,) -> (row index, 0/1 target, sample weight) of the weighted two-copy data set:
    every row with ``p > 0`` as a positive of weight ``p``, every row with ``p < 1`` as a negative of weight
    ``1 - p``. Minimising weighted log-loss over it is minimising cross-entropy against ``p``."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    pos, neg = np.flatnonzero(p > 0), np.flatnonzero(p < 1)
    rows = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos), dtype=int), np.zeros(len(neg), dtype=int)])
    return rows, y, np.concatenate([p[pos], 1.0 - p[neg]])


def soft_logistic_regression(X: sp.csr_matrix, p: np.ndarray, *, C: float = 10.0, class_weight: str | None = "balanced",
                             max_iter: int = 2000, solver: str = "lbfgs", name: str = "policy") -> LogisticRegression | float:
    """One policy's logistic regression on soft labels (``soft_label_rows``); a constant 0 or 1 when the labels
    hold no positive (or no negative) mass at all. ``balanced`` weighs each class by its share of label mass."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if p.sum() == 0 or (1 - p).sum() == 0:
        constant = 0.0 if p.sum() == 0 else 1.0
        log.warning("%s has no %s training labels; it scores every listing %g",
                    name, "positive" if constant == 0 else "negative", constant)
        return constant
    rows, y, weight = soft_label_rows(p)
    if class_weight == "balanced":
        n = len(p)
        weight = weight * np.where(y == 1, n / (2 * p.sum()), n / (2 * (1 - p).sum()))
    model = LogisticRegression(C=C, max_iter=max_iter, solver=solver)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X[rows], y, sample_weight=weight)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s did not converge in max_iter=%d iterations", name, max_iter)
    return model
