"""The training recipe: teacher labels -> leakage guard -> grouped split -> LoRA student via the HF Trainer.

Runs in one process or many (``accelerate launch --num_processes N``), on CPU or GPU; only the main
process writes the run's own artifacts. A run killed mid-way continues with ``resume_from=<run dir>``.
"""

from __future__ import annotations

import json
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
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from moddistill.config import policy_from_cfg, save_config, to_dict
from moddistill.distill.data import grouped_split, guard_against_cases, to_dataset
from moddistill.distill.loss import positive_weights, soft_bce_loss
from moddistill.distill.model import add_lora, build_base_model, load_tokenizer
from moddistill.evaluation.metrics import flag, multilabel_metrics
from moddistill.evaluation.policy_cases import read_policy_cases
from moddistill.evaluation.thresholds import select_thresholds
from moddistill.listings import RENDER_VERSION, read_listings, render_listing
from moddistill.provenance import environment, git_commit, peak_memory_mb, sha256_file
from moddistill.records import write_jsonl
from moddistill.scoring import score_texts
from moddistill.teacher.replay import replay_teacher

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
VALIDATION_SCORES_FILE = "validation_scores.jsonl"
ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"
BASE_MODEL_DIR = "base_model"  # only for models built from an architecture config (no pretrained weights)


def train(cfg: DictConfig, callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Train a student as ``cfg`` says; returns the run directory."""
    _use_cpu_backend_without_gpus()
    state = PartialState()
    run_dir, cfg = _prepare_run(cfg, state)
    set_seed(int(cfg.seed))
    policy = policy_from_cfg(cfg)
    ids = policy.ids
    rejects_dir = run_dir / "rejects"

    listings, read_report = read_listings(cfg.data.listings, on_error=cfg.data.on_error,
                                          rejects_path=rejects_dir / "listings_rejects.jsonl",
                                          columns=to_dict(cfg.data.columns))
    log.info(read_report.summary())
    labelled, label_report, join_report = replay_teacher(listings, cfg.teacher.labels, policy,
                                                         on_error=cfg.data.on_error, rejects_dir=rejects_dir)
    log.info(label_report.summary())
    log.info(join_report.summary())
    cases, _ = read_policy_cases(cfg.data.policy_cases, policy)
    labelled, leakage = guard_against_cases(labelled, cases, threshold=float(cfg.data.leakage_threshold))
    log.info(leakage.summary())
    train_rows, val_rows, n_groups = grouped_split(labelled, val_fraction=float(cfg.data.validation_fraction),
                                                   seed=int(cfg.seed), group_threshold=float(cfg.data.group_threshold))
    log.info("split: %d train, %d validation (%d near-duplicate groups)", len(train_rows), len(val_rows), n_groups)

    tokenizer = load_tokenizer(cfg.model)
    model = _base_model(cfg, run_dir, ids, state)
    model = add_lora(model, cfg.peft, to_dict(cfg.model.target_modules), to_dict(cfg.model.get("modules_to_save", [])))
    if state.is_main_process:
        trainable, total = model.get_nb_trainable_parameters()
        log.info("LoRA: %d trainable of %d parameters (%.2f%%)", trainable, total, 100 * trainable / total)
    max_length = int(cfg.model.max_length)
    train_ds = to_dataset(train_rows, ids, tokenizer, max_length)
    val_ds = to_dataset(val_rows, ids, tokenizer, max_length)
    train_labels = np.array([r.label.vector(ids) for r in train_rows])
    pos_weight = positive_weights(train_labels, cfg.trainer.pos_weight, float(cfg.trainer.max_pos_weight))

    args = _training_args(cfg, run_dir)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=_metrics_fn(ids),
        compute_loss_func=soft_bce_loss(pos_weight),
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
        # Scored with the same function as evaluation and export, in val_rows order (trainer.predict would
        # return length-grouped order under train_sampling_strategy=group_by_length).
        val_scores = score_texts(trainer.model, tokenizer, [render_listing(r.listing) for r in val_rows],
                                 max_length=max_length, batch_size=int(cfg.trainer.args.per_device_eval_batch_size),
                                 desc="validation")
        val_teacher = np.array([r.label.vector(ids) for r in val_rows])
        thresholds = select_thresholds(val_teacher >= 0.5, val_scores, ids)
        write_jsonl(run_dir / VALIDATION_SCORES_FILE, (
            {"id": r.listing.id, "teacher": dict(zip(ids, map(float, t))), "student": dict(zip(ids, map(float, s)))}
            for r, t, s in zip(val_rows, val_teacher, val_scores)
        ))
        trainer.model.save_pretrained(run_dir / ADAPTER_DIR)
        tokenizer.save_pretrained(run_dir / TOKENIZER_DIR)
        metrics = {
            "experiment": cfg.experiment,
            "run_dir": str(run_dir),
            "model": cfg.model.name,
            "policy": {"id": policy.id, "version": policy.version, "labels": list(ids)},
            "render_version": RENDER_VERSION,
            "data": {
                "listings": vars(read_report),
                "teacher_labels": vars(label_report),
                "join": vars(join_report),
                "leakage": vars(leakage),
                "train": len(train_rows),
                "validation": len(val_rows),
                "groups": n_groups,
                "sha256": _data_hashes(cfg),
            },
            "train": {**train_out.metrics, "wall_seconds": round(train_seconds, 1),
                      "best_checkpoint": trainer.state.best_model_checkpoint},
            "validation": {
                "at_0.5": multilabel_metrics(val_teacher >= 0.5, val_scores >= 0.5, ids),
                "at_thresholds": multilabel_metrics(val_teacher >= 0.5, flag(val_scores, [thresholds[p] for p in ids]), ids),
            },
            "thresholds": thresholds,
            "resources": {"device": str(state.device), "num_processes": state.num_processes,
                          "precision": "bf16" if trainer.args.bf16 else "fp32", **peak_memory_mb()},
            "provenance": {"git_commit": git_commit(), **environment()},
        }
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
        _point_latest(run_dir)
        log.info("validation macro-F1 %.3f (teacher labels >= 0.5); run saved in %s",
                 metrics["validation"]["at_thresholds"]["macro_f1"], run_dir)
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
    args = to_dict(cfg.trainer.args)
    precision = cfg.trainer.precision
    use_bf16 = precision == "bf16" or (precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return TrainingArguments(
        output_dir=str(run_dir),
        seed=int(cfg.seed),
        bf16=use_bf16,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        **args,
    )


def _optimizer(cfg: DictConfig, model, args: TrainingArguments) -> torch.optim.Optimizer:
    """AdamW with three learning rates.

    The classification head (and any other module trained in full) starts from random weights on top of
    features it must learn to read: at LoRA's learning rate it needs far more steps than a short CPU run
    has, so it gets ``trainer.head_lr_ratio`` times the base rate. LoRA+ (``peft.loraplus_lr_ratio``)
    likewise speeds up LoRA's B matrices. Weight decay applies to matrices only, not biases or norms.
    """
    head_ratio = float(cfg.trainer.get("head_lr_ratio") or 1.0)
    b_ratio = float(cfg.peft.get("loraplus_lr_ratio") or 1.0)
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        ratio = head_ratio if "modules_to_save" in name else b_ratio if "lora_B" in name else 1.0
        decay = args.weight_decay if param.ndim >= 2 else 0.0
        groups.setdefault((args.learning_rate * ratio, decay), []).append(param)
    return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()],
                             lr=args.learning_rate)


def _callbacks(cfg: DictConfig) -> list[TrainerCallback]:
    patience = cfg.trainer.early_stopping_patience
    return [EarlyStoppingCallback(early_stopping_patience=int(patience))] if patience else []


def _metrics_fn(ids: tuple[str, ...]):
    def compute(pred: EvalPrediction) -> dict[str, float]:
        scores = 1 / (1 + np.exp(-pred.predictions))
        m = multilabel_metrics(pred.label_ids >= 0.5, scores >= 0.5, ids)
        return {"macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"], "decision_accuracy": m["decision_accuracy"]}

    return compute


def _data_hashes(cfg: DictConfig) -> dict[str, str]:
    files = {"listings": cfg.data.listings, "teacher_labels": cfg.teacher.labels, "policy_cases": cfg.data.policy_cases}
    return {name: sha256_file(path) for name, path in files.items()}


def _point_latest(run_dir: Path) -> None:
    """``checkpoints/<experiment>/latest`` -> the newest finished run, for `make demo` and humans."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)
