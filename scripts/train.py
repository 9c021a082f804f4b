"""Distill teacher labels into a student, then score it on the policy cases: python scripts/train.py [overrides]
(see conf/train.yaml). Sweeps: python scripts/train.py -m peft=lora,full (runs under checkpoints/sweeps/)."""

import hydra
from accelerate import PartialState
from omegaconf import DictConfig

from moddistill.cli import run, sweep_jobs, user_errors
from moddistill.config_checks import checked
from moddistill.distill.train import train
from moddistill.evaluation.evaluate import evaluate_and_print


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@user_errors
@sweep_jobs
@checked("train")
def main(cfg: DictConfig) -> float | None:
    run_dir = train(cfg)
    if not PartialState().is_main_process:  # several processes trained it; one scores it
        return None
    print(f"run saved in {run_dir}")
    if not cfg.evaluate:
        return None
    return evaluate_and_print(run_dir)


if __name__ == "__main__":
    run(main)
