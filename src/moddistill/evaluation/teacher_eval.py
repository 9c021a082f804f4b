"""Stored teacher labels as a score matrix, so the teacher is judged on the policy cases by the same code
(``evaluate_cases``) and in the same table as a student."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from moddistill.data.policy_cases import PolicyCase
from moddistill.data.records import RowError
from moddistill.teacher.labels import TeacherLabel


def score_matrix_from_labels(labels: Mapping[str, TeacherLabel], cases: Sequence[PolicyCase],
                             policy_ids: Sequence[str]) -> np.ndarray:
    """Per-case violation probabilities in ``policy_ids`` order; a case without a label row is an error."""
    for case in cases:
        if case.id not in labels:
            file, location = case.listing.where()
            raise RowError(file or "<policy cases>", location or f"id {case.id}", "id",
                           f"no teacher label for policy case {case.id!r}")
    return np.array([labels[c.id].vector(tuple(policy_ids)) for c in cases], dtype=float).reshape(len(cases),
                                                                                                   len(policy_ids))
