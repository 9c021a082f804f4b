"""Export a training run as a self-describing model directory for serving teams.

The directory loads with plain ``transformers.AutoModelForSequenceClassification.from_pretrained`` (LoRA
merged into the base, ``config.id2label`` = policy ids) and carries ``moddistill.json``: policy version,
label order, per-policy thresholds (chosen on validation data, never on policy cases), the input
rendering version, metrics, provenance, the SHA-256 of every file, and the SHA-256 of its own content
(``manifest_sha256``), so an edited threshold or label order is refused at load like an edited weight file.
"""

from __future__ import annotations

import hashlib
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
from moddistill.provenance import git_commit, sha256_file


MANIFEST = "moddistill.json"
EXPORT_FORMAT = "moddistill-export/2"  # /2: the manifest covers itself (manifest_sha256)
MANIFEST_DIGEST = "manifest_sha256"


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


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the manifest's content without its own digest, as canonical JSON (sorted keys, no spaces)."""
    content = {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def verify_export(export_dir: str | Path) -> dict:
    """Read the manifest and check every file against its SHA-256; raises on any mismatch."""
    root = Path(export_dir)
    path = root / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{root}: not a moddistill export (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a readable manifest (a JSON object is expected)")
    if manifest.get("format") != EXPORT_FORMAT:
        raise UserError(f"{path}: unsupported export format {manifest.get('format')!r} (this moddistill reads "
                        f"{EXPORT_FORMAT!r}; re-export the run with it)")
    if manifest.get(MANIFEST_DIGEST) != manifest_digest(manifest):
        raise UserError(f"{path}: edited after export (its content no longer matches {MANIFEST_DIGEST}); "
                        "thresholds, labels and the input contract are only trusted as exported: re-export the run")
    actual = file_hashes(root)
    for name, digest in manifest["files"].items():
        if actual.get(name) != digest:
            raise UserError(f"{root / name}: {'missing' if name not in actual else 'SHA-256 mismatch'} "
                             "(the export was modified after it was written)")
    return manifest


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
