"""A finished run on disk (a student or a baseline), its layout, and the scorer it holds.

The layout names live here, not in the training recipe, so evaluation, export and baselines read a run without
importing the trainer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from omegaconf import DictConfig

from moddistill.config import load_config, to_dict
from moddistill.policy import Policy, parse_policy

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.json"  # a run that crashed (e.g. one job of a sweep) says why here
VALIDATION_SCORES_FILE = "validation_scores.jsonl"
ADAPTER_DIR = "adapter"  # LoRA adapter + fully trained modules (head, n-gram channel)
MODEL_DIR = "model"  # a fully fine-tuned student
TOKENIZER_DIR = "tokenizer"
BASE_MODEL_DIR = "base_model"  # only for models built from an architecture config (no pretrained weights)
BASELINE_FILE = "baseline.joblib"


@dataclass(frozen=True)
class Run:
    dir: Path

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        run_dir = Path(path).resolve()  # follows checkpoints/<experiment>/latest
        if (run_dir / ERROR_FILE).exists() and not (run_dir / METRICS_FILE).exists():
            error = json.loads((run_dir / ERROR_FILE).read_text(encoding="utf-8"))
            raise FileNotFoundError(f"{path}: this run failed ({error.get('type')}: {error.get('error')})")
        for required in (CONFIG_FILE, METRICS_FILE):
            if not (run_dir / required).exists():
                raise FileNotFoundError(
                    f"{path}: not a finished training run (missing {required}); "
                    "pass checkpoint=checkpoints/<experiment>/<run> or .../latest"
                )
        return cls(run_dir)

    @cached_property
    def cfg(self) -> DictConfig:
        return load_config(self.dir / CONFIG_FILE)

    @cached_property
    def metrics(self) -> dict:
        return json.loads((self.dir / METRICS_FILE).read_text(encoding="utf-8"))

    @cached_property
    def policy(self) -> Policy:
        return parse_policy(to_dict(self.cfg.policy), source=str(self.dir / CONFIG_FILE))

    @property
    def kind(self) -> str:
        return self.metrics.get("kind", "student")

    @property
    def thresholds(self) -> dict[str, float]:
        return self.metrics["thresholds"]

    @property
    def max_length(self) -> int:
        return int(self.cfg.model.max_length)

    @property
    def method(self) -> str:
        """``lora`` or ``full``, as metrics.json records it (older runs: by which weights directory exists)."""
        return self.metrics.get("method") or ("full" if (self.dir / MODEL_DIR).exists() else "lora")

    def load_student(self):
        """The run's student as one plain model, ready to score, and its tokenizer, whatever the method.

        The one place a run directory becomes a scoring model: evaluation, export (torch and ONNX), the loop
        simulation and the tests all load through here, so a LoRA run and a full run cannot differ in what they
        restore. Weights: full fine-tuning, ``model/``; LoRA, the base (``base_model/``, or the pretrained weights
        config.yaml names) with ``adapter/`` (LoRA matrices, head, n-gram channel with its IDF) merged into it, so
        evaluation scores the very model the export ships. Then the label order of config.yaml's policy is
        checked against the head, and every value training chose after the weights were final and keeps outside
        them is applied (``RESTORES``). The decision thresholds, the other such value, are ``Run.thresholds``.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from moddistill.distill.model import build_base_model

        if self.kind != "student":
            raise ValueError(f"{self.dir}: a {self.kind} run has no student model")
        method = self.method
        weights = self.dir / (MODEL_DIR if method == "full" else ADAPTER_DIR)
        if not weights.is_dir():
            raise FileNotFoundError(f"{self.dir}: a {method} run without its {weights.name}/ directory")
        tokenizer = AutoTokenizer.from_pretrained(self.dir / TOKENIZER_DIR)
        if method == "full":
            model = AutoModelForSequenceClassification.from_pretrained(weights)
        else:
            from peft import PeftModel

            base_dir = self.dir / BASE_MODEL_DIR
            if base_dir.exists():
                base = AutoModelForSequenceClassification.from_pretrained(base_dir)
            else:
                base = build_base_model(self.cfg.model, self.policy.ids)
            model = PeftModel.from_pretrained(base, weights).merge_and_unload()
        _check_labels(self, model)
        for restore in RESTORES.values():
            restore(self, model)
        return model.eval(), tokenizer

    def score(self, texts: Sequence[str], *, batch_size: int = 64, desc: str = "scoring") -> np.ndarray:
        """Per-policy probabilities for rendered listing texts, whatever kind of model the run holds."""
        if self.kind == "baseline":
            from moddistill.baselines.tfidf import load_baseline

            return load_baseline(self.dir / BASELINE_FILE).predict_proba(texts)
        from moddistill.scoring import score_texts

        model, tokenizer = self.load_student()
        return score_texts(model, tokenizer, texts, max_length=self.max_length, batch_size=batch_size, desc=desc)


def _check_labels(run: Run, model) -> None:
    """The head's label order is config.yaml's policy order (what thresholds, reports and the export's id2label
    are keyed by); the model config then carries the policy's label maps."""
    from moddistill.distill.model import label_maps

    id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
    labels = [id2label.get(i) for i in range(model.config.num_labels)]
    if labels != list(run.policy.ids):
        raise ValueError(f"{run.dir}: the model's labels {labels} are not the policy's {list(run.policy.ids)} "
                         f"({CONFIG_FILE})")
    for key, value in label_maps(run.policy.ids).items():
        setattr(model.config, key, value)


def _restore_encoder_weight(run: Run, model) -> None:
    """metrics.json ``encoder_weight.chosen`` -> ``config.encoder_weight``: how much of the encoder's logits is added
    to the stacked n-gram channel's, chosen on validation after training (``ngram_fit.fit_encoder_weight``). A
    full run's model/config.json carries it too; a LoRA adapter carries no model config, so metrics.json is the
    source for both. Runs from before the choice existed keep their config's (1)."""
    chosen = (run.metrics.get("encoder_weight") or {}).get("chosen")
    if chosen is not None:
        model.config.encoder_weight = float(chosen)


# Every value training chooses after the weights are final and keeps outside them (in metrics.json), applied to
# every loaded student, LoRA or full. A new one goes here, not into a caller: tests/test_run_restore.py checks
# that a reloaded, exported and ONNX student scores as the in-memory one did, and that skipping any entry here
# makes that check fail.
RESTORES: dict[str, Callable[[Run, Any], None]] = {"encoder_weight": _restore_encoder_weight}


def point_latest(run_dir: Path) -> None:
    """``checkpoints/<experiment>/latest`` -> the newest finished run, for `make demo` and humans."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)
