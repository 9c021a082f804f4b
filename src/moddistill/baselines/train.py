"""Any baseline as a run: ``scripts/baseline.py`` fits ``cfg.baseline`` (a ``_target_``) on exactly the rows a student
trains on, saves it, and finishes the run like a student's (thresholds by the same rule, validation scores,
``metrics.json`` with ``kind: baseline``), so evaluation and the leaderboard treat it like any other run.

A new baseline is one class with the ``Baseline`` methods and one ``conf/baseline/<name>.yaml`` naming it as
``_target_``; its constructor's signature is its config schema (``baselines/settings.py``). Loading and scoring a
saved baseline import no torch; training does (through the shared data preparation).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import joblib
import numpy as np
from omegaconf import DictConfig, OmegaConf

from moddistill.config import save_config
from moddistill.data.records import atomic_path
from moddistill.errors import ConfigError
from moddistill.runs.finish import finish_run
from moddistill.runs.run import BASELINE_FILE, CONFIG_FILE

log = logging.getLogger(__name__)


@runtime_checkable
class Baseline(Protocol):
    """What a baseline does: learn from teacher probabilities, score texts. Saved and loaded with joblib."""

    name: str  # what the leaderboard's model column shows
    n_features: int

    def fit(self, texts: Sequence[str], labels: np.ndarray, policy_ids: Sequence[str]) -> "Baseline":
        """``labels``: (n, k) teacher probabilities in ``policy_ids`` order."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities, columns in policy order."""

    def parameter_count(self) -> int:
        """The fitted model's parameters (what the leaderboard compares sizes by)."""


def train_baseline(cfg: DictConfig) -> Path:
    """Fit ``cfg.baseline`` on the student's training split, choose thresholds on its validation split exactly like
    the student, and write the run; returns the run directory."""
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
    model = instantiate(cfg.baseline)
    missing = [m for m in ("fit", "predict_proba", "parameter_count") if not callable(getattr(model, m, None))]
    if missing:  # name and n_features may only exist once fitted
        raise ConfigError(f"config key baseline._target_={cfg.baseline._target_!r}: not a Baseline (it has no "
                          f"{', '.join(missing)}; baselines/train.py says what one does)")
    started = time.perf_counter()
    model.fit(data.texts("train"), data.labels("train"), data.policy.ids)
    train_seconds = time.perf_counter() - started
    save_baseline(model, run_dir / BASELINE_FILE)

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


def save_baseline(model: Baseline, path: str | Path) -> Path:
    """Written atomically: a reader never sees half a model."""
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp)
    return Path(path)


def load_baseline(path: str | Path) -> Baseline:
    """A saved baseline (a pickle: load only runs you trust)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved baseline")
    model = joblib.load(path)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"{path}: not a baseline model ({type(model).__name__})")
    return model
