"""Train a TF-IDF baseline on the student's training split, then score it on the policy cases:
python scripts/baseline.py [overrides] (see conf/baseline.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.baselines.tfidf import train_baseline
from moddistill.cli import sweep_jobs, user_errors
from moddistill.evaluation.evaluate import evaluate_checkpoint


@hydra.main(config_path="../conf", config_name="baseline", version_base="1.3")
@user_errors
@sweep_jobs
def main(cfg: DictConfig) -> float | None:
    run_dir = train_baseline(cfg)
    print(f"run saved in {run_dir}")
    if not cfg.evaluate:
        return None
    result, out = evaluate_checkpoint(run_dir)
    print(f"policy cases: macro-F1 {result['macro_f1']:.3f}, decision accuracy {result['decision_accuracy']:.3f} "
          f"on {result['n']} cases; report in {out}/report.md")
    return result["macro_f1"]


if __name__ == "__main__":
    main()
