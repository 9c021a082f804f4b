"""Stored teacher labels scored on the policy cases like a student."""

import pytest

from moddistill.data.policy_cases import read_policy_cases
from moddistill.data.records import RowError
from moddistill.evaluation.report import evaluate_cases
from moddistill.evaluation.teacher_eval import score_matrix_from_labels
from moddistill.teacher.labels import TeacherLabel
from tests.conftest import POLICY_CASES


def test_score_matrix_is_in_case_and_policy_order_and_scores_like_a_student(policy):
    cases, _ = read_policy_cases(POLICY_CASES, policy)
    cases = cases[:40]
    labels = {c.id: TeacherLabel(c.id, {p: float(p in c.expected) for p in policy.ids}) for c in cases}
    scores = score_matrix_from_labels(labels, cases, policy.ids)
    assert scores.shape == (40, len(policy.ids))
    assert scores[0, policy.ids.index(cases[0].expected[0])] == 1.0
    result = evaluate_cases(cases, scores, policy.ids, {p: 0.5 for p in policy.ids})
    assert result["micro_f1"] == pytest.approx(1.0) and result["decision_accuracy"] == pytest.approx(1.0)


def test_a_case_without_a_label_row_is_an_error_naming_it(policy):
    cases, _ = read_policy_cases(POLICY_CASES, policy)
    labels = {c.id: TeacherLabel(c.id, {p: 0.0 for p in policy.ids}) for c in cases[:3]}
    with pytest.raises(RowError, match=f"no teacher label for policy case '{cases[3].id}'"):
        score_matrix_from_labels(labels, cases[:5], policy.ids)
