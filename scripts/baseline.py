"""Train a baseline (TF-IDF by default; baseline=<conf/baseline/ file>) on the student's training split, then score it
on the policy cases:
python scripts/baseline.py [overrides] (see conf/baseline.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.baselines.train import train_baseline
from moddistill.cli import run, sweep_jobs, user_errors
from moddistill.config_checks import checked
from moddistill.evaluation.evaluate import evaluate_and_print


@hydra.main(config_path="../conf", config_name="baseline", version_base="1.3")
@user_errors
@sweep_jobs
@checked("baseline")
def main(cfg: DictConfig) -> float | None:
    run_dir = train_baseline(cfg)
    print(f"run saved in {run_dir}")
    if not cfg.evaluate:
        return None
    return evaluate_and_print(run_dir)


if __name__ == "__main__":
    run(main)
