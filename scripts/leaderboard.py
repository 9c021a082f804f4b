"""Every run, baseline and teacher evaluated under a checkpoints root, in one table per policy-case file:
python scripts/leaderboard.py [root=checkpoints] (conf/leaderboard.yaml)."""

import sys

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.evaluation.leaderboard import (
    LeaderboardError,
    collect_leaderboard,
    leaderboard_markdown,
    write_leaderboard,
)


@hydra.main(config_path="../conf", config_name="leaderboard", version_base="1.3")
@user_errors
@checked("leaderboard")
def main(cfg: DictConfig) -> None:
    exclude = list(cfg.exclude or [])
    try:
        rows = collect_leaderboard(cfg.root, bootstrap=cfg.bootstrap, seed=cfg.seed, cases=cfg.cases, exclude=exclude)
    except LeaderboardError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    markdown = leaderboard_markdown(rows, root=cfg.root, bootstrap=cfg.bootstrap, seed=cfg.seed, exclude=exclude)
    csv_path, md_path = write_leaderboard(rows, markdown, cfg.output)
    print(markdown)
    evaluated = sum(r["status"] == "ok" for r in rows)
    print(f"evaluations: {evaluated}, runs without one: {len(rows) - evaluated}; written to {csv_path} and {md_path}")


if __name__ == "__main__":
    run(main)
