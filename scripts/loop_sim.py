"""Does choosing what to label pay? python scripts/loop_sim.py [overrides] (conf/loop_sim.yaml; make loop-sim)."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config import to_dict
from moddistill.config_checks import checked
from moddistill.loop.settings import LoopSimSettings
from moddistill.loop.simulation import simulate, summarize


@hydra.main(config_path="../conf", config_name="loop_sim", version_base="1.3")
@user_errors
@checked("loop_sim")
def main(cfg: DictConfig) -> None:
    settings = LoopSimSettings.model_validate(to_dict(cfg))
    results = simulate(settings, lambda name, overrides: hydra.compose(config_name=name, overrides=overrides))
    for r in results:
        baseline = "-" if r.baseline_macro_f1 is None else f"{r.baseline_macro_f1:.3f}"
        print(f"{r.strategy:<12} round {r.round}: {r.labels:>5} labels, student macro-F1 {r.macro_f1:.3f} "
              f"(baseline {baseline})")
    for strategy, hit in summarize(results).get("reaches_random_final", {}).items():
        print(f"{strategy} reaches random's final macro-F1 {hit['random_final_macro_f1']:.3f} ({hit['random_labels']} "
              f"labels) with " + (f"{hit['labels']} labels ({hit['share_of_random_labels']:.0%})" if hit["labels"]
                                  else "none of its rounds"))
    print(f"curve and table in {settings.output_dir}/loop_sim.png, loop_sim.md")


if __name__ == "__main__":
    run(main)
