"""Threshold rules re-applied to finished runs (evaluation/rescore.py, scripts/benchmark_thresholds.py)."""

import json

import pytest

from moddistill.evaluation.rescore import rescore_run, rescore_table
from moddistill.metrics.thresholds import ThresholdRule


def test_rescoring_a_run_under_its_own_rule_gives_its_own_evaluation(tiny_run):
    evaluated = json.loads((tiny_run / "eval" / "cases" / "metrics.json").read_text())
    own = rescore_run(tiny_run, ThresholdRule.parse("global"), cases="cases")
    assert own["macro_f1"] == pytest.approx(evaluated["macro_f1"])
    assert own["decision_accuracy"] == pytest.approx(evaluated["decision_accuracy"])
    (row,) = rescore_table([tiny_run], ["global"], cases="cases")
    assert row["runs"] == 1 and row["macro_f1"] == pytest.approx(evaluated["macro_f1"])

