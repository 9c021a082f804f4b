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
from typing import Sequence

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

    def load_student(self):
        """The trained student (LoRA: base + adapter, as a PeftModel; full fine-tuning: the model) and its tokenizer."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from moddistill.distill.model import build_base_model

        if self.kind != "student":
            raise ValueError(f"{self.dir}: a {self.kind} run has no student model")
        tokenizer = AutoTokenizer.from_pretrained(self.dir / TOKENIZER_DIR)
        if (self.dir / MODEL_DIR).exists():
            model = AutoModelForSequenceClassification.from_pretrained(self.dir / MODEL_DIR)
        else:
            from peft import PeftModel

            base_dir = self.dir / BASE_MODEL_DIR
            if base_dir.exists():
                base = AutoModelForSequenceClassification.from_pretrained(base_dir)
            else:
                base = build_base_model(self.cfg.model, self.policy.ids)
            model = PeftModel.from_pretrained(base, self.dir / ADAPTER_DIR)
        weight = self.metrics.get("encoder_weight", {}).get("chosen")
        if weight is not None:  # chosen on validation after training; a LoRA adapter does not carry the config
            model.config.encoder_weight = float(weight)
        return model.eval(), tokenizer

    def score(self, texts: Sequence[str], *, batch_size: int = 64, desc: str = "scoring") -> np.ndarray:
        """Per-policy probabilities for rendered listing texts, whatever kind of model the run holds."""
        if self.kind == "baseline":
            from moddistill.baselines.tfidf import load_baseline

            return load_baseline(self.dir / BASELINE_FILE).predict_proba(texts)
        from moddistill.scoring import score_texts

        model, tokenizer = self.load_student()
        return score_texts(model, tokenizer, texts, max_length=self.max_length, batch_size=batch_size, desc=desc)


def point_latest(run_dir: Path) -> None:
    """``checkpoints/<experiment>/latest`` -> the newest finished run, for `make demo` and humans."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)
