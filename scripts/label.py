"""Label listings with an LLM teacher: python scripts/label.py teacher.base_url=URL teacher.model=NAME
input=LISTINGS output=LABELS.jsonl (see conf/label.yaml)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.engines.core import refuse_directory_for_local
from moddistill.teacher.labeling import label_file


@hydra.main(config_path="../conf", config_name="label", version_base="1.3")
@user_errors
@checked("label")
def main(cfg: DictConfig) -> None:
    if cfg.engine.name == "ray":
        from moddistill.teacher.sharded import label_sharded

        summary = label_sharded(cfg)
    else:
        refuse_directory_for_local(cfg.input)
        summary = label_file(cfg)
    print("\n".join(summary.lines()))


if __name__ == "__main__":
    run(main)
