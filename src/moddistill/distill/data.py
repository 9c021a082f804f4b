"""Training data: teacher labels (an expert's verdict in place of the teacher's) joined to listings, the policy's own
examples and contrast sets beside them, the leakage guard against policy cases, the grouped validation split,
perturbed copies of training rows (``data.augment``), tokenised datasets and their collator. Students and baselines share ``prepare_training_data``, so they train on
exactly the same rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import datasets
import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.model_selection import GroupShuffleSplit
from transformers import DataCollatorWithPadding

from moddistill.config import path_list, policy_from_cfg, to_dict
from moddistill.data.listings import FIRST_RENDER_VERSION, RENDER_VERSION, Listing, read_listings, render_listing
from moddistill.data.near_duplicates import duplicate_groups, near_duplicate_pairs, normalize_tokens
from moddistill.data.policy import EXAMPLE_ID_PREFIX, Policy
from moddistill.data.policy_cases import PolicyCase, read_policy_cases
from moddistill.distill.augment import augment_rows
from moddistill.distill.contrast import contrast_rows, policy_example_rows
from moddistill.distill.ngrams import NgramSpec, ngram_bags, pad_bags
from moddistill.errors import UserError
from moddistill.provenance import sha256_file
from moddistill.teacher.replay import LabelledListing, replay_teacher

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    policy: Policy
    train: list[LabelledListing]
    validation: list[LabelledListing]
    report: dict  # counts for metrics.json["data"]
    render: str = RENDER_VERSION  # the listing rendering the model reads (data.render)

    def labels(self, split: str) -> np.ndarray:
        rows = self.train if split == "train" else self.validation
        return np.array([r.label.vector(self.policy.ids) for r in rows], dtype=float).reshape(len(rows), -1)

    def texts(self, split: str) -> list[str]:
        return [render_listing(r.listing, self.render) for r in (self.train if split == "train" else self.validation)]

    def lookalikes(self, split: str) -> np.ndarray:
        """Which rows of the split are allowed look-alikes (from the policy's examples or a contrast set)."""
        return np.array([r.is_lookalike for r in (self.train if split == "train" else self.validation)], dtype=bool)


def prepare_training_data(cfg: DictConfig, run_dir: Path) -> TrainingData:
    """Listings + teacher labels, overridden by expert verdicts -> leakage guard -> grouped split, as ``cfg.data``
    and ``cfg.teacher`` say."""
    policy = policy_from_cfg(cfg)
    rejects_dir = run_dir / "rejects"
    listings, read_report = read_listings(cfg.data.listings, on_error=cfg.data.on_error,
                                          rejects_path=rejects_dir / "listings_rejects.jsonl",
                                          columns=to_dict(cfg.data.columns))
    log.info(read_report.summary())
    expert_files = path_list(cfg.teacher.get("expert_verdicts"))  # a run started before the key existed has none
    labelled, label_report, join_report, expert_report = replay_teacher(
        listings, cfg.teacher.labels, policy, expert_verdicts=expert_files, on_error=cfg.data.on_error,
        rejects_dir=rejects_dir)
    log.info(label_report.summary())
    log.info(join_report.summary())
    example_weight = int((cfg.data.get("policy_examples") or {}).get("weight", 0))
    if example_weight:
        labelled += policy_example_rows(policy, weight=example_weight)
    contrast_sets = [to_dict(s) for s in (cfg.data.get("contrast") or [])]
    extra, contrast_report = contrast_rows(contrast_sets, policy, on_error=cfg.data.on_error, rejects_dir=rejects_dir)
    labelled += extra
    log.info(contrast_report.summary())
    _refuse_shared_ids(labelled)
    cases, _ = read_policy_cases(cfg.data.policy_cases, policy)
    labelled, leakage = guard_against_cases(labelled, cases, threshold=float(cfg.data.leakage_threshold))
    log.info(leakage.summary())
    refused_examples = [i for i in leakage.dropped_ids if i.startswith(EXAMPLE_ID_PREFIX)]
    if refused_examples:
        log.warning("policy examples refused as (near) copies of policy cases: %s", ", ".join(refused_examples))
    train_rows, val_rows, n_groups = grouped_split(labelled, val_fraction=float(cfg.data.validation_fraction),
                                                   seed=int(cfg.seed), group_threshold=float(cfg.data.group_threshold))
    origins = _origin_counts(train_rows, val_rows)
    augment = to_dict(cfg.data.get("augment")) or {}  # a run from before the key: none
    train_rows, augmented = augment_rows(train_rows, share=float(augment.get("share", 0.0)),
                                         kinds=list(augment.get("kinds", [])), seed=int(cfg.seed))
    if augmented.rows:
        log.info("augmented: %d perturbed copies of training rows (%s)", augmented.rows,
                 ", ".join(f"{k} {n}" for k, n in augmented.by_kind.items()))
    train_rows = [r for r in train_rows for _ in range(r.weight)]
    log.info("split: %d train (%d with weights), %d validation (%d allowed look-alikes), %d near-duplicate groups; "
             "by origin: %s", origins["all"]["train"], len(train_rows), len(val_rows),
             sum(r.is_lookalike for r in val_rows), n_groups,
             ", ".join(f"{o} {c['train']}/{c['validation']}" for o, c in origins.items() if o != "all"))
    files = {"listings": cfg.data.listings, "teacher_labels": cfg.teacher.labels, "policy_cases": cfg.data.policy_cases,
             **{f"expert_verdicts[{i}]": path for i, path in enumerate(expert_files)},
             **{f"contrast[{i}].{k}": s[k] for i, s in enumerate(contrast_sets) for k in ("listings", "labels")}}
    if example_weight and Path(policy.source).is_file():  # the composed file when run through Hydra
        files["policy"] = policy.source
    report = {"listings": vars(read_report), "teacher_labels": vars(label_report), "expert_verdicts": expert_report,
              "join": vars(join_report), "policy_examples": {"weight": example_weight,
                                                             "rows": len(policy.examples) if example_weight else 0},
              "contrast": contrast_report.sets, "augment": vars(augmented), "leakage": vars(leakage), "train": len(train_rows),
              "validation": len(val_rows), "validation_lookalikes": sum(r.is_lookalike for r in val_rows),
              "origins": origins, "groups": n_groups,
              "sha256": {name: sha256_file(path) for name, path in files.items()}}
    return TrainingData(policy, train_rows, val_rows, report, render=cfg.data.get("render", FIRST_RENDER_VERSION))


def _refuse_shared_ids(rows: Sequence[LabelledListing]) -> None:
    """One id, one row: a contrast listing or a policy example must not reuse a listing's id."""
    first: dict[str, LabelledListing] = {}
    for r in rows:
        other = first.setdefault(r.listing.id, r)
        if other is not r:
            where = " and ".join(x.listing.source or f"the {x.origin} rows" for x in (other, r))
            raise UserError(f"id {r.listing.id!r} names two training rows ({where}); give each row its own id")


def _origin_counts(train: Sequence[LabelledListing], validation: Sequence[LabelledListing]) -> dict[str, dict]:
    """Rows per origin on each side of the split (before training weights), with ``all``."""
    out: dict[str, dict] = {"all": {"train": len(train), "validation": len(validation)}}
    for side, rows in (("train", train), ("validation", validation)):
        for r in rows:
            counts = out.setdefault(r.origin, {"train": 0, "validation": 0, "validation_lookalikes": 0})
            counts[side] += 1
            if side == "validation" and r.is_lookalike:
                counts["validation_lookalikes"] += 1
    return out


def matching_text(listing: Listing) -> str:
    return f"{listing.title} {listing.description}"


@dataclass
class LeakageReport:
    checked: int
    exact: int = 0
    near: int = 0
    dropped_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"leakage guard: {len(self.dropped_ids)} of {self.checked} training rows duplicate a policy case "
                f"({self.exact} exact, {self.near} near) and were refused")


def guard_against_cases(
    examples: Sequence[LabelledListing], cases: Sequence[PolicyCase], *, threshold: float = 0.8
) -> tuple[list[LabelledListing], LeakageReport]:
    """Refuse training rows that exactly or nearly (word-trigram Jaccard >= threshold) duplicate a case."""
    texts = [matching_text(e.listing) for e in examples]
    case_texts = [matching_text(c.listing) for c in cases]
    exact_keys = {" ".join(normalize_tokens(t)) for t in case_texts}
    exact = {i for i, t in enumerate(texts) if " ".join(normalize_tokens(t)) in exact_keys}
    near = {i for i, _, _ in near_duplicate_pairs(texts, case_texts, threshold=threshold)} - exact
    dropped = exact | near
    report = LeakageReport(len(examples), len(exact), len(near), sorted(examples[i].listing.id for i in dropped))
    return [e for i, e in enumerate(examples) if i not in dropped], report


def grouped_split(
    examples: Sequence[LabelledListing], *, val_fraction: float, seed: int, group_threshold: float = 0.5
) -> tuple[list[LabelledListing], list[LabelledListing], int]:
    """Split so that near-duplicate listings (chains of Jaccard >= group_threshold) stay on one side."""
    groups = duplicate_groups([matching_text(e.listing) for e in examples], threshold=group_threshold)
    splitter = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    train_idx, val_idx = next(splitter.split(examples, groups=groups))
    return [examples[i] for i in train_idx], [examples[i] for i in val_idx], len(set(groups))


def to_dataset(data: TrainingData, split: str, tokenizer, max_length: int,
               ngram: NgramSpec | None = None) -> datasets.Dataset:
    """A split's examples tokenised, with float soft labels (and n-gram bags for a student with that channel);
    padding is left to the collator (dynamic padding)."""
    texts = data.texts(split)
    columns = {"text": texts, "labels": data.labels(split).tolist()}
    if ngram is not None:
        columns["ngram_ids"], columns["ngram_weights"] = ngram_bags(texts, ngram)
    ds = datasets.Dataset.from_dict(columns)
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length), batched=True,
                remove_columns=["text"], desc="tokenizing")
    return ds.cast_column("labels", datasets.Sequence(datasets.Value("float32")))


class StudentCollator(DataCollatorWithPadding):
    """Dynamic padding of the token fields, plus right-padding of the n-gram bags (weight 0) and, in stacked
    mode, the out-of-fold n-gram logits."""

    def __call__(self, features):
        bags = offset = None
        if features and "ngram_ids" in features[0]:
            bags = pad_bags([f.pop("ngram_ids") for f in features], [f.pop("ngram_weights") for f in features])
        if features and "ngram_offset" in features[0]:
            offset = torch.tensor([f.pop("ngram_offset") for f in features], dtype=torch.float32)
        batch = super().__call__(features)
        if bags is not None:
            batch["ngram_ids"], batch["ngram_weights"] = torch.from_numpy(bags[0]), torch.from_numpy(bags[1])
        if offset is not None:
            batch["ngram_offset"] = offset
        return batch
