"""Export a checkpoint for serving: python scripts/export.py checkpoint=PATH (conf/export.yaml)."""

import json

import hydra
from omegaconf import DictConfig

from moddistill.cli import run, user_errors
from moddistill.config_checks import checked
from moddistill.export.directory import export_run
from moddistill.serving.manifest import MANIFEST


@hydra.main(config_path="../conf", config_name="export", version_base="1.3")
@user_errors
@checked("export")
def main(cfg: DictConfig) -> None:
    out = export_run(cfg.checkpoint, cfg.export_dir, overwrite=cfg.overwrite, allow_collapsed=cfg.allow_collapsed,
                     onnx=cfg.onnx, onnx_int8=cfg.onnx_int8)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    print(f"exported {len(manifest['files'])} files to {out} (manifest: {out / MANIFEST}, model card: "
          f"{out / 'README.md'})")
    onnx = manifest["onnx"]
    if onnx:
        fused = ", ".join(f"{n} {op}" for op, n in onnx["fused"].items()) or "none recognised"
        print(f"ONNX: {', '.join(onnx[k] for k in ('fp32', 'int8') if onnx.get(k))} (fused operators: {fused})")


if __name__ == "__main__":
    run(main)
