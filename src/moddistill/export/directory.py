"""Export a training run as a self-describing model directory for serving teams.

The directory loads with plain ``transformers.AutoModelForSequenceClassification.from_pretrained`` (LoRA
merged into the base, ``config.id2label`` = policy ids), holds the same model as ONNX fp32 and int8 for the
torch-free runtime (``export/onnx.py``), a model card (``README.md``), and ``moddistill.json``: policy version,
label order, per-policy thresholds (chosen on validation data, never on policy cases), the serving contract
(how a listing becomes the model's input: render template, tokenizer, max length, truncation side, n-gram
hashing), metrics, provenance, the SHA-256 of every file, and the SHA-256 of its own content
(``manifest_sha256``), so an edited threshold or label order is refused at load like an edited weight file.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from moddistill.config import to_dict
from moddistill.data.listings import RENDER_TEMPLATE, rendering
from moddistill.distill.inference import score_texts
from moddistill.distill.restore import load_student
from moddistill.errors import UserError
from moddistill.export.model_card import model_card
from moddistill.export.self_test import policy_self_test
from moddistill.provenance import git_commit
from moddistill.runs.collapse import CollapsedStudentError, collapse_message
from moddistill.runs.run import EVAL_DIR, METRICS_FILE, Run
from moddistill.serving.manifest import EXPORT_FORMAT, write_manifest


def export_run(checkpoint: str | Path, export_dir: str | Path | None = None, *, overwrite: bool = False,
               allow_collapsed: bool = False, onnx: bool = True, onnx_int8: bool = True) -> Path:
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
    # LoRA already merged, label maps set and every post-training choice (encoder weight) restored, as evaluation
    # scores it (distill/restore.py load_student)
    merged, tokenizer = load_student(run)
    lora = run.method == "lora"
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _write_contract_tokenizer(out / "tokenizer.json", run.max_length, tokenizer.truncation_side, checkpoint)
    onnx_entry = None
    if onnx:
        from moddistill.export.onnx import export_onnx

        onnx_entry = export_onnx(merged, tokenizer, out, int8=onnx_int8)
    evaluations = _evaluations(run.dir)
    baselines = _evaluations(_baseline_run(run))
    self_test = policy_self_test(run.policy, lambda texts: score_texts(
        merged, tokenizer, texts, max_length=run.max_length, batch_size=32, desc="self-test"), run.thresholds,
        run.render_version, held_out=run.validation_ids)

    manifest = {
        "format": EXPORT_FORMAT,
        "policy": {"id": run.policy.id, "version": run.policy.version, "title": run.policy.title},
        "labels": list(run.policy.ids),
        "thresholds": run.thresholds,
        "threshold_source": f"chosen on the training run's validation split (strategy "
                            f"{run.cfg.get('threshold_strategy', 'per_policy')})",
        "render_version": run.render_version,
        "max_length": run.max_length,
        "input": {
            "render": {"version": run.render_version, "template": RENDER_TEMPLATE,
                       "rules": rendering(run.render_version).rules},
            "tokenizer": "tokenizer.json",
            "special_tokens": "added by tokenizer.json's post-processor; the file also holds the truncation below and "
                              "no padding",
            "max_length": run.max_length,
            "truncation_side": tokenizer.truncation_side,
            "padding": {"side": "right", "pad_token_id": tokenizer.pad_token_id},
            "ngram": getattr(merged.config, "ngram", None),
        },
        "output": "one sigmoid probability per label, in `labels` order; a label is flagged when its score is at "
                  "or above thresholds[label]",
        "onnx": onnx_entry,
        "model": {"name": run.cfg.model.name, "base": run.cfg.model.get("pretrained") or "built from config",
                  "license": run.cfg.model.get("license", "unknown"),
                  "adapter": "LoRA merged into the base" if lora else "none (full fine-tuning)",
                  "architecture": merged.config.model_type, "pooling": getattr(merged.config, "pooling", None),
                  "ngram_channel": getattr(merged.config, "ngram", None),
                  "encoder_weight": getattr(merged.config, "encoder_weight", None)},
        "self_test": self_test,
        "metrics": {"validation": _headline(run.metrics["validation"]["at_thresholds"]),
                    "policy_cases": _policy_case_metrics(evaluations, run.thresholds),
                    "baseline_policy_cases": {name: _headline(m) for name, m in baselines.items()}},
        "provenance": {
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "export_git_commit": git_commit(),
            "training_run": str(run.dir),
            "training": run.metrics.get("provenance", {}),
            "data_sha256": run.metrics["data"]["sha256"],
            "config": to_dict(run.cfg),
        },
    }
    (out / "README.md").write_text(model_card(manifest, evaluations, baselines), encoding="utf-8")
    write_manifest(out, manifest)
    return out


def _headline(m: dict) -> dict:
    return {"macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"], "decision_accuracy": m["decision_accuracy"],
            "per_policy_f1": {p: v["f1"] for p, v in m["per_policy"].items()}}


def _write_contract_tokenizer(path: Path, max_length: int, truncation_side: str, checkpoint) -> None:
    """tokenizer.json as the serving contract states it: truncation at max_length on that side, no padding (a
    runtime pads each batch itself), so a service that loads the file alone tokenizes as the model was fed."""
    from tokenizers import Tokenizer

    if not path.exists():
        raise UserError(f"{checkpoint}: the tokenizer has no tokenizer.json (a slow tokenizer): the serving contract "
                        "needs a fast one")
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length, direction=truncation_side)
    tok.no_padding()
    tok.save(str(path))


def _evaluations(run_dir: Path | None) -> dict[str, dict]:
    """Whatever `evaluate` has written for a run: case-file name -> metrics.json."""
    if run_dir is None:
        return {}
    return {path.parent.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((run_dir / EVAL_DIR).glob(f"*/{METRICS_FILE}"))}


def _baseline_run(run: Run) -> Path | None:
    """The latest TF-IDF baseline of the same experiment (``checkpoints/baseline/<experiment>/latest``), if any."""
    latest = run.dir.parent.parent / "baseline" / str(run.cfg.get("experiment", "")) / "latest"
    return latest.resolve() if latest.exists() else None


def _policy_case_metrics(evaluations: dict[str, dict], thresholds: dict) -> dict:
    return {name: {**_headline(m), "n": m["n"], "thresholds": "validation" if m["thresholds"] == thresholds
                   else m["thresholds"]} for name, m in evaluations.items()}
