"""Score a training run's student on the held-out policy cases and write metrics.json + report.md."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from moddistill.distill.checkpoint import Run
from moddistill.evaluation.policy_cases import read_policy_cases
from moddistill.evaluation.report import evaluate_cases, markdown_report
from moddistill.listings import render_listing
from moddistill.scoring import score_texts

log = logging.getLogger(__name__)


def resolve_thresholds(run: Run, thresholds: str | float) -> dict[str, float]:
    """"validation": the run's thresholds chosen on its validation split; a number: that for every policy."""
    if thresholds == "validation":
        return dict(run.thresholds)
    try:
        value = float(thresholds)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must be 'validation' or a number, got {thresholds!r}") from None
    return {p: value for p in run.policy.ids}


def evaluate_checkpoint(
    checkpoint: str | Path, *, policy_cases: str | Path | None = None, thresholds: str | float = "validation",
    batch_size: int = 64, output_dir: str | Path | None = None,
) -> tuple[dict, Path]:
    run = Run.open(checkpoint)
    cases_path = Path(policy_cases or run.cfg.data.policy_cases)
    cases, _ = read_policy_cases(cases_path, run.policy)
    model, tokenizer = run.load_student()
    scores = score_texts(model, tokenizer, [render_listing(c.listing) for c in cases], max_length=run.max_length,
                         batch_size=batch_size, desc="policy cases")
    result = evaluate_cases(cases, scores, run.policy.ids, resolve_thresholds(run, thresholds))
    result["checkpoint"] = str(run.dir)
    result["policy_cases"] = str(cases_path)
    out = Path(output_dir) if output_dir else run.dir / "eval" / cases_path.stem
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "report.md").write_text(
        markdown_report(result, f"{run.cfg.experiment} / {run.dir.name} on {cases_path.name}"), encoding="utf-8")
    return result, out
