"""Choose the next labelling batch: python scripts/select_batch.py export_dir=E pool=P budget=N output=O
[exclude=...] [strategy=uncertainty|disagreement|random] (conf/select_batch.yaml). Not `select.py`: a script's folder
is first on sys.path, and that name would shadow the standard library's `select` for every script in it."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.loop.selection import select_file


@hydra.main(config_path="../conf", config_name="select_batch", version_base="1.3")
@user_errors
@checked("select_batch")
def main(cfg: DictConfig) -> None:
    s = select_file(cfg)
    print(f"{s['budget']} listings -> {s['output']} ({s['strategy']}): "
          + ", ".join(f"{part} {n}" for part, n in s["by_part"].items()))
    print(f"pool {s['pool']}: {s['already_labelled']} already labelled, {s['unlabelled']} unlabelled"
          + (f"; {s['exclude_ids_not_in_pool']} excluded ids are not in the pool" if s["exclude_ids_not_in_pool"] else "")
          + (f"; quotas relaxed for {s['quota_relaxed']}" if s["quota_relaxed"] else ""))
    print("by language: " + ", ".join(f"{k} {v}" for k, v in s["by_language"].items()))
    if s["by_policy"]:
        print("by policy: " + ", ".join(f"{k} {v}" for k, v in s["by_policy"].items()))


if __name__ == "__main__":
    run(main)
