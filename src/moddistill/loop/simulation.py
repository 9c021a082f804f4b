"""Does choosing what to label pay? A replay of the closed loop on listings whose teacher labels are all known.

Start with a random share of the listings labelled; then, round after round, train a student on what is labelled,
let it choose the next batch from the rest (``selection.select_batch``), "label" the batch by revealing its stored
teacher labels, and train again. Every strategy starts from the same labelled set and trains with the same recipe
and seed, and every round's student (and a TF-IDF baseline on the same rows) is scored on the policy cases, so the
curves of macro-F1 against labels used compare like with like. A killed simulation resumes: finished rounds are
read back, an unfinished one is trained again (no labels are paid for: they are replayed).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from omegaconf import DictConfig

from moddistill.config import policy_from_cfg
from moddistill.data.listings import Listing, read_listings
from moddistill.data.policy import Policy
from moddistill.data.records import write_jsonl
from moddistill.errors import UserError
from moddistill.evaluation.evaluate import evaluate_checkpoint
from moddistill.evaluation.report import LOOKALIKE_TAG
from moddistill.evaluation.scorer import score_run
from moddistill.loop.selection import select_batch
from moddistill.loop.settings import SELECTION_STRATEGIES as STRATEGIES
from moddistill.loop.settings import LoopSimSettings, SelectionSettings
from moddistill.plotting import pyplot
from moddistill.runs.run import Run
from moddistill.teacher.labels import read_teacher_labels

log = logging.getLogger(__name__)
Compose = Callable[[str, list], DictConfig]  # hydra.compose(config_name, overrides)
RESULTS_FILE = "loop_sim.json"


@dataclass
class RoundResult:
    strategy: str
    round: int
    labels: int
    macro_f1: float
    decision_accuracy: float
    lookalike_false_reject: float | None
    baseline_macro_f1: float | None
    train_seconds: float
    run_dir: str


def simulate(settings: LoopSimSettings, compose: Compose) -> list[RoundResult]:
    """Run (or resume) the simulation into ``settings.output_dir``; ``compose`` builds the train and baseline
    configs (``hydra.compose``), so every round trains exactly as ``scripts/train.py`` would."""
    unknown = [s for s in settings.strategies if s not in ("uncertainty", "random")]
    if unknown or not settings.strategies:
        raise UserError(f"strategies: the simulation compares 'uncertainty' and 'random', got {list(settings.strategies)}")
    policy = policy_from_cfg(compose("train", [f"experiment={settings.experiment}", *settings.train_overrides]))
    listings, _ = read_listings(settings.listings)
    labels, _ = read_teacher_labels(settings.labels, policy)
    missing = [x.id for x in listings if x.id not in labels]
    if missing:
        raise UserError(f"{settings.labels} has no label for {len(missing)} of the {len(listings)} listings (e.g. "
                        f"{missing[0]}): the simulation reveals stored labels, so every listing needs one")
    n = len(listings)
    start, budget = int(round(settings.start_fraction * n)), int(round(settings.round_fraction * n))
    if start < 1 or budget < 1 or start + settings.rounds * budget > n:
        raise UserError(f"start {start} + {settings.rounds} rounds x {budget} labels does not fit in {n} listings")
    rng = np.random.default_rng(settings.seed)
    initial = sorted(rng.choice(n, size=start, replace=False).tolist())
    out = Path(settings.output_dir)
    first = _round(settings, compose, out / "start", listings, labels, initial, "start", 0)
    results = []
    for strategy in settings.strategies:
        labelled, previous = list(initial), first
        results.append(RoundResult(**{**asdict(first), "strategy": strategy}))
        for r in range(1, settings.rounds + 1):
            round_dir = out / strategy / f"round_{r}"
            chosen = _read_chosen(round_dir, listings)
            if chosen is None:
                chosen = _choose(settings, strategy, r, Run.open(previous.run_dir), listings, labelled, budget, policy)
                round_dir.mkdir(parents=True, exist_ok=True)
                (round_dir / "chosen.json").write_text(json.dumps([listings[i].id for i in chosen]), encoding="utf-8")
            labelled = labelled + chosen
            previous = _round(settings, compose, round_dir, listings, labels, labelled, strategy, r)
            results.append(previous)
    write_results(out, settings, results)
    return results


def _choose(settings: LoopSimSettings, strategy: str, r: int, run: Run, listings: list[Listing], labelled: list[int],
            budget: int, policy: Policy) -> list[int]:
    taken = set(labelled)
    pool_idx = [i for i in range(len(listings)) if i not in taken]
    pool = [listings[i] for i in pool_idx]
    scores = None
    if STRATEGIES.resolve(strategy).needs_scores:
        scores = score_run(run, pool, desc=f"{strategy} round {r}: scoring the pool")
    thresholds = [run.thresholds[p] for p in policy.ids]
    picks, _ = select_batch(pool, scores, policy.ids, thresholds,
                            SelectionSettings(budget=budget, strategy=strategy, diversity=settings.diversity,
                                              max_similarity=settings.max_similarity,
                                              max_share=settings.max_share, seed=settings.seed + r),
                            labelled=[listings[i] for i in labelled])
    return [pool_idx[p.index] for p in picks]


def _read_chosen(round_dir: Path, listings: list[Listing]) -> list[int] | None:
    """The batch an interrupted simulation had already chosen for this round (its file is written first)."""
    path = round_dir / "chosen.json"
    if not path.exists():
        return None
    index = {x.id: i for i, x in enumerate(listings)}
    return [index[i] for i in json.loads(path.read_text(encoding="utf-8"))]


def _round(settings: LoopSimSettings, compose: Compose, round_dir: Path, listings: list[Listing], labels: dict,
           labelled: Sequence[int], strategy: str, r: int) -> RoundResult:
    """Train and score a student (and a baseline) on the labelled listings, unless a finished round is on disk."""
    done = round_dir / "result.json"
    if done.exists():
        return RoundResult(**json.loads(done.read_text(encoding="utf-8")))
    student_dir, baseline_dir = round_dir / "student", round_dir / "baseline"
    for d in (student_dir, baseline_dir):
        shutil.rmtree(d, ignore_errors=True)  # an unfinished round is trained again
    rows = [listings[i] for i in labelled]
    listings_file, labels_file = round_dir / "listings.jsonl", round_dir / "labels.jsonl"
    write_jsonl(listings_file, (x.to_dict() for x in rows))
    write_jsonl(labels_file, (labels[x.id].to_dict() for x in rows))
    # exactly the listings the loop has labelled: the sample's policy examples and contrast set (and with them the
    # look-alike cap) stay out of every round, so the curve measures the labels chosen and nothing else
    data = [f"data.listings={listings_file}", f"teacher.labels={labels_file}", f"data.policy_cases={settings.policy_cases}",
            "data.policy_examples.weight=0", "data.contrast=[]", "max_false_reject=null"]
    log.info("%s round %d: training on %d labelled listings", strategy, r, len(rows))
    from moddistill.distill.train import train

    train_cfg = compose("train", [f"experiment={settings.experiment}", *data, f"output_dir={student_dir}",
                                  *settings.train_overrides])
    started = time.perf_counter()
    train(train_cfg)
    seconds = time.perf_counter() - started
    student, _ = evaluate_checkpoint(student_dir, policy_cases=settings.policy_cases)
    baseline_f1 = None
    if settings.baseline:
        from moddistill.baselines.train import train_baseline

        # the student's own data settings and seed: the baseline trains and picks thresholds on the same rows
        baseline_cfg = compose("baseline", [f"output_dir={baseline_dir}"])
        baseline_cfg.data, baseline_cfg.seed = train_cfg.data, train_cfg.seed
        baseline_cfg.teacher, baseline_cfg.threshold_strategy = train_cfg.teacher, train_cfg.threshold_strategy
        baseline_cfg.max_false_reject = train_cfg.get("max_false_reject")
        train_baseline(baseline_cfg)
        baseline_f1 = evaluate_checkpoint(baseline_dir, policy_cases=settings.policy_cases)[0]["macro_f1"]
    lookalike = student.get("false_reject", {}).get(LOOKALIKE_TAG, {}).get("rate")
    result = RoundResult(strategy, r, len(rows), student["macro_f1"], student["decision_accuracy"], lookalike,
                         baseline_f1, round(seconds, 1), str(student_dir))
    log.info("%s round %d: %d labels, student macro-F1 %.3f (baseline %s)", strategy, r, len(rows), result.macro_f1,
             "-" if baseline_f1 is None else f"{baseline_f1:.3f}")
    done.write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    return result


def summarize(results: Sequence[RoundResult]) -> dict:
    """Each strategy's final figures, and the issue's question: with what share of random's labels does the
    chosen strategy first reach random's final macro-F1?"""
    by = {}
    for r in results:
        by.setdefault(r.strategy, []).append(r)
    summary = {"final": {s: {"labels": rs[-1].labels, "macro_f1": rs[-1].macro_f1,
                             "baseline_macro_f1": rs[-1].baseline_macro_f1} for s, rs in by.items()}}
    if "random" in by:
        target = by["random"][-1]
        for strategy, rs in by.items():
            if strategy == "random":
                continue
            hit = next((r for r in rs if r.macro_f1 >= target.macro_f1), None)
            summary.setdefault("reaches_random_final", {})[strategy] = {
                "random_final_macro_f1": target.macro_f1, "random_labels": target.labels,
                "labels": hit.labels if hit else None,
                "share_of_random_labels": round(hit.labels / target.labels, 3) if hit else None}
    return summary


def write_results(out: Path, settings: LoopSimSettings, results: Sequence[RoundResult]) -> None:
    summary = summarize(results)
    (out / RESULTS_FILE).write_text(json.dumps({"settings": settings.model_dump(), "rounds": [asdict(r) for r in results],
                                                "summary": summary}, indent=2), encoding="utf-8")
    (out / "loop_sim.md").write_text(results_table(results, summary), encoding="utf-8")
    curve_plot(results, out / "loop_sim.png")


def results_table(results: Sequence[RoundResult], summary: dict) -> str:
    lines = ["| strategy | round | labels | student macro-F1 | baseline macro-F1 (same rows) | decision acc. | "
             "look-alikes rejected | training s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.strategy} | {r.round} | {r.labels} | {r.macro_f1:.3f} | "
                     f"{'-' if r.baseline_macro_f1 is None else f'{r.baseline_macro_f1:.3f}'} | "
                     f"{r.decision_accuracy:.3f} | {'-' if r.lookalike_false_reject is None else f'{r.lookalike_false_reject:.1%}'} | "
                     f"{r.train_seconds:.0f} |")
    for strategy, hit in summary.get("reaches_random_final", {}).items():
        lines.append("")
        if hit["labels"] is None:
            lines.append(f"{strategy} never reaches random's final macro-F1 ({hit['random_final_macro_f1']:.3f} with "
                         f"{hit['random_labels']} labels).")
        else:
            lines.append(f"{strategy} reaches random's final macro-F1 ({hit['random_final_macro_f1']:.3f} with "
                         f"{hit['random_labels']} labels) with {hit['labels']} labels: "
                         f"{hit['share_of_random_labels']:.0%} of random's.")
    return "\n".join(lines) + "\n"


def curve_plot(results: Sequence[RoundResult], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, strategy in enumerate(dict.fromkeys(r.strategy for r in results)):
        rs = [r for r in results if r.strategy == strategy]
        color = f"C{i}"
        ax.plot([r.labels for r in rs], [r.macro_f1 for r in rs], "o-", color=color, label=f"student, {strategy}")
        if all(r.baseline_macro_f1 is not None for r in rs):
            ax.plot([r.labels for r in rs], [r.baseline_macro_f1 for r in rs], "s--", color=color, alpha=0.6,
                    label=f"TF-IDF baseline, {strategy}")
    random_final = [r for r in results if r.strategy == "random"][-1:]
    if random_final:
        ax.axhline(random_final[0].macro_f1, ls=":", color="gray", label="student, random's final")
    ax.set_xlabel("teacher labels used")
    ax.set_ylabel("policy-case macro-F1")
    ax.set_title("Closed-loop simulation: macro-F1 against labels")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
