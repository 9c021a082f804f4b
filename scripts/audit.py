"""Audit automatic decisions (conf/audit.yaml): draw a stratified sample for human QA,
python scripts/audit.py decisions=OUT.jsonl output=SAMPLE.jsonl size=N [listings=LISTINGS.jsonl] [seed=0];
then, with the experts' verdicts on it, estimate reject precision and allow miss rate per policy,
python scripts/audit.py decisions=OUT.jsonl sample=SAMPLE.jsonl verdicts=VERDICTS.jsonl [output=REPORT_DIR]."""

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config import path_list, policy_from_cfg, to_dict
from moddistill.config_checks import checked
from moddistill.errors import UserError
from moddistill.loop.audit import REPORT_JSON, REPORT_MD, draw_sample, estimate, markdown


@hydra.main(config_path="../conf", config_name="audit", version_base="1.3")
@user_errors
@checked("audit")
def main(cfg: DictConfig) -> None:
    policy = policy_from_cfg(cfg)
    verdicts = path_list(to_dict(cfg.verdicts))
    if verdicts:
        if cfg.sample is None:
            raise UserError("sample=SAMPLE.jsonl is required with verdicts=: the sample the experts reviewed")
        report, out = estimate(cfg.decisions, cfg.sample, verdicts, policy, cfg.output)
        print(markdown(report))
        print(f"report: {out / REPORT_MD}, {out / REPORT_JSON}")
        return
    for key, what in (("output", "SAMPLE.jsonl"), ("size", "N")):
        if cfg[key] is None:
            raise UserError(f"{key}={what} is required to draw a sample (or pass verdicts=... to estimate)")
    s = draw_sample(cfg.decisions, cfg.output, cfg.size, policy, listings_path=cfg.listings, seed=cfg.seed,
                    min_per_stratum=cfg.min_per_stratum)
    print(f"{s['size']} of {s['automatic']} automatic decisions sampled -> {s['output']} "
          f"({s['by_experts_not_audited']} decided by experts not audited)")
    for h, st in s["strata"].items():
        print(f"  {h}: {st['sample']} of {st['population']} (weight {st['weight']})")


if __name__ == "__main__":
    run(main)
