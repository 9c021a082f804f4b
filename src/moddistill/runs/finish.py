"""Finishing a run, the same for students and baselines: thresholds chosen on the validation split, the validation
scores, the collapse check, ``metrics.json`` (written atomically) and ``latest``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from omegaconf import DictConfig

from moddistill.data.policy import Policy
from moddistill.data.records import write_jsonl, write_text_atomic
from moddistill.metrics.classification import flag, multilabel_metrics
from moddistill.metrics.threshold_plot import record_threshold_choice
from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds
from moddistill.provenance import environment, git_commit, peak_memory_mb
from moddistill.runs.collapse import collapse_message, detect_collapse
from moddistill.runs.run import METRICS_FILE, VALIDATION_SCORES_FILE, point_latest

log = logging.getLogger(__name__)


class SplitData(Protocol):
    """What finishing reads of the training data (``distill/data.py`` TrainingData)."""

    policy: Policy
    validation: Sequence  # rows with ``.listing.id`` and ``.is_lookalike``
    report: dict
    render: str  # the listing rendering the model was trained on

    def labels(self, split: str) -> np.ndarray: ...

    def lookalikes(self, split: str) -> np.ndarray: ...


def finish_run(run_dir: Path, cfg: DictConfig, data: SplitData, val_scores: np.ndarray, *, kind: str, model: dict,
               train: dict, resources: dict, choices: dict | None = None) -> dict:
    """Choose the thresholds by the run's rule on its validation scores, write ``validation_scores.jsonl`` and
    ``metrics.json``, point ``latest`` at the run and return the metrics.

    ``model`` (name, method, parameters, ...), ``train`` (timings) and ``resources`` (device, processes) are what
    only the caller knows; ``choices``, any value chosen on validation besides the thresholds (the student's
    encoder weight), is recorded beside them.
    """
    ids = data.policy.ids
    val_teacher = data.labels("validation")
    rule = ThresholdRule.from_cfg(cfg)
    choice = choose_thresholds(val_teacher >= 0.5, val_scores, ids, rule, data.lookalikes("validation"))
    thresholds = choice.thresholds
    write_jsonl(run_dir / VALIDATION_SCORES_FILE, (
        {"id": r.listing.id, "teacher": dict(zip(ids, map(float, t))), "student": dict(zip(ids, map(float, s))),
         "lookalike": r.is_lookalike}
        for r, t, s in zip(data.validation, val_teacher, val_scores)
    ))
    collapse = detect_collapse(val_teacher >= 0.5, val_scores, ids)
    metrics = {
        "experiment": cfg.experiment,
        "kind": kind,
        "run_dir": str(run_dir),
        **model,
        "policy": {"id": data.policy.id, "version": data.policy.version, "labels": list(ids)},
        "render_version": data.render,
        "data": data.report,
        "train": train,
        "validation": {
            "at_0.5": multilabel_metrics(val_teacher >= 0.5, val_scores >= 0.5, ids),
            "at_thresholds": multilabel_metrics(val_teacher >= 0.5, flag(val_scores, [thresholds[p] for p in ids]), ids),
        },
        "thresholds": thresholds,
        "threshold_rule": record_threshold_choice(choice, rule, run_dir),
        **(choices or {}),
        "collapse": collapse,
        "resources": {**resources, **peak_memory_mb()},
        "provenance": {"git_commit": git_commit(), **environment()},
    }
    write_text_atomic(run_dir / METRICS_FILE, json.dumps(metrics, indent=2, default=str))
    point_latest(run_dir)
    log.info("%s: validation macro-F1 %.3f at the chosen thresholds, %.3f at 0.5 (teacher labels >= 0.5); run saved "
             "in %s", kind, metrics["validation"]["at_thresholds"]["macro_f1"], metrics["validation"]["at_0.5"]["macro_f1"],
             run_dir)
    if collapse["failed_policies"]:
        (log.error if collapse["collapsed"] else log.warning)(collapse_message(collapse))
    return metrics
