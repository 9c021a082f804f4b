"""Export a training run as a self-describing model directory for serving teams.

The directory loads with plain ``transformers.AutoModelForSequenceClassification.from_pretrained`` (LoRA
merged into the base, ``config.id2label`` = policy ids) and carries ``moddistill.json``: policy version,
label order, per-policy thresholds (chosen on validation data, never on policy cases), the input
rendering version, metrics, provenance, the SHA-256 of every file, and the SHA-256 of its own content
(``manifest_sha256``), so an edited threshold or label order is refused at load like an edited weight file.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from moddistill.config import to_dict
from moddistill.distill.checkpoint import Run
from moddistill.distill.collapse import CollapsedStudentError, collapse_message
from moddistill.distill.model import label_maps
from moddistill.errors import UserError
from moddistill.listings import RENDER_VERSION
from moddistill.manifest import EXPORT_FORMAT, MANIFEST, MANIFEST_DIGEST, file_hashes, manifest_digest
from moddistill.provenance import git_commit


def export_run(checkpoint: str | Path, export_dir: str | Path | None = None, *, overwrite: bool = False,
               allow_collapsed: bool = False) -> Path:
    run = Run.open(checkpoint)
    if run.kind != "student":
        raise UserError(f"{checkpoint}: a {run.kind} run; only students are exported")
    collapse = run.metrics.get("collapse", {})
    if collapse.get("collapsed") and not allow_collapsed:
        raise CollapsedStudentError(f"{checkpoint}: {collapse_message(collapse)}")
    out = Path(export_dir) if export_dir else run.dir / "export"
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty (pass overwrite=true to replace it)")
        shutil.rmtree(out)
    model, tokenizer = run.load_student()
    lora = hasattr(model, "merge_and_unload")
    merged = model.merge_and_unload() if lora else model
    for key, value in label_maps(run.policy.ids).items():
        setattr(merged.config, key, value)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)

    manifest = {
        "format": EXPORT_FORMAT,
        "policy": {"id": run.policy.id, "version": run.policy.version, "title": run.policy.title},
        "labels": list(run.policy.ids),
        "thresholds": run.thresholds,
        "threshold_source": f"chosen on the training run's validation split (strategy "
                            f"{run.cfg.get('threshold_strategy', 'per_policy')})",
        "render_version": RENDER_VERSION,
        "max_length": run.max_length,
        "model": {"name": run.cfg.model.name, "base": run.cfg.model.get("pretrained") or "built from config",
                  "adapter": "LoRA merged into the base" if lora else "none (full fine-tuning)",
                  "architecture": merged.config.model_type, "pooling": getattr(merged.config, "pooling", None),
                  "ngram_channel": getattr(merged.config, "ngram", None)},
        "metrics": {"validation": _headline(run.metrics["validation"]["at_thresholds"]),
                    "policy_cases": _policy_case_metrics(run)},
        "provenance": {
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "export_git_commit": git_commit(),
            "training_run": str(run.dir),
            "training": run.metrics.get("provenance", {}),
            "data_sha256": run.metrics["data"]["sha256"],
            "config": to_dict(run.cfg),
        },
        "files": file_hashes(out),
    }
    manifest[MANIFEST_DIGEST] = manifest_digest(manifest)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return out


def _headline(m: dict) -> dict:
    return {"macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"], "decision_accuracy": m["decision_accuracy"],
            "per_policy_f1": {p: v["f1"] for p, v in m["per_policy"].items()}}


def _policy_case_metrics(run: Run) -> dict:
    """Whatever `evaluate` has written for this run, per policy-case file."""
    out = {}
    for path in sorted((run.dir / "eval").glob("*/metrics.json")):
        m = json.loads(path.read_text(encoding="utf-8"))
        out[path.parent.name] = {**_headline(m), "n": m["n"], "thresholds": "validation"
                                 if m["thresholds"] == run.thresholds else m["thresholds"]}
    return out
