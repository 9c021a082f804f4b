"""Score a checkpoint on the held-out policy cases: python scripts/evaluate.py checkpoint=PATH (conf/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.evaluation.evaluate import evaluate_checkpoint


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    result, out = evaluate_checkpoint(cfg.checkpoint, policy_cases=cfg.policy_cases, thresholds=cfg.thresholds,
                                      batch_size=cfg.batch_size, output_dir=cfg.output_dir)
    print((out / "report.md").read_text(encoding="utf-8").split("## By")[0].rstrip())
    print(f"\nmacro-F1 {result['macro_f1']:.3f}, decision accuracy {result['decision_accuracy']:.3f} "
          f"on {result['n']} policy cases; report in {out}/report.md")


if __name__ == "__main__":
    main()
