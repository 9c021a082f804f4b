"""Compare an export's runtimes (torch fp32/bf16, ONNX fp32, ONNX int8): python scripts/benchmark_runtimes.py
[export_dir=checkpoints/demo/latest/export] (conf/benchmark_runtimes.yaml)."""

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from moddistill.bench.runtimes import format_runtimes, measure_runtimes, predict_end_to_end
from moddistill.cli import run, user_errors
from moddistill.config_checks import checked

ROOT = Path(__file__).resolve().parents[1]


@hydra.main(config_path="../conf", config_name="benchmark_runtimes", version_base="1.3")
@user_errors
@checked("benchmark_runtimes")
def main(cfg: DictConfig) -> None:
    export_dir = Path(cfg.export_dir).resolve()
    result = measure_runtimes(export_dir, Path(cfg.cases), batch_size=cfg.batch_size,
                              latency_samples=cfg.latency_samples, repeats=cfg.repeats)
    end_to_end = predict_end_to_end(ROOT, export_dir, Path(cfg.listings).resolve(), result["available"])
    result["predict_end_to_end"] = {"listings": str(cfg.listings), "runs": end_to_end}
    out = export_dir.parent / "benchmark_runtimes.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(format_runtimes(result, end_to_end, Path(cfg.listings)))
    print(f"figures saved in {out}")


if __name__ == "__main__":
    run(main)
