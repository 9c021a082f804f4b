"""A finished training run on disk, and the student model it holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from moddistill.config import load_config, to_dict
from moddistill.distill.model import build_base_model
from moddistill.distill.train import (
    ADAPTER_DIR, BASE_MODEL_DIR, CONFIG_FILE, METRICS_FILE, TOKENIZER_DIR, VALIDATION_SCORES_FILE,
)
from moddistill.policy import Policy, parse_policy


@dataclass(frozen=True)
class Run:
    dir: Path

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        run_dir = Path(path).resolve()  # follows checkpoints/<experiment>/latest
        for required in (CONFIG_FILE, METRICS_FILE, ADAPTER_DIR):
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
    def thresholds(self) -> dict[str, float]:
        return self.metrics["thresholds"]

    @property
    def max_length(self) -> int:
        return int(self.cfg.model.max_length)

    @property
    def validation_scores_path(self) -> Path:
        return self.dir / VALIDATION_SCORES_FILE

    def load_student(self) -> tuple[PeftModel, object]:
        """The base model with the trained LoRA adapter and head, and its tokenizer."""
        base_dir = self.dir / BASE_MODEL_DIR
        if base_dir.exists():
            base = AutoModelForSequenceClassification.from_pretrained(base_dir)
        else:
            base = build_base_model(self.cfg.model, self.policy.ids)
        model = PeftModel.from_pretrained(base, self.dir / ADAPTER_DIR)
        tokenizer = AutoTokenizer.from_pretrained(self.dir / TOKENIZER_DIR)
        return model.eval(), tokenizer
