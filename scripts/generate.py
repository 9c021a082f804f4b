"""Generate contrast listings with an LLM teacher: python scripts/generate.py teacher.base_url=URL teacher.model=NAME
[output=LISTINGS.jsonl]; once label.py has labelled them, report_labels=LABELS.jsonl writes the intent report instead
(see conf/generate.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.teacher.generation import generate_file, report_file, report_lines


@hydra.main(config_path="../conf", config_name="generate", version_base="1.3")
@user_errors
@checked("generate")
def main(cfg: DictConfig) -> None:
    if cfg.report_labels:
        report, path = report_file(cfg)
        print("\n".join(report_lines(report) + [f"-> {path}"]))
    else:
        print(generate_file(cfg).line())


if __name__ == "__main__":
    run(main)
