"""The TF-IDF + logistic-regression baseline (``conf/baseline/tfidf_logreg.yaml``; run by ``baselines/train.py``).

The model is character (``char_wb``) and word n-gram TF-IDF features with one logistic regression per policy.
Teacher soft labels go in as sample weights: each training row appears once as a positive with weight ``p``
and once as a negative with weight ``1 - p`` (a zero-weight copy is dropped), which is exactly logistic
regression on the soft target ``p``. ``class_weight="balanced"`` balances the two classes' *soft* mass
(``n / (2 * sum p)`` and ``n / (2 * sum(1 - p))``), not the counts of the duplicated rows, which would count a
row the teacher gave 0.1 as a whole positive.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal, Sequence

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from moddistill.distill.soft_logistic import soft_logistic_regression
from moddistill.settings import Bool, IntPair, PositiveInt, Text

log = logging.getLogger(__name__)


class TfidfBaseline:
    """Character + word n-gram TF-IDF, one logistic regression per policy, fitted on soft labels.

    A policy whose training labels have no positive (or no negative) mass at all gets a constant scorer
    (0 or 1) and a warning: there is nothing to learn, and its validation scores will show it as collapsed.
    """

    # The signature is the config's schema: conf/baseline/*.yaml is checked against these types and ranges
    # (baselines/settings.py) before any data is read.
    def __init__(self, *, char_ngram_range: IntPair = (2, 5), char_min_df: PositiveInt = 2,
                 word_ngram_range: IntPair = (1, 2), word_min_df: PositiveInt = 1, sublinear_tf: Bool = True,
                 C: Annotated[float, Field(gt=0)] = 10.0, class_weight: Literal["balanced", None] = "balanced",
                 max_iter: PositiveInt = 2000, solver: Text = "lbfgs"):
        if class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or null, got {class_weight!r}")
        self.char_ngram_range = tuple(int(n) for n in char_ngram_range)
        self.char_min_df = int(char_min_df)
        self.word_ngram_range = tuple(int(n) for n in word_ngram_range)
        self.word_min_df = int(word_min_df)
        self.sublinear_tf = bool(sublinear_tf)
        self.C = float(C)
        self.class_weight = class_weight
        self.max_iter = int(max_iter)
        self.solver = solver
        self.policy_ids: tuple[str, ...] | None = None
        self.vectorizer: FeatureUnion | None = None
        self.scorers: list[LogisticRegression | float] = []  # per policy: a fitted model, or a constant score

    @property
    def name(self) -> str:
        (c0, c1), (w0, w1) = self.char_ngram_range, self.word_ngram_range
        return f"tfidf-char{c0}-{c1}+word{w0}-{w1}-logreg-C{self.C:g}"

    def fit(self, texts: Sequence[str], labels: np.ndarray, policy_ids: Sequence[str]) -> "TfidfBaseline":
        """``labels``: (n, k) teacher probabilities in ``policy_ids`` order."""
        labels = np.asarray(labels, dtype=float).reshape(len(texts), len(policy_ids))
        self.policy_ids = tuple(policy_ids)
        self.vectorizer = FeatureUnion([
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngram_range,
                                     sublinear_tf=self.sublinear_tf, min_df=self.char_min_df)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=self.word_ngram_range,
                                     sublinear_tf=self.sublinear_tf, min_df=self.word_min_df)),
        ])
        X = sp.csr_matrix(self.vectorizer.fit_transform(list(texts)))
        self.scorers = [self._fit_policy(pid, X, labels[:, i]) for i, pid in enumerate(self.policy_ids)]
        return self

    def _fit_policy(self, pid: str, X: sp.csr_matrix, p: np.ndarray) -> LogisticRegression | float:
        return soft_logistic_regression(X, p, C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                        solver=self.solver, name=f"baseline: policy {pid}")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities, columns in policy order."""
        if self.vectorizer is None:
            raise ValueError("this baseline is not fitted; call fit() first")
        texts = list(texts)
        out = np.zeros((len(texts), len(self.scorers)), dtype=float)
        if not texts:
            return out
        X = self.vectorizer.transform(texts)
        for i, scorer in enumerate(self.scorers):
            out[:, i] = scorer if isinstance(scorer, float) else scorer.predict_proba(X)[:, 1]
        return out

    @property
    def n_features(self) -> int:
        return 0 if self.vectorizer is None else sum(len(v.vocabulary_) for _, v in self.vectorizer.transformer_list)

    def parameter_count(self) -> int:
        """Non-zero coefficients plus intercepts over the fitted policies (a constant scorer has none)."""
        fitted = [s for s in self.scorers if not isinstance(s, float)]
        return int(sum(np.count_nonzero(s.coef_) + s.intercept_.size for s in fitted))
