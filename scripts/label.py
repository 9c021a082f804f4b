"""Label listings with an LLM teacher: python scripts/label.py teacher.base_url=URL teacher.model=NAME
input=LISTINGS output=LABELS.jsonl (see conf/label.yaml)."""

import sys

import hydra
from omegaconf import DictConfig

from moddistill.cli import user_errors
from moddistill.teacher.labeling import label_file
from moddistill.teacher.openai_backend import TeacherError
from moddistill.teacher.prompts import PromptError


@hydra.main(config_path="../conf", config_name="label", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    try:
        summary = label_file(cfg)
    except (TeacherError, PromptError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(summary.lines()))


if __name__ == "__main__":
    main()
