"""A finished run on disk (a student or a baseline): its layout and what it recorded.

Every file name of a run directory is defined here, once, so training, baselines, evaluation, export and the
leaderboard read a run without importing each other. Turning a run back into a model is the distill room's
(``distill/restore.py``); scoring any run, the evaluation room's (``evaluation/scorer.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig

from moddistill.config import load_config, to_dict
from moddistill.data.listings import FIRST_RENDER_VERSION
from moddistill.data.policy import Policy, parse_policy
from moddistill.data.records import read_jsonl_ids

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.json"  # a run that crashed (e.g. one job of a sweep) says why here
VALIDATION_SCORES_FILE = "validation_scores.jsonl"
ADAPTER_DIR = "adapter"  # LoRA adapter + fully trained modules (head, n-gram channel)
MODEL_DIR = "model"  # a fully fine-tuned student
TOKENIZER_DIR = "tokenizer"
BASE_MODEL_DIR = "base_model"  # only for models built from an architecture config (no pretrained weights)
BASELINE_FILE = "baseline.joblib"
EVAL_DIR = "eval"  # eval/<policy cases>/: what evaluation wrote (metrics.json, predictions, report)


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
    def render_version(self) -> str:
        """The listing rendering the run was trained on: every scorer of the run renders with it."""
        return self.metrics.get("render_version", FIRST_RENDER_VERSION)

    @property
    def max_length(self) -> int:
        return int(self.cfg.model.max_length)

    @cached_property
    def validation_ids(self) -> set[str]:
        """The rows the run held out to choose its thresholds (never trained on); none for a run without them."""
        return read_jsonl_ids(self.dir / VALIDATION_SCORES_FILE)

    @property
    def method(self) -> str:
        """``lora`` or ``full``, as metrics.json records it (older runs: by which weights directory exists)."""
        return self.metrics.get("method") or ("full" if (self.dir / MODEL_DIR).exists() else "lora")


def point_latest(run_dir: Path) -> None:
    """``checkpoints/<experiment>/latest`` -> the newest finished run, for `make demo` and humans."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)
