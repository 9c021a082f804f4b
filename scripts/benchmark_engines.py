"""engine=local against engine=ray on this machine: python scripts/benchmark_engines.py export_dir=DIR
(conf/benchmark_engines.yaml) -> OUTPUT_DIR/benchmark_engines.{json,md}."""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from moddistill.bench.engines import benchmark_engines, markdown
from moddistill.cli import run, user_errors
from moddistill.config_checks import checked


@hydra.main(config_path="../conf", config_name="benchmark_engines", version_base="1.3")
@user_errors
@checked("benchmark_engines")
def main(cfg: DictConfig) -> None:
    logging.getLogger("moddistill.bench.engines").setLevel(logging.INFO)
    results = benchmark_engines(cfg)
    table = markdown(results)
    (Path(cfg.output_dir) / "benchmark_engines.md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    run(main)
