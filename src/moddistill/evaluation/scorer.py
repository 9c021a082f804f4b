"""Scores from any finished run, a student or a baseline: what evaluation and the loop simulation score cases with."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from moddistill.data.listings import Listing, render_listing
from moddistill.runs.run import BASELINE_FILE, Run


def score_run(run: Run, listings: Sequence[Listing], *, batch_size: int = 64, desc: str = "scoring") -> np.ndarray:
    """Per-policy probabilities for listings, rendered as the run was trained on them, whatever kind of model
    the run holds."""
    texts = [render_listing(x, run.render_version) for x in listings]
    if run.kind == "baseline":
        from moddistill.baselines.train import load_baseline

        return load_baseline(run.dir / BASELINE_FILE).predict_proba(texts)
    from moddistill.distill.inference import score_texts
    from moddistill.distill.restore import load_student

    model, tokenizer = load_student(run)
    return score_texts(model, tokenizer, texts, max_length=run.max_length, batch_size=batch_size, desc=desc)
