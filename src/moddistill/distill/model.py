"""Building the student from a model config: tokenizer, encoder + head (``student.py``), optional LoRA (peft)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoTokenizer, PreTrainedModel

from moddistill.distill.ngrams import NgramSpec
from moddistill.distill.student import StudentModel, build_student

PKG_SCHEME = "pkg://"


def resolve_model_path(spec: str) -> str:
    """``pkg://module/sub/dir`` names a model shipped inside an installed package; anything else is a
    local directory (which must exist) or a hub id, passed to ``from_pretrained`` unchanged."""
    if spec.startswith(("checkpoints/", "./", "/")) and not Path(spec).exists():
        raise FileNotFoundError(f"{spec}: no model there; models that are assembled locally say how in their "
                                "conf/model/*.yaml (e.g. python data/tools/assemble_multilingual_e5.py)")
    if not spec.startswith(PKG_SCHEME):
        return spec
    module, _, sub = spec[len(PKG_SCHEME):].partition("/")
    try:
        root = importlib.resources.files(module)
    except ModuleNotFoundError:
        raise FileNotFoundError(f"{spec}: package {module!r} is not installed (pip install it, or `make setup`)") from None
    return str(Path(str(root)) / sub)


def label_maps(policy_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "num_labels": len(policy_ids),
        "id2label": {i: p for i, p in enumerate(policy_ids)},
        "label2id": {p: i for i, p in enumerate(policy_ids)},
        "problem_type": "multi_label_classification",
    }


def load_tokenizer(model_cfg: Mapping[str, Any]):
    source = model_cfg.get("tokenizer") or model_cfg.get("pretrained")
    if not source:
        raise ValueError(f"model {model_cfg.get('name')!r}: set `tokenizer` when building from `config`")
    return AutoTokenizer.from_pretrained(resolve_model_path(source))


def build_base_model(model_cfg: Mapping[str, Any], policy_ids: Sequence[str]) -> StudentModel:
    """The encoder from pretrained weights (``pretrained``), or fresh weights from an architecture (``config``,
    for tests), with a new multi-label head and, when ``ngram`` is set, the hashed n-gram channel."""
    pretrained = model_cfg.get("pretrained")
    arch = dict(model_cfg.get("config") or {})
    if not pretrained and not arch:
        raise ValueError(f"model {model_cfg.get('name')!r}: set `pretrained` or `config`")
    ngram = model_cfg.get("ngram")
    return build_student(resolve_model_path(pretrained) if pretrained else None, arch, label_maps(policy_ids),
                         pooling=model_cfg.get("pooling", "mean"),
                         ngram=NgramSpec.from_dict(dict(ngram)) if ngram else None)


def freeze_word_embeddings(model: StudentModel) -> int:
    """Keep the encoder's token embeddings at their pretrained values; returns how many parameters that froze.

    In a multilingual encoder they are most of the model (96M of multilingual-e5-small's 118M, for a 250k-token
    vocabulary), and training them costs more than the rest of a CPU step (2.1 s against 1.2 s for a batch of 32
    here) while a few thousand listings touch a small share of the rows. Frozen, the tokens training never saw
    keep their place next to the ones it did.
    """
    embeddings = model.encoder.get_input_embeddings()
    embeddings.weight.requires_grad_(False)
    return embeddings.weight.numel()


def add_lora(
    model: PreTrainedModel, peft_cfg: Mapping[str, Any], target_modules: Sequence[str] | str,
    modules_to_save: Sequence[str] = (),
) -> PeftModel:
    """Wrap ``model`` with LoRA adapters. The classification head is trained in full (SEQ_CLS keeps it), and
    so are the n-gram channel and every module in ``modules_to_save``."""
    modules_to_save = list(modules_to_save) + (["ngram"] if getattr(model, "ngram", None) is not None else [])
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=int(peft_cfg["r"]),
        lora_alpha=int(peft_cfg["alpha"]),
        lora_dropout=float(peft_cfg["dropout"]),
        bias=peft_cfg.get("bias", "none"),
        target_modules=target_modules if isinstance(target_modules, str) else list(target_modules),
        modules_to_save=list(modules_to_save) or None,
    )
    return get_peft_model(model, config)
