"""Score a checkpoint (checkpoint=PATH) or a teacher's stored labels (teacher_labels=PATH) on the held-out
policy cases: python scripts/evaluate.py ... (conf/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config import policy_from_cfg
from moddistill.config_checks import checked
from moddistill.errors import UserError
from moddistill.evaluation.evaluate import evaluate_checkpoint, evaluate_teacher_labels
from moddistill.evaluation.report import markdown_summary


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
@user_errors
@checked("evaluate")
def main(cfg: DictConfig) -> None:
    if bool(cfg.checkpoint) == bool(cfg.teacher_labels):
        raise UserError("pass exactly one of checkpoint=PATH or teacher_labels=PATH")
    if cfg.checkpoint:
        result, out = evaluate_checkpoint(cfg.checkpoint, policy_cases=cfg.policy_cases, thresholds=cfg.thresholds,
                                          batch_size=cfg.batch_size, output_dir=cfg.output_dir)
    else:
        result, out = evaluate_teacher_labels(cfg.teacher_labels, policy_from_cfg(cfg), policy_cases=cfg.policy_cases,
                                              thresholds=cfg.thresholds, output_dir=cfg.output_dir)
    print(markdown_summary(result))
    print(f"\nmacro-F1 {result['macro_f1']:.3f}, decision accuracy {result['decision_accuracy']:.3f} "
          f"on {result['n']} policy cases; report in {out}/report.md")


if __name__ == "__main__":
    run(main)
