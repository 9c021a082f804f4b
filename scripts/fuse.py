"""Choose an export's fusion operating point: python scripts/fuse.py export_dir=E llm_labels=L cases=C
(or listings=I) [fusion.llm_share=0.2 | fusion.target=0.99] (conf/fuse.yaml)."""

import hydra
from omegaconf import DictConfig, OmegaConf

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.fusion.operating_point import fuse_export


@hydra.main(config_path="../conf", config_name="fuse", version_base="1.3")
@user_errors
@checked("fuse")
def main(cfg: DictConfig) -> None:
    f = cfg.fusion
    rules, result, report = fuse_export(
        cfg.export_dir, cfg.llm_labels, cases=cfg.cases, listings=cfg.listings, ids=cfg.ids,
        llm_share=f.llm_share, target=None if f.llm_share is not None else f.target,
        disagreement_margin=f.disagreement_margin, always_human=list(f.always_human),
        prices=OmegaConf.to_container(cfg.teacher.prices), rule=f.rule)
    k = result["kpis"]
    q = "macro_f1" if k["reference"] == "gold labels" else "agreement_with_llm_only"
    print(f"operating point: {rules.chosen['by']}")
    print(f"  to the LLM {100 * k['llm_share']:.1f}%, to experts {100 * k['expert_share']:.1f}%, "
          f"student alone {100 * k['automation_rate']:.1f}%")
    print(f"  {q} against {k['reference']}: student only {k['student_only'][q]:.3f}, fused {k['fused'][q]:.3f}, "
          f"LLM only {k['llm_only'][q]:.3f}")
    print(f"rules, report and plot written into {cfg.export_dir} (report: {report})")


if __name__ == "__main__":
    run(main)
