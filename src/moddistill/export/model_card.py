"""The export's ``README.md``: an HF-style model card written from the manifest and the run's evaluations.

Everything in it is read from files the export or its training run holds (nothing typed by hand), so it
cannot drift from the model it describes; the baseline's figures stand beside the student's wherever a
baseline run of the same experiment has scored the same case file.
"""

from __future__ import annotations

from moddistill.evaluation.report import format_number
from moddistill.export.self_test import self_test_lines

TAGS = ["text-classification", "multi-label-classification", "content-moderation", "onnx", "moddistill"]


def model_card(manifest: dict, evaluations: dict[str, dict], baselines: dict[str, dict]) -> str:
    """``evaluations``/``baselines``: case-file name -> that evaluation's metrics.json (student / TF-IDF baseline)."""
    model, policy, contract = manifest["model"], manifest["policy"], manifest["input"]
    ngram = f"hashed char/word n-grams, {contract['ngram']['buckets']} buckets" if contract.get("ngram") else "none"
    hashes = ", ".join(f"{k} {v[:12]}" for k, v in manifest["provenance"]["data_sha256"].items())
    lines = [
        "---",
        f"license: {model.get('license', 'unknown')}",
        f"base_model: {model['base']}",
        "pipeline_tag: text-classification",
        "tags:", *[f"- {t}" for t in TAGS],
        "---",
        "",
        f"# {policy['title']}: {model['name']} student (policy {policy['id']} v{policy['version']})",
        "",
        f"A multi-label classifier of marketplace listings against the {policy['id']} policy "
        f"(version {policy['version']}): one sigmoid score per policy, flagged when the score is at or above "
        "that policy's threshold. It was distilled by moddistill from an LLM teacher's labels.",
        "",
        "## Model",
        f"- Base model: `{model['base']}` (licence: {model.get('license', 'unknown')}), "
        f"{model['architecture']}, pooling `{model['pooling']}`, adapter: {model['adapter']}.",
        f"- n-gram channel: {ngram}.",
        f"- Files: {_files(manifest)}.",
        "",
        "## Intended use",
        "Screening listings against the policy above: settle clear cases automatically and route uncertain ones "
        "(scores near a threshold) to an LLM or a human reviewer. Not a legal determination and not for policies, "
        "languages or markets it was not evaluated on.",
        "",
        "## Training data",
        f"- Teacher labels and listings: data sha256 {hashes}.",
        f"- Thresholds: {manifest['threshold_source']}: "
        + ", ".join(f"{p} {t:.2f}" for p, t in manifest["thresholds"].items()) + ".",
        f"- Validation (teacher labels): macro-F1 {format_number(manifest['metrics']['validation']['macro_f1'])}, "
        f"decision accuracy {format_number(manifest['metrics']['validation']['decision_accuracy'])}.",
        "",
        "## Evaluation on the policy cases",
        "Held-out cases written from the policy text, never trained on; the TF-IDF + logistic-regression baseline "
        "was trained on the same labels and split.",
        "",
    ]
    if not evaluations:
        lines += ["No policy-case evaluation was found for this run: evaluate it before relying on it.", ""]
    for name, m in evaluations.items():
        b = baselines.get(name)
        lines += [f"### `{name}` ({m['n']} cases)", "",
                  "| | student | TF-IDF baseline |", "|---|---:|---:|"]
        lines += [f"| {label} | {format_number(m.get(key))} | {format_number(b.get(key)) if b else 'not run'} |"
                  for label, key in (("macro-F1", "macro_f1"), ("micro-F1", "micro_f1"),
                                     ("decision accuracy", "decision_accuracy"))]
        lines += ["", "| policy | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {p} | {format_number(v['precision'])} | {format_number(v['recall'])} | "
                  f"{format_number(v['f1'])} | {v['support']} |" for p, v in m["per_policy"].items()]
        langs = m.get("slices", {}).get("language", {})
        if langs:
            lines += ["", "| language | cases | macro-F1 | decision accuracy |", "|---|---:|---:|---:|"]
            lines += [f"| {lang} | {v['n']} | {format_number(v['macro_f1'])} | "
                      f"{format_number(v['decision_accuracy'])} |" for lang, v in langs.items()]
        lines.append("")
    lines += ["## Self-test on the policy's own examples", "", *self_test_lines(manifest.get("self_test"))]
    lines += [
        "## Limitations",
        "- The labels come from an LLM teacher, not from human reviewers: the student inherits the teacher's errors.",
        "- Thresholds were chosen on a small validation split; recheck them on your own traffic.",
        "- Languages or markets with few or no cases above are untested; see the per-language table.",
        "- Obfuscated text and look-alike listings (allowed items that resemble prohibited ones) are the usual "
        "failure cases; route low-margin scores to review.",
        "",
        "## How to use",
        "```bash",
        "pip install moddistill   # torch-free: onnxruntime + tokenizers",
        "python scripts/predict.py export_dir=<this directory> input=listings.jsonl output=predictions.jsonl",
        "```",
        "From another language: `moddistill.json` states the serving contract (input rendering, tokenizer, max "
        "length, truncation side, n-gram hashing, label order, thresholds); every file's SHA-256 is listed there.",
        "",
    ]
    return "\n".join(lines)


def _files(manifest: dict) -> str:
    onnx = manifest.get("onnx") or {}
    names = ["`model.safetensors` (transformers)"]
    if onnx.get("fp32"):
        names.append(f"`{onnx['fp32']}` (ONNX fp32)")
    if onnx.get("int8"):
        names.append(f"`{onnx['int8']}` (ONNX int8)")
    return ", ".join(names)
