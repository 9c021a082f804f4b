"""Choose the next labelling batch from an unlabelled pool: the listings a label would teach the student most.

A batch comes from the strategy's ranking: ``uncertainty`` (the default: a policy's score closest to its threshold,
in logit space, the same margin the fusion rules route by) or ``disagreement`` (student and teacher far apart,
where the pool already has teacher labels). An optional share of it (``diversity``; 0 by default: in the loop
simulation a quarter cost 0.05 macro-F1 at 1,200 labels) is filled by k-center: again and again the listing
farthest from everything labelled or already picked, to explore what the student has not seen. Every pick skips a
listing that near-copies one already picked and respects quotas (no policy or language takes more than its share
of the batch), so a batch is not one case many times. ``random`` draws uniformly, with none of this, for
comparison.

Distances are cosine distances between character n-gram TF-IDF vectors of the rendered listings, not the
student's embeddings: the export serves per-policy scores only, and near-copies, the thing to catch, are lexical.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from omegaconf import DictConfig
from sklearn.feature_extraction.text import TfidfVectorizer

from moddistill.config import path_list, to_dict
from moddistill.data.listings import Listing, read_listings, render_listing
from moddistill.data.records import read_records, record_id, write_jsonl
from moddistill.errors import UserError
from moddistill.fusion.operating_point import export_policy
from moddistill.fusion.rules import signed_margins
from moddistill.loop.settings import SELECTION_STRATEGIES as STRATEGIES
from moddistill.loop.settings import SelectionSettings
from moddistill.serving.runtime import ExportedModel
from moddistill.teacher.labels import read_teacher_labels


@dataclass
class Picked:
    index: int  # into the pool
    strategy: str  # the part of the batch it came from: the strategy's ranking, diversity, random
    score: float
    reason: str
    policy: str | None  # the policy its score is about (the nearest to its threshold)

    def record(self, rank: int) -> dict:
        return {"strategy": self.strategy, "score": round(self.score, 6), "reason": self.reason, "rank": rank,
                **({"policy": self.policy} if self.policy else {})}


@dataclass
class Ranking:
    """A ranking strategy's verdict on the pool: the batch takes the highest ``score`` first (under quotas, skipping
    near copies); a negative score is not rankable and is left to diversity."""

    score: np.ndarray  # (n,)
    about: np.ndarray  # (n,) index of the policy each listing's score is about (for the policy quota)
    reasons: list[str]  # (n,) why, in words, written into the batch's rows


@runtime_checkable
class RankingStrategy(Protocol):
    """Ranks the pool from the student's scores (``needs_scores``) and, where given, the teacher's labels."""

    needs_scores: bool

    def rank(self, scores: np.ndarray, teacher: np.ndarray | None, policy_ids: Sequence[str],
             thresholds: Sequence[float], margins: np.ndarray) -> Ranking: ...


@runtime_checkable
class DrawingStrategy(Protocol):
    """Draws the batch itself (no quotas, no diversity): the batch is exactly its draw."""

    needs_scores: bool
    reason: str

    def draw(self, n: int, budget: int, seed: int) -> Sequence[int]: ...


class Uncertainty:
    """The listings nearest a threshold first: 1 on a threshold, toward 0 far from every one."""

    needs_scores = True

    def rank(self, scores, teacher, policy_ids, thresholds, margins) -> Ranking:
        nearest = margins.argmin(axis=1)
        return Ranking(1.0 / (1.0 + margins.min(axis=1)), nearest,
                       [f"{policy_ids[j]} score {scores[i, j]:.3f}, threshold {thresholds[j]:.3f}"
                        for i, j in enumerate(nearest)])


class Disagreement:
    """Where the student and the teacher disagree most; listings without a teacher label are left to diversity."""

    needs_scores = True

    def rank(self, scores, teacher, policy_ids, thresholds, margins) -> Ranking:
        if teacher is None:
            raise UserError("strategy=disagreement needs teacher labels for the pool (labels=...)")
        gap = np.abs(scores - teacher)
        has_label = ~np.isnan(gap).any(axis=1)
        if not has_label.any():
            raise UserError("strategy=disagreement: none of the pool's listings has a teacher label in labels=...")
        gap = np.nan_to_num(gap, nan=-1)
        about = np.where(has_label, gap.argmax(axis=1), margins.argmin(axis=1))
        return Ranking(np.where(has_label, gap.max(axis=1), -1.0), about,
                       [f"{policy_ids[j]}: student {scores[i, j]:.3f}, teacher {teacher[i, j]:.3f}" if has_label[i]
                        else "no teacher label" for i, j in enumerate(about)])


class Random:
    """A uniform, seeded draw: the baseline every other strategy must beat."""

    needs_scores = False
    reason = "uniform random draw"

    def draw(self, n: int, budget: int, seed: int) -> Sequence[int]:
        return np.random.default_rng(seed).choice(n, size=budget, replace=False)


def text_vectors(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised character 2-4-gram TF-IDF rows (sparse): cosine similarity is their dot product."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32).fit_transform(texts)


def select_batch(
    pool: Sequence[Listing], scores: np.ndarray | None, policy_ids: Sequence[str], thresholds: Sequence[float],
    settings: SelectionSettings, *, labelled: Sequence[Listing] = (), teacher: np.ndarray | None = None,
) -> tuple[list[Picked], dict]:
    """Pick ``settings.budget`` distinct listings of ``pool`` (unlabelled) by ``settings.strategy``.

    ``scores``: (n, k) student probabilities of the pool (not needed for random); ``teacher``: (n, k) teacher
    probabilities for disagreement (NaN rows: no label); ``labelled``: listings already labelled, which
    diversity keeps away from. Returns the picks in batch order and counts for the summary."""
    n = len(pool)
    if n == 0:
        raise UserError("the unlabelled pool is empty: nothing to select")
    if settings.budget > n:
        raise UserError(f"budget {settings.budget} is larger than the unlabelled pool ({n} listings)")
    strategy = STRATEGIES.resolve(settings.strategy)()
    if isinstance(strategy, DrawingStrategy):
        picks = [Picked(int(i), settings.strategy, 0.0, strategy.reason, None)
                 for i in strategy.draw(n, settings.budget, settings.seed)]
        return picks, {"by_part": {settings.strategy: len(picks)}, "quota_relaxed": 0, "near_copies_skipped": 0}

    margins = np.abs(signed_margins(scores, dict(zip(policy_ids, thresholds))))  # how far from flipping
    nearest = margins.argmin(axis=1)
    ranking = strategy.rank(scores, teacher, policy_ids, thresholds, margins)
    ranking_score, about, reasons = ranking.score, ranking.about, ranking.reasons

    vectors = text_vectors([render_listing(x) for x in [*pool, *labelled]])
    pool_vectors, labelled_vectors = vectors[:n], vectors[n:]
    batch = _Batch(settings, [pool[i].language for i in range(n)], [policy_ids[j] for j in about], pool_vectors)
    n_diverse = int(round(settings.diversity * settings.budget))
    order = np.lexsort((np.arange(n), -ranking_score))  # best first, ties by pool order
    candidates = [i for i in order if ranking_score[i] >= 0]
    batch.fill(candidates, settings.budget - n_diverse,
               lambda i: Picked(int(i), settings.strategy, float(ranking_score[i]), reasons[i], policy_ids[about[i]]))
    # k-center fills the rest: its share, and whatever the ranking could not (listings without a teacher label)
    batch.fill_farthest(labelled_vectors, settings.budget, [policy_ids[j] for j in nearest])
    parts: dict[str, int] = {}
    for p in batch.picks:
        parts[p.strategy] = parts.get(p.strategy, 0) + 1
    return batch.picks, {"by_part": parts, "quota_relaxed": batch.relaxed, "near_copies_skipped": batch.near_copies}


class _Batch:
    """The batch being filled: quotas, the near-copy check, and the similarity of the pool to what is picked."""

    def __init__(self, settings: SelectionSettings, languages: list[str], policies: list[str], vectors):
        self.settings, self.languages, self.policies, self.vectors = settings, languages, policies, vectors
        self.picks: list[Picked] = []
        self.taken = np.zeros(len(languages), dtype=bool)
        self.closest = np.zeros(len(languages), dtype=np.float32)  # highest cosine similarity to a pick
        self.count = {"language": {}, "policy": {}}
        self.relaxed = self.near_copies = 0

    def _fits(self, i: int) -> bool:
        for kind, key in (("language", self.languages[i]), ("policy", self.policies[i])):
            share = getattr(self.settings.max_share, kind)
            if share is not None and self.count[kind].get(key, 0) + 1 > max(1, int(share * self.settings.budget)):
                return False
        return True

    def add(self, pick: Picked) -> None:
        i = pick.index
        self.picks.append(pick)
        self.taken[i] = True
        for kind, key in (("language", self.languages[i]), ("policy", self.policies[i])):
            self.count[kind][key] = self.count[kind].get(key, 0) + 1
        self.closest = np.maximum(self.closest, (self.vectors @ self.vectors[i].T).toarray().ravel())

    def fill(self, candidates: Sequence[int], target: int, make) -> None:
        """Add candidates in order until ``target`` picks: first within quotas; then, if they cannot be met,
        beyond them (counted as relaxed). Near-copies of a pick are always skipped."""
        for within_quota in (True, False):
            for i in candidates:
                if len(self.picks) >= target:
                    return
                if self.taken[i]:
                    continue
                if self.closest[i] >= self.settings.max_similarity:
                    self.near_copies += within_quota
                    continue
                if within_quota and not self._fits(i):
                    continue
                self.relaxed += not within_quota
                self.add(make(i))

    def fill_farthest(self, labelled_vectors, target: int, nearest_policy: list[str]) -> None:
        """k-center (farthest-first): each pick is the listing least similar to everything labelled or picked."""
        if len(self.picks) >= target:  # the ranking filled the batch (diversity 0): no pool x labelled similarities
            return
        if labelled_vectors.shape[0]:
            known = np.asarray((self.vectors @ labelled_vectors.T).max(axis=1).todense()).ravel()
        else:
            known = np.zeros(len(self.languages), dtype=np.float32)
        for within_quota in (True, False):
            while len(self.picks) < target:
                similarity = np.maximum(known, self.closest)
                open_ = ~self.taken & (similarity < self.settings.max_similarity)
                if within_quota:
                    open_ &= np.array([self._fits(i) for i in range(len(open_))])
                if not open_.any():
                    break
                i = int(np.where(open_, similarity, np.inf).argmin())
                self.relaxed += not within_quota
                self.add(Picked(i, "diversity", float(1 - similarity[i]),
                                f"far from every labelled and selected listing (cosine distance {1 - similarity[i]:.2f})",
                                nearest_policy[i]))


def excluded_ids(paths: Sequence[str]) -> set[str]:
    """Every ``id`` in the exclude files (teacher-label files, listing files, earlier batches: any rows with ids)."""
    ids: set[str] = set()
    for path in paths:
        ids.update(read_records(path, record_id)[0])
    return ids


def select_file(cfg: DictConfig) -> dict:
    """``scripts/select_batch.py``: read the pool, drop what is labelled, score the rest with the export, pick the batch
    and write it as listing rows (each with its ``selection``) plus ``<output stem>.summary.json``."""
    output = Path(cfg.output)
    pool, report = read_listings(cfg.pool, on_error=cfg.on_error, columns=to_dict(cfg.columns),
                                 rejects_path=output.with_suffix(".rejects.jsonl"))
    done = excluded_ids(path_list(cfg.exclude))
    unlabelled = [x for x in pool if x.id not in done]
    labelled = [x for x in pool if x.id in done]
    pool_ids = {x.id for x in pool}
    counts = {"pool": len(pool), "rejected_rows": report.rejected, "already_labelled": len(labelled),
              "exclude_ids_not_in_pool": len(done - pool_ids), "unlabelled": len(unlabelled)}
    if not unlabelled:
        raise UserError(f"{cfg.pool}: every one of its {len(pool)} listings is already labelled (exclude=...): "
                        "the unlabelled pool is empty")
    if cfg.budget > len(unlabelled):
        raise UserError(f"budget {cfg.budget} is larger than the unlabelled pool: {len(unlabelled)} listings "
                        f"({len(pool)} in {cfg.pool}, {len(labelled)} already labelled)")
    settings = SelectionSettings.model_validate({key: to_dict(cfg[key]) for key in SelectionSettings.model_fields})
    scores = teacher = None
    policy_ids: list[str] = []
    thresholds: list[float] = []
    if STRATEGIES.resolve(settings.strategy).needs_scores:
        if not cfg.export_dir:
            raise UserError(f"strategy={settings.strategy} needs the student: export_dir=...")
        exported = ExportedModel.load(cfg.export_dir, cfg.runtime)
        policy_ids = exported.labels
        thresholds = [exported.manifest["thresholds"][p] for p in policy_ids]
        scores = exported.score(unlabelled, batch_size=int(cfg.batch_size), progress=bool(cfg.progress))
        if cfg.labels:
            labels, _ = read_teacher_labels(cfg.labels, export_policy(exported.manifest, Path(cfg.export_dir)))
            teacher = np.array([labels[x.id].vector(tuple(policy_ids)) if x.id in labels
                                else [np.nan] * len(policy_ids) for x in unlabelled])
            counts["with_teacher_label"] = int((~np.isnan(teacher[:, 0])).sum())
    picks, parts = select_batch(unlabelled, scores, policy_ids, thresholds, settings, labelled=labelled,
                                teacher=teacher)
    write_jsonl(output, ({**unlabelled[p.index].to_dict(), "selection": p.record(rank)}
                         for rank, p in enumerate(picks, start=1)))
    summary = {"output": str(output), "strategy": settings.strategy, "budget": settings.budget,
               "export_dir": cfg.export_dir, **counts, **parts,
               "by_language": dict(Counter(unlabelled[p.index].language for p in picks).most_common()),
               "by_policy": dict(Counter(p.policy for p in picks if p.policy).most_common())}
    output.with_name(output.stem + ".summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
