"""Catch a student that learned nothing before anyone ships it.

A collapsed student scores every listing (almost) the same, or ranks validation listings no better than
chance; its F1-best threshold then flags everything or nothing, and per-policy F1 can still look plausible on a
skewed label space. Checked per policy on the validation split at the end of training: a policy that fails is
reported loudly; the run counts as collapsed (and export refuses it) when at least half of its policies fail.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from moddistill.errors import UserError

MIN_SPREAD = 0.02  # std of a policy's validation scores below this: the scores carry no information
MIN_AUC = 0.6  # ranking positives above negatives no better than this: no better than the label prior


class CollapsedStudentError(UserError):
    """Refusing to export (or otherwise ship) a run whose student collapsed."""


def detect_collapse(y_true: np.ndarray, scores: np.ndarray, policy_ids: Sequence[str]) -> dict:
    """Per policy: score spread and ROC-AUC on validation (AUC only where the validation split has both classes);
    ``collapsed`` when at least half of the policies fail either check."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    policies = {}
    for i, pid in enumerate(policy_ids):
        spread = float(scores[:, i].std())
        both = 0 < y_true[:, i].sum() < len(y_true)
        auc = float(roc_auc_score(y_true[:, i], scores[:, i])) if both else None
        reasons = []
        if spread < MIN_SPREAD:
            reasons.append(f"scores barely vary (std {spread:.4f} < {MIN_SPREAD})")
        if auc is not None and auc < MIN_AUC:
            reasons.append(f"ranks validation listings no better than chance (ROC-AUC {auc:.3f} < {MIN_AUC})")
        policies[pid] = {"score_std": round(spread, 5), "roc_auc": None if auc is None else round(auc, 4),
                         "collapsed": bool(reasons), "reasons": reasons}
    failed = [p for p, v in policies.items() if v["collapsed"]]
    return {"collapsed": 2 * len(failed) >= len(policies), "failed_policies": failed, "policies": policies,
            "checks": {"min_score_std": MIN_SPREAD, "min_roc_auc": MIN_AUC}}


def collapse_message(collapse: dict) -> str:
    details = "; ".join(f"{p}: {', '.join(collapse['policies'][p]['reasons'])}" for p in collapse["failed_policies"])
    head = (f"{len(collapse['failed_policies'])} of {len(collapse['policies'])} policies learned nothing usable "
            f"on validation ({details})")
    if collapse["collapsed"]:
        return f"COLLAPSED STUDENT: {head}. Do not ship this run; export refuses it unless allow_collapsed=true."
    return f"WEAK POLICIES: {head}."
