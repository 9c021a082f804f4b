"""Score a student checkpoint, or a teacher's stored labels, on the held-out policy cases.

Both go through the same `evaluate_cases` and write the same metrics.json + report.md (+ case_scores.jsonl,
one row per case, which the leaderboard resamples), so a prompt designer reads the teacher and the student
in one table format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from moddistill.data.policy import Policy
from moddistill.data.policy_cases import PolicyCase, read_policy_cases
from moddistill.data.records import write_jsonl
from moddistill.evaluation.report import (
    CASE_SCORES_FILE,
    REPORT_FILE,
    evaluate_cases,
    markdown_report,
)
from moddistill.evaluation.scorer import score_run
from moddistill.runs.run import EVAL_DIR, METRICS_FILE, Run

TEACHER_THRESHOLD = 0.5


def resolve_thresholds(policy_ids, validation: dict[str, float] | None, thresholds: str | float) -> dict[str, float]:
    """"validation": the thresholds chosen on validation data (0.5 where there are none, as for a teacher's
    probabilities); a number: that for every policy."""
    if thresholds == "validation":
        return dict(validation) if validation else {p: TEACHER_THRESHOLD for p in policy_ids}
    try:
        value = float(thresholds)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be 'validation' or a number, got {thresholds!r}") from None
    return {p: value for p in policy_ids}


def evaluate_checkpoint(
    checkpoint: str | Path, *, policy_cases: str | Path | None = None, thresholds: str | float = "validation",
    batch_size: int = 64, output_dir: str | Path | None = None,
) -> tuple[dict, Path]:
    run = Run.open(checkpoint)
    cases_path = Path(policy_cases or run.cfg.data.policy_cases)
    cases, _ = read_policy_cases(cases_path, run.policy)
    started = time.perf_counter()
    scores = score_run(run, [c.listing for c in cases], batch_size=batch_size, desc="policy cases")
    seconds = time.perf_counter() - started
    result = evaluate_cases(cases, scores, run.policy.ids, resolve_thresholds(run.policy.ids, run.thresholds, thresholds))
    result["checkpoint"] = str(run.dir)
    result["kind"] = run.kind
    if "collapse" in run.metrics:
        result["collapse"] = run.metrics["collapse"]
    result["scoring"] = _scoring_speed(len(cases), seconds, batch_size)
    out = Path(output_dir) if output_dir else run.dir / EVAL_DIR / cases_path.stem
    return _write(result, cases, scores, cases_path, out, f"{run.cfg.experiment} / {run.dir.name}"), out


def evaluate_and_print(run_dir: str | Path) -> float:
    """Score a just-trained run (student or baseline) on its policy cases and print the headline; returns
    macro-F1, what a sweep optimises."""
    result, out = evaluate_checkpoint(run_dir)
    print(f"policy cases: macro-F1 {result['macro_f1']:.3f}, decision accuracy {result['decision_accuracy']:.3f} "
          f"on {result['n']} cases; report in {out}/report.md")
    return result["macro_f1"]


def evaluate_teacher_labels(
    labels_path: str | Path, policy: Policy, *, policy_cases: str | Path | None = None,
    thresholds: str | float = "validation", output_dir: str | Path | None = None,
) -> tuple[dict, Path]:
    from moddistill.evaluation.teacher_eval import score_matrix_from_labels
    from moddistill.teacher.labels import read_teacher_labels

    cases_path = Path(policy_cases or Path("data/policy_cases") / f"{policy.id}.jsonl")
    cases, _ = read_policy_cases(cases_path, policy)
    labels, _ = read_teacher_labels(labels_path, policy)
    scores = score_matrix_from_labels(labels, cases, policy.ids)
    result = evaluate_cases(cases, scores, policy.ids, resolve_thresholds(policy.ids, None, thresholds))
    result["teacher_labels"] = str(labels_path)
    result["teacher"] = _teacher_provenance(labels, cases)
    stem = Path(labels_path).stem
    out = Path(output_dir) if output_dir else Path("checkpoints") / "teachers" / stem / EVAL_DIR / cases_path.stem
    return _write(result, cases, scores, cases_path, out, f"teacher {stem}"), out


def _teacher_provenance(labels, cases: list[PolicyCase]) -> dict:
    first = labels.get(cases[0].id) if cases else None
    return dict(first.provenance) if first else {}


def _scoring_speed(n: int, seconds: float, batch_size: int) -> dict:
    """Wall time of loading the model and scoring the cases, and listings per second over it."""
    return {"listings": n, "seconds": round(seconds, 3), "batch_size": batch_size,
            "listings_per_second": round(n / seconds, 2) if seconds > 0 else None, "includes_model_load": True}


def case_score_rows(cases: list[PolicyCase], scores: np.ndarray, thresholds: dict[str, float]) -> list[dict]:
    """One row per case, in case order: what was expected, every policy's score, and what was flagged."""
    ids = list(thresholds)
    return [{"id": c.id, "expected": list(c.expected),
             "scores": {p: float(v) for p, v in zip(ids, row)},
             "flagged": [p for p, v in zip(ids, row) if v >= thresholds[p]],
             "language": c.listing.language, "kind": c.kind, "tags": list(c.tags)}
            for c, row in zip(cases, np.asarray(scores, dtype=float))]


def _write(result: dict, cases: list[PolicyCase], scores: np.ndarray, cases_path: Path, out: Path, title: str) -> dict:
    result["policy_cases"] = str(cases_path)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / CASE_SCORES_FILE, case_score_rows(cases, scores, result["thresholds"]))
    (out / METRICS_FILE).write_text(json.dumps(result, indent=2, default=_json_default), encoding="utf-8")
    (out / REPORT_FILE).write_text(markdown_report(result, f"{title} on {cases_path.name}"), encoding="utf-8")
    return result


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    return str(x)
