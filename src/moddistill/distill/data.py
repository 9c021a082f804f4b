"""Training data: the leakage guard against policy cases, the grouped validation split, tokenised datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import datasets
from sklearn.model_selection import GroupShuffleSplit

from moddistill.evaluation.policy_cases import PolicyCase
from moddistill.listings import Listing, render_listing
from moddistill.near_duplicates import duplicate_groups, near_duplicate_pairs, normalize_tokens
from moddistill.teacher.replay import LabelledListing


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


def to_dataset(examples: Sequence[LabelledListing], policy_ids: Sequence[str], tokenizer, max_length: int) -> datasets.Dataset:
    """Tokenised examples with float soft labels; padding is left to the collator (dynamic padding)."""
    ds = datasets.Dataset.from_dict({
        "text": [render_listing(e.listing) for e in examples],
        "labels": [e.label.vector(tuple(policy_ids)) for e in examples],
    })
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length), batched=True,
                remove_columns=["text"], desc="tokenizing")
    return ds.cast_column("labels", datasets.Sequence(datasets.Value("float32")))
