"""Threshold selection on validation data: global and per-policy strategies on hand-built score matrices."""

import numpy as np
import pytest

from moddistill.evaluation.thresholds import select_thresholds


def test_global_threshold_is_the_best_shared_value_for_validation_macro_f1():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [0, 0], [0, 1]])
    s = np.array([[0.30, 0.1], [0.35, 0.2], [0.1, 0.32], [0.2, 0.1], [0.25, 0.05], [0.1, 0.4]])
    # every positive scores >= 0.30 and every negative <= 0.25: any value in (0.25, 0.30] is perfect; the lowest wins
    t = select_thresholds(y, s, ["a", "b"], strategy="global")
    assert t == {"a": pytest.approx(0.26), "b": pytest.approx(0.26)}


def test_per_policy_thresholds_are_each_policys_f1_best():
    y = np.array([[1, 0], [1, 1], [1, 1], [0, 1], [0, 0], [0, 0]])
    s = np.array([[0.9, 0.2], [0.8, 0.6], [0.7, 0.7], [0.2, 0.65], [0.1, 0.3], [0.3, 0.1]])
    t = select_thresholds(y, s, ["a", "b"], strategy="per_policy")
    assert t == {"a": pytest.approx(0.7), "b": pytest.approx(0.6)}
    few = select_thresholds(np.array([[1], [0], [0]]), np.array([[0.9], [0.1], [0.2]]), ["a"], strategy="per_policy")
    assert few == {"a": 0.5}  # one positive: too few to tune on


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="global"):
        select_thresholds(np.zeros((2, 1)), np.zeros((2, 1)), ["a"], strategy="best")
