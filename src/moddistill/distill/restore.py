"""A finished student run back into one plain model, ready to score: the one place a run directory becomes a model.

Evaluation, export (torch and ONNX), the loop simulation and the tests all load through ``load_student``, so a LoRA
run and a full run cannot differ in what they restore.
"""

from __future__ import annotations

from typing import Any, Callable

from moddistill.distill.model import build_base_model, label_maps
from moddistill.runs.run import ADAPTER_DIR, BASE_MODEL_DIR, CONFIG_FILE, MODEL_DIR, TOKENIZER_DIR, Run


def load_student(run: Run):
    """The run's student as one plain model, ready to score, and its tokenizer, whatever the method.

    Weights: full fine-tuning, ``model/``; LoRA, the base (``base_model/``, or the pretrained weights config.yaml
    names) with ``adapter/`` (LoRA matrices, head, n-gram channel with its IDF) merged into it, so evaluation scores
    the very model the export ships. Then the label order of config.yaml's policy is checked against the head, and
    every value training chose after the weights were final and keeps outside them is applied (``RESTORES``). The
    decision thresholds, the other such value, are ``Run.thresholds``.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if run.kind != "student":
        raise ValueError(f"{run.dir}: a {run.kind} run has no student model")
    method = run.method
    weights = run.dir / (MODEL_DIR if method == "full" else ADAPTER_DIR)
    if not weights.is_dir():
        raise FileNotFoundError(f"{run.dir}: a {method} run without its {weights.name}/ directory")
    tokenizer = AutoTokenizer.from_pretrained(run.dir / TOKENIZER_DIR)
    if method == "full":
        model = AutoModelForSequenceClassification.from_pretrained(weights)
    else:
        from peft import PeftModel

        base_dir = run.dir / BASE_MODEL_DIR
        if base_dir.exists():
            base = AutoModelForSequenceClassification.from_pretrained(base_dir)
        else:
            base = build_base_model(run.cfg.model, run.policy.ids)
        model = PeftModel.from_pretrained(base, weights).merge_and_unload()
    _check_labels(run, model)
    for restore in RESTORES.values():
        restore(run, model)
    return model.eval(), tokenizer


def _check_labels(run: Run, model) -> None:
    """The head's label order is config.yaml's policy order (what thresholds, reports and the export's id2label
    are keyed by); the model config then carries the policy's label maps."""
    id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
    labels = [id2label.get(i) for i in range(model.config.num_labels)]
    if labels != list(run.policy.ids):
        raise ValueError(f"{run.dir}: the model's labels {labels} are not the policy's {list(run.policy.ids)} "
                         f"({CONFIG_FILE})")
    for key, value in label_maps(run.policy.ids).items():
        setattr(model.config, key, value)


def _restore_encoder_weight(run: Run, model) -> None:
    """metrics.json ``encoder_weight.chosen`` -> ``config.encoder_weight``: how much of the encoder's logits is added
    to the stacked n-gram channel's, chosen on validation after training (``ngram_fit.fit_encoder_weight``). A full
    run's model/config.json carries it too; a LoRA adapter carries no model config, so metrics.json is the source
    for both. Runs from before the choice existed keep their config's (1)."""
    chosen = (run.metrics.get("encoder_weight") or {}).get("chosen")
    if chosen is not None:
        model.config.encoder_weight = float(chosen)


# Every value training chooses after the weights are final and keeps outside them (in metrics.json), applied to
# every loaded student, LoRA or full. A new one goes here, not into a caller: tests/distill/test_run_restore.py checks
# that a reloaded, exported and ONNX student scores as the in-memory one did, and that skipping any entry here
# makes that check fail.
RESTORES: dict[str, Callable[[Run, Any], None]] = {"encoder_weight": _restore_encoder_weight}
