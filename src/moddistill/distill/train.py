"""The training recipe: teacher labels -> leakage guard -> grouped split -> student (LoRA or full) via the HF Trainer.

Runs in one process or many (``accelerate launch --num_processes N``), on CPU or GPU; only the main
process writes the run's own artifacts. A run killed mid-way continues with ``resume_from=<run dir>``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from omegaconf import DictConfig, OmegaConf
from transformers import (
    AutoModelForSequenceClassification,
    EarlyStoppingCallback,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from moddistill.config import save_config, to_dict
from moddistill.distill.data import StudentCollator, prepare_training_data, to_dataset
from moddistill.distill.inference import score_texts
from moddistill.distill.loss import positive_weights, soft_bce_loss
from moddistill.distill.model import add_lora, build_base_model, freeze_word_embeddings, load_tokenizer
from moddistill.distill.ngram_fit import fit_encoder_weight, fit_stacked_channel
from moddistill.errors import ConfigError
from moddistill.metrics.classification import flag, multilabel_metrics
from moddistill.metrics.thresholds import ThresholdRule, select_thresholds
from moddistill.runs.finish import finish_run
from moddistill.runs.run import (
    ADAPTER_DIR,
    BASE_MODEL_DIR,
    CONFIG_FILE,
    MODEL_DIR,
    TOKENIZER_DIR,
)

log = logging.getLogger(__name__)

def train(cfg: DictConfig, callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Train a student as ``cfg`` says; returns the run directory."""
    _use_cpu_backend_without_gpus()
    state = PartialState()
    run_dir, cfg = _prepare_run(cfg, state)
    set_seed(int(cfg.seed))
    args = _training_args(cfg, run_dir)  # before any data is read: a bad trainer.args value fails at once
    data = prepare_training_data(cfg, run_dir)
    ids = data.policy.ids

    tokenizer = load_tokenizer(cfg.model)
    model = _base_model(cfg, run_dir, ids, state)
    max_length = int(cfg.model.max_length)
    ngram = model.config.ngram_spec
    train_ds = to_dataset(data, "train", tokenizer, max_length, ngram)
    val_ds = to_dataset(data, "validation", tokenizer, max_length, ngram)
    if ngram is not None:
        model.ngram.fit_idf(train_ds["ngram_ids"])  # deterministic: a resumed run fits the same values
        if ngram.fit == "stacked":
            oof = fit_stacked_channel(model.ngram, data.texts("train"), data.labels("train"), ngram, C=ngram.C,
                                      seed=int(cfg.seed))
            train_ds = train_ds.add_column("ngram_offset", oof.tolist())
    method = cfg.peft.get("method", "lora")
    if method == "lora":
        model = add_lora(model, cfg.peft, to_dict(cfg.model.target_modules), to_dict(cfg.model.get("modules_to_save", [])))
    elif method != "full":
        raise ValueError(f"peft.method must be 'lora' or 'full', got {method!r}")
    elif cfg.model.get("freeze_embeddings"):
        log.info("token embeddings frozen: %d parameters", freeze_word_embeddings(model))
    trainable, total = _parameter_counts(model)
    if state.is_main_process:
        log.info("%s: %d trainable of %d parameters (%.2f%%)", method, trainable, total, 100 * trainable / total)
    pos_weight = positive_weights(data.labels("train"), cfg.trainer.pos_weight, float(cfg.trainer.max_pos_weight))

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=StudentCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=_metrics_fn(ids, cfg.threshold_strategy),
        compute_loss_func=soft_bce_loss(pos_weight, float(cfg.trainer.get("focal_gamma", 0.0))),
        callbacks=_callbacks(cfg) + list(callbacks),
        optimizers=(_optimizer(cfg, model, args), None),
    )
    last = get_last_checkpoint(str(run_dir)) if cfg.resume_from else None
    if cfg.resume_from and last is None:
        raise FileNotFoundError(f"resume_from={cfg.resume_from}: no checkpoint-* directory to resume from")
    if last:
        log.info("resuming from %s", last)
    started = time.perf_counter()
    train_out = trainer.train(resume_from_checkpoint=last)
    train_seconds = time.perf_counter() - started

    if trainer.is_world_process_zero():
        # Scored with the same function as evaluation and export, in validation-row order (trainer.predict would
        # return length-grouped order under train_sampling_strategy=group_by_length).
        # unwrapped: under bf16 the accelerator wraps forward in autocast, and the saved model is scored in fp32
        student = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        def score_validation():
            return score_texts(student, tokenizer, data.texts("validation"), max_length=max_length,
                               batch_size=int(cfg.trainer.args.per_device_eval_batch_size), desc="validation")

        val_teacher = data.labels("validation")
        rule, lookalikes = ThresholdRule.from_cfg(cfg), data.lookalikes("validation")
        grid = to_dict(cfg.trainer.get("encoder_weight_grid")) or []
        if ngram is not None and ngram.fit == "stacked" and grid:
            weight, by_weight, val_scores = fit_encoder_weight(student, score_validation, val_teacher >= 0.5, ids,
                                                               rule=rule, grid=grid, lookalikes=lookalikes)
            log.info("encoder weight %.2f chosen on validation (macro-F1 by weight: %s)", weight,
                     ", ".join(f"{w:g} {f:.3f}" for w, f in by_weight.items()))
        else:
            weight, by_weight, val_scores = 1.0, {}, score_validation()
        student.save_pretrained(run_dir / (ADAPTER_DIR if method == "lora" else MODEL_DIR))
        tokenizer.save_pretrained(run_dir / TOKENIZER_DIR)
        finish_run(
            run_dir, cfg, data, val_scores, kind="student",
            model={"model": cfg.model.name, "method": method, "parameters": {"total": total, "trainable": trainable}},
            train={**train_out.metrics, "wall_seconds": round(train_seconds, 1),
                   "best_checkpoint": trainer.state.best_model_checkpoint},
            resources={"device": str(state.device), "num_processes": state.num_processes,
                       "precision": "bf16" if trainer.args.bf16 else "fp32"},
            choices={"encoder_weight": {"chosen": weight,
                                        "validation_macro_f1": {str(w): f for w, f in by_weight.items()}}},
        )
    state.wait_for_everyone()
    return run_dir


def _use_cpu_backend_without_gpus() -> None:
    """Several processes on a machine without GPUs: tell accelerate (and so the Trainer) to use CPU + gloo.

    `accelerate launch --multi_gpu --num_processes N` starts the processes through torchrun; accelerate
    only forms a CPU process group when asked for CPU, and otherwise falls back to N unrelated runs.
    """
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        os.environ["ACCELERATE_USE_CPU"] = "true"


def _prepare_run(cfg: DictConfig, state: PartialState) -> tuple[Path, DictConfig]:
    """Pick the run directory (the main process decides, the others follow) and record the config.

    On resume the saved config of that run wins, so a resumed run trains exactly what it started with.
    """
    if cfg.resume_from:
        run_dir = Path(cfg.resume_from)
        saved = run_dir / CONFIG_FILE
        if not saved.exists():
            raise FileNotFoundError(f"resume_from={run_dir}: not a run directory (no {CONFIG_FILE})")
        resume_from = cfg.resume_from
        cfg = OmegaConf.load(saved)
        cfg.resume_from = resume_from
        return run_dir, cfg
    run_dir = Path(broadcast_object_list([str(cfg.output_dir)])[0] if state.num_processes > 1 else cfg.output_dir)
    if state.is_main_process:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise FileExistsError(f"{run_dir} is not empty; pass resume_from={run_dir} to continue that run")
        cfg = cfg.copy()
        cfg.output_dir = str(run_dir)
        save_config(cfg, run_dir / CONFIG_FILE)
    state.wait_for_everyone()
    return run_dir, OmegaConf.load(run_dir / CONFIG_FILE)


def _base_model(cfg: DictConfig, run_dir: Path, ids, state: PartialState):
    """Pretrained weights, or (tests) fresh weights from an architecture config.

    Fresh weights come from the run's seed, so every process builds the same ones without waiting on
    each other; the main process saves them so a resume, evaluation and export start from them too.
    """
    if cfg.model.get("pretrained"):
        return build_base_model(cfg.model, ids)
    base_dir = run_dir / BASE_MODEL_DIR
    if cfg.resume_from:
        return AutoModelForSequenceClassification.from_pretrained(base_dir)
    set_seed(int(cfg.seed))
    model = build_base_model(cfg.model, ids)
    if state.is_main_process:
        model.save_pretrained(base_dir)
    return model


def _training_args(cfg: DictConfig, run_dir: Path) -> TrainingArguments:
    """``trainer.args`` as given, over the recipe's defaults (so any of them, ``seed`` and ``bf16`` included,
    can be overridden)."""
    bf16 = use_bf16(cfg.trainer.precision)
    defaults = dict(
        output_dir=str(run_dir),
        seed=int(cfg.seed),
        bf16=bf16,
        use_cpu=bf16 and not torch.cuda.is_available(),  # the Trainer takes bf16 on a CPU only when told it is one
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    try:
        return TrainingArguments(**{**defaults, **to_dict(cfg.trainer.args)})
    except (ValueError, TypeError) as e:  # TrainingArguments' own checks of how its flags combine
        raise ConfigError(f"trainer.args: {e}") from None


def use_bf16(precision: str) -> bool:
    """``auto``: bf16 autocast on a GPU that has it, and on a CPU with native bf16 (AVX-512 BF16 / AMX), where
    it trains about 1.6x faster than fp32 here; fp32 elsewhere."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"trainer.precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _optimizer(cfg: DictConfig, model, args: TrainingArguments) -> torch.optim.Optimizer:
    """AdamW with a learning rate per part of the student.

    The classification head starts from random weights on top of features it must learn to read: at the
    encoder's rate it needs far more steps than a short CPU run has, so it gets ``trainer.head_lr_ratio`` times
    the base rate. The n-gram channel is a linear model over hundreds of thousands of sparse features and
    learns at its own ``trainer.ngram_learning_rate``. LoRA+ (``peft.loraplus_lr_ratio``) speeds up LoRA's B
    matrices. Weight decay applies to the encoder's and head's matrices only.
    """
    head_ratio = float(cfg.trainer.get("head_lr_ratio") or 1.0)
    b_ratio = float(cfg.peft.get("loraplus_lr_ratio") or 1.0)
    ngram_lr = float(cfg.trainer.get("ngram_learning_rate") or args.learning_rate)
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if ".ngram." in f".{name}.":
            lr, decay = ngram_lr, 0.0
        else:
            is_head = "classifier" in name or "modules_to_save" in name
            lr = args.learning_rate * (head_ratio if is_head else b_ratio if "lora_B" in name else 1.0)
            decay = args.weight_decay if param.ndim >= 2 else 0.0
        groups.setdefault((lr, decay), []).append(param)
    return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()],
                             lr=args.learning_rate)


def _callbacks(cfg: DictConfig) -> list[TrainerCallback]:
    patience = cfg.trainer.early_stopping_patience
    return [EarlyStoppingCallback(early_stopping_patience=int(patience))] if patience else []


def _metrics_fn(ids: tuple[str, ...], threshold_strategy: str):
    """Validation metrics at the thresholds the run would choose now (``macro_f1``, what early stopping and the
    best checkpoint go by: at a fixed 0.5, a student trained without positive weighting looks dead for its
    first epochs), and at 0.5 for reference."""

    def compute(pred: EvalPrediction) -> dict[str, float]:
        scores = 1 / (1 + np.exp(-pred.predictions))
        y_true = pred.label_ids >= 0.5
        thresholds = select_thresholds(y_true, scores, ids, strategy=threshold_strategy)
        tuned = multilabel_metrics(y_true, flag(scores, [thresholds[p] for p in ids]), ids)
        fixed = multilabel_metrics(y_true, scores >= 0.5, ids)
        return {"macro_f1": tuned["macro_f1"], "micro_f1": tuned["micro_f1"],
                "decision_accuracy": tuned["decision_accuracy"], "macro_f1_at_0.5": fixed["macro_f1"]}

    return compute


def _parameter_counts(model) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
