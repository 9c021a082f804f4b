"""Measure the demo pipeline and the export's inference speed: python scripts/benchmark.py (conf/benchmark.yaml)."""

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from moddistill.bench.pipeline import format_summary, inference, pipeline, summarize
from moddistill.cli import run, user_errors
from moddistill.config_checks import checked

ROOT = Path(__file__).resolve().parents[1]


@hydra.main(config_path="../conf", config_name="benchmark", version_base="1.3")
@user_errors
@checked("benchmark")
def main(cfg: DictConfig) -> None:
    stages, run_dir, baseline_dir = pipeline(ROOT, cfg.experiment, list(cfg.train_overrides), cfg.cases)
    infer = inference(run_dir / "export", cfg.cases, batch_size=cfg.batch_size, latency_samples=cfg.latency_samples)
    summary = summarize(stages, run_dir, baseline_dir, infer)
    (run_dir / "benchmark.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(format_summary(summary))
    print(f"figures saved in {run_dir / 'benchmark.json'}")


if __name__ == "__main__":
    run(main)
