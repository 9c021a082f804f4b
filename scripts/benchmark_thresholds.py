"""Threshold rules compared on finished runs without retraining: python scripts/benchmark_thresholds.py
(conf/benchmark_thresholds.yaml)."""

import glob
from pathlib import Path

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.errors import UserError
from moddistill.evaluation.rescore import format_rescore_table, rescore_table
from moddistill.runs.run import VALIDATION_SCORES_FILE


@hydra.main(config_path="../conf", config_name="benchmark_thresholds", version_base="1.3")
@user_errors
@checked("benchmark_thresholds")
def main(cfg: DictConfig) -> None:
    dirs = sorted({Path(p) for pattern in cfg.runs for p in glob.glob(str(pattern))
                   if (Path(p) / VALIDATION_SCORES_FILE).exists()})
    if not dirs:
        raise UserError(f"runs={list(cfg.runs)}: no run directory with {VALIDATION_SCORES_FILE}")
    print(format_rescore_table(rescore_table(dirs, list(cfg.rules), cfg.cases)))


if __name__ == "__main__":
    run(main)
