"""Distill teacher labels into a LoRA student: python scripts/train.py [overrides] (see conf/train.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import user_errors
from moddistill.distill.train import train


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    run_dir = train(cfg)
    print(f"run saved in {run_dir}")


if __name__ == "__main__":
    main()
