"""A TF-IDF + logistic-regression baseline, trained on exactly the rows a student trains on and judged by the
same evaluation: python scripts/baseline.py (conf/baseline.yaml).

The model is character (``char_wb``) and word n-gram TF-IDF features with one logistic regression per policy.
Teacher soft labels go in as sample weights: each training row appears once as a positive with weight ``p``
and once as a negative with weight ``1 - p`` (a zero-weight copy is dropped), which is exactly logistic
regression on the soft target ``p``. ``class_weight="balanced"`` balances the two classes' *soft* mass
(``n / (2 * sum p)`` and ``n / (2 * sum(1 - p))``), not the counts of the duplicated rows, which would count a
row the teacher gave 0.1 as a whole positive.

A run is a directory like a student's (config.yaml, metrics.json with ``kind: baseline``,
validation_scores.jsonl, written by ``runs.finish.finish_run``) holding ``baseline.joblib`` instead of an adapter;
``evaluation.scorer.score_run`` loads it with ``load_baseline``, so evaluation and the leaderboard treat it like any
other run. Loading and scoring import
no torch; training does (through the shared data preparation).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Literal, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig, OmegaConf
from pydantic import Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from moddistill.config import save_config
from moddistill.distill.soft_logistic import soft_logistic_regression
from moddistill.runs.finish import finish_run
from moddistill.runs.run import (
    BASELINE_FILE,
    CONFIG_FILE,
)
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

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        joblib.dump(self, tmp)
        tmp.replace(path)
        return path


def load_baseline(path: str | Path):
    """A saved baseline (a pickle: load only runs you trust)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved baseline")
    model = joblib.load(path)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"{path}: not a baseline model ({type(model).__name__})")
    return model


def train_baseline(cfg: DictConfig) -> Path:
    """Fit ``cfg.baseline`` (a ``_target_``) on the student's training split, choose thresholds on its validation
    split exactly like the student, and write the run; returns the run directory."""
    from hydra.utils import instantiate

    from moddistill.distill.data import prepare_training_data  # pulls torch/transformers: training only

    run_dir = Path(cfg.output_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} is not empty; pass output_dir=<a new directory>")
    cfg = cfg.copy()
    cfg.output_dir = str(run_dir)  # resolve ${now:...} once
    save_config(cfg, run_dir / CONFIG_FILE)
    cfg = OmegaConf.load(run_dir / CONFIG_FILE)

    data = prepare_training_data(cfg, run_dir)
    ids = data.policy.ids
    model = instantiate(cfg.baseline)
    started = time.perf_counter()
    model.fit(data.texts("train"), data.labels("train"), ids)
    train_seconds = time.perf_counter() - started
    model.save(run_dir / BASELINE_FILE)

    val_scores = model.predict_proba(data.texts("validation"))
    parameters = model.parameter_count()
    finish_run(
        run_dir, cfg, data, val_scores, kind="baseline",
        model={"model": model.name, "parameters": {"total": parameters, "trainable": parameters},
               "features": model.n_features},
        train={"wall_seconds": round(train_seconds, 2),
               "train_samples_per_second": round(len(data.train) / train_seconds, 1) if train_seconds > 0 else None},
        resources={"device": "cpu", "num_processes": 1},
    )
    log.info("baseline %s: %d features, %d parameters, fitted on %d rows in %.1f s (%.0f rows/s)", model.name,
             model.n_features, parameters, len(data.train), train_seconds, len(data.train) / max(train_seconds, 1e-9))
    return run_dir
