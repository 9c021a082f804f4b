"""Predict listings with an export: python scripts/predict.py export_dir=DIR input=IN.jsonl output=OUT.jsonl."""

import hydra
from omegaconf import DictConfig, OmegaConf

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.engines.core import refuse_directory_for_local
from moddistill.serving.runtime import predict_file


@hydra.main(config_path="../conf", config_name="predict", version_base="1.3")
@user_errors
@checked("predict")
def main(cfg: DictConfig) -> None:
    if cfg.engine.name == "ray":
        from moddistill.serving.engines import predict_sharded

        s = predict_sharded(cfg)
        print(f"predictions: {s['output']}/<shard>.jsonl ({s['rows']} rows in {s['shards']} shards; "
              f"{s['shards_skipped']} already written, {s['shards_written_now']} written now, "
              f"{s['rejected']} rejected rows); flagged per policy: "
              + (", ".join(f"{p} {n}" for p, n in s["flagged"].items() if n) or "none"))
        print(f"engine ray: {s['engine']['actors']} actors x {s['engine']['cpus_per_actor']} CPUs, "
              f"wall {s['wall_s']:.1f} s; summary {s['output']}.summary.json")
        return
    refuse_directory_for_local(cfg.input)
    report, flagged, exported = predict_file(cfg.export_dir, cfg.input, cfg.output, on_error=cfg.on_error,
                                             columns=OmegaConf.to_container(cfg.columns), batch_size=cfg.batch_size,
                                             allow_empty=cfg.allow_empty, runtime=cfg.runtime)
    manifest = exported.manifest
    print(report.summary())
    print(f"predictions: {cfg.output} ({report.kept} rows); flagged per policy: "
          + (", ".join(f"{p} {n}" for p, n in flagged.items() if n) or "none"))
    print(f"model: {cfg.export_dir} ({manifest['model']['name']}, policy {manifest['policy']['id']} "
          f"v{manifest['policy']['version']}), runtime {exported.runtime}")
    for name, m in manifest["metrics"]["policy_cases"].items():
        print(f"  policy cases {name}: macro-F1 {m['macro_f1']:.3f}, decision accuracy {m['decision_accuracy']:.3f} "
              f"({m['n']} cases)")
    v = manifest["metrics"]["validation"]
    print(f"  validation (teacher labels): macro-F1 {v['macro_f1']:.3f}, decision accuracy {v['decision_accuracy']:.3f}")


if __name__ == "__main__":
    run(main)
