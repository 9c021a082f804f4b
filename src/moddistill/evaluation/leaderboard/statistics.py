"""The leaderboard's statistics: bootstrap intervals on macro-F1 and paired differences (both runs scored on the same
resampled cases), which tell whether a student beats a baseline far better than two overlapping intervals can."""

from __future__ import annotations

import numpy as np

from moddistill.metrics.classification import f1_from_counts

CONFIDENCE = 0.95


def bootstrap_macro_f1_samples(y_true: np.ndarray, y_preds: list[np.ndarray], *, resamples: int = 1000,
                               seed: int = 0) -> np.ndarray:
    """Macro-F1 of each of ``y_preds`` on ``resamples`` draws of the cases with replacement: (resamples, len(y_preds)).

    Each resample is a vector of how often each case was drawn, so the per-policy counts are one matrix
    product; every prediction is scored on the same draws (a paired comparison). With the same seed and the
    same number of cases every call gets the same draws.
    """
    t = np.asarray(y_true, dtype=bool)
    n = len(t)
    if n == 0 or resamples <= 0:
        return np.full((0, len(y_preds)), np.nan)
    hits = [[x.astype(float) for x in (t & p, ~t & p, t & ~p)]  # (n, k) each: tp, fp, fn per case
            for p in (np.asarray(y, dtype=bool) for y in y_preds)]
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)
    macro = []
    for start in range(0, resamples, chunk):
        draws = rng.multinomial(n, np.full(n, 1 / n), size=min(chunk, resamples - start))  # (b, n)
        macro.append(np.stack([f1_from_counts(*(draws @ h for h in counts)).mean(axis=1) for counts in hits], axis=1))
    return np.concatenate(macro)


def bootstrap_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, *, resamples: int = 1000, seed: int = 0,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of macro-F1 over ``resamples`` draws of the cases with replacement."""
    return _percentiles(bootstrap_macro_f1_samples(y_true, [y_pred], resamples=resamples, seed=seed)[:, 0],
                        confidence)


def paired_macro_f1_difference(y_true: np.ndarray, y_pred: np.ndarray, reference: np.ndarray, *,
                               resamples: int = 1000, seed: int = 0,
                               confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of macro-F1(y_pred) - macro-F1(reference), both scored on the same draws of the
    cases: the errors two models share cancel, so the interval is much narrower than either model's own."""
    samples = bootstrap_macro_f1_samples(y_true, [y_pred, reference], resamples=resamples, seed=seed)
    return _percentiles(samples[:, 0] - samples[:, 1], confidence)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
