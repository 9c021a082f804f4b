"""Metrics counted by hand: per-policy figures are about the positive class of each policy, for one policy
as for twelve; calibration (Brier, ECE); slices, look-alike false rejects on the real policy cases."""

import numpy as np
import pytest

from moddistill.data.policy_cases import read_policy_cases
from moddistill.evaluation.report import evaluate_cases, markdown_report, markdown_summary
from moddistill.metrics.classification import calibration, multilabel_metrics
from tests.conftest import POLICY_CASES


def test_one_policy_is_counted_on_its_positive_class():
    # 3 violations; flagged: two of them and one allowed listing
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]).reshape(-1, 1)
    y_pred = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0]).reshape(-1, 1)
    m = multilabel_metrics(y_true, y_pred, ["weapons"])
    # by hand: TP 2, FP 1, FN 1 -> precision 2/3, recall 2/3, F1 2/3, support 3, flagged 3.
    # (the negative class would read precision 6/7, recall 6/7, support 7)
    assert m["per_policy"]["weapons"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3, "predicted": 3})
    # macro-F1 is the one policy's F1, not the mean of both classes ((2/3 + 6/7) / 2)
    assert m["macro_f1"] == pytest.approx(2 / 3) and m["micro_f1"] == pytest.approx(2 / 3)
    assert m["decision_accuracy"] == pytest.approx(8 / 10)
    assert m["n"] == 10
    # a 1-D column is the same single policy
    assert multilabel_metrics(y_true.ravel(), y_pred.ravel(), ["weapons"]) == m


def test_one_policy_where_the_negative_class_is_perfect_and_the_positive_is_not():
    # nothing violates and one listing is flagged: the negative class has recall 0.9, the policy has F1 0
    y_true = np.zeros((10, 1), dtype=int)
    y_pred = np.array([1] + [0] * 9).reshape(-1, 1)
    m = multilabel_metrics(y_true, y_pred, ["drugs"])
    assert m["per_policy"]["drugs"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 1}
    assert m["macro_f1"] == 0.0 and m["micro_f1"] == 0.0


def test_two_policies_by_hand():
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [0, 0]])
    y_pred = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [1, 0]])
    m = multilabel_metrics(y_true, y_pred, ["weapons", "drugs"])
    # weapons: true 1,1,0,0,0 / flagged 1,0,0,0,1 -> TP 1, FP 1, FN 1
    assert m["per_policy"]["weapons"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2})
    # drugs: true 0,1,1,0,0 / flagged 0,1,0,0,0 -> TP 1, FP 0, FN 1
    assert m["per_policy"]["drugs"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "predicted": 1})
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    # micro over the 10 (listing, policy) pairs: TP 2, FP 1, FN 2 -> 4 / 7
    assert m["micro_f1"] == pytest.approx(4 / 7)
    # any-flag decision: true 1,1,1,0,0 / flagged 1,1,0,0,1
    assert m["decision_accuracy"] == pytest.approx(3 / 5)


def test_many_policies_agree_with_scikit_learn_multilabel():
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.random((200, 12)) < 0.15, rng.random((200, 12)) < 0.2
    y_true[:, 3] = False  # a policy without positives
    ids = [f"p{i}" for i in range(12)]
    m = multilabel_metrics(y_true, y_pred, ids)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    assert [m["per_policy"][p]["f1"] for p in ids] == pytest.approx(list(f1))
    assert [m["per_policy"][p]["precision"] for p in ids] == pytest.approx(list(precision))
    assert [m["per_policy"][p]["support"] for p in ids] == list(support)
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro", zero_division=0))


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        multilabel_metrics(np.zeros((4, 3)), np.zeros((4, 3)), ["a", "b"])


def test_calibration_by_hand():
    y = np.array([[1, 0], [0, 0]])
    s = np.array([[0.9, 0.25], [0.95, 0.05]])
    cal = calibration(y, s)
    # Brier: (0.1^2 + 0.25^2 + 0.95^2 + 0.05^2) / 4
    assert cal["brier"] == pytest.approx((0.01 + 0.0625 + 0.9025 + 0.0025) / 4)
    # bins: [0.9, 1.0] holds 0.9 (y 1) and 0.95 (y 0): |0.5 - 0.925| with weight 2/4;
    #       [0.2, 0.3) holds 0.25 (y 0): 0.25 with weight 1/4; [0.0, 0.1) holds 0.05 (y 0): 0.05 with weight 1/4
    assert cal["ece"] == pytest.approx(2 / 4 * 0.425 + 1 / 4 * 0.25 + 1 / 4 * 0.05)
    assert cal["pairs"] == 4 and [b["pairs"] for b in cal["reliability"]] == [1, 1, 2]
    assert cal["reliability"][-1] == pytest.approx(
        {"low": 0.9, "high": 1.0, "pairs": 2, "mean_score": 0.925, "violation_rate": 0.5})


def test_calibration_of_certain_right_scores_is_perfect_and_1_falls_in_the_last_bin():
    cal = calibration(np.array([[1], [0]]), np.array([[1.0], [0.0]]))
    assert cal["brier"] == 0.0 and cal["ece"] == 0.0
    assert [(b["low"], b["pairs"]) for b in cal["reliability"]] == [(0.0, 1), (0.9, 1)]


@pytest.fixture(scope="module")
def cases(policy):
    return read_policy_cases(POLICY_CASES, policy)[0]


def test_evaluate_cases_on_exact_scores(cases, policy):
    ids = list(policy.ids)
    truth = np.array([[float(p in c.expected) for p in ids] for c in cases])
    result = evaluate_cases(cases, truth, ids, {p: 0.5 for p in ids})
    assert result["macro_f1"] == 1.0 and result["calibration"]["brier"] == 0.0 and result["calibration"]["ece"] == 0.0
    assert all(m["macro_f1"] == 1.0 for m in result["slices"]["language"].values())
    look = result["false_reject"]["lookalike"]
    assert look["n"] == sum(1 for c in cases if "lookalike" in c.tags and not c.expected) > 0 and look["rate"] == 0.0
    # allowed look-alikes have no policy to score: their slice macro-F1 is undefined, not 0
    assert np.isnan(result["slices"]["tag"]["lookalike"]["macro_f1"])
    report = markdown_report(result, "exact")
    assert "| language | n | macro-F1 |" in report and "Brier 0.000" in report and "## Calibration" in report
    assert "## By" not in markdown_summary(result) and "## Per policy" in markdown_summary(result)


def test_evaluate_cases_flagging_everything(cases, policy):
    ids = list(policy.ids)
    result = evaluate_cases(cases, np.ones((len(cases), len(ids))), ids, {p: 0.5 for p in ids})
    assert result["false_reject"]["lookalike"]["rate"] == 1.0 and result["false_reject"]["allowed"]["rate"] == 1.0
    allowed = sum(1 for c in cases if not c.expected)
    assert result["calibration"]["brier"] == pytest.approx(1 - sum(len(c.expected) for c in cases) / (len(cases) * 12))
    assert result["false_reject"]["allowed"]["n"] == allowed


def test_one_policy_label_space_on_the_policy_cases(cases):
    # the suite seen through a label space of one policy (dir cases about other policies left out)
    cases = [c for c in cases if c.direction is None or c.direction[0] == "weapons"]
    truth = np.array([[float("weapons" in c.expected)] for c in cases])
    scores = truth.copy()
    scores[np.flatnonzero(truth[:, 0])[0], 0] = 0.0  # miss one weapons case
    result = evaluate_cases(cases, scores, ["weapons"], {"weapons": 0.5})
    support = int(truth.sum())
    assert result["per_policy"]["weapons"]["support"] == support
    assert result["per_policy"]["weapons"]["recall"] == pytest.approx((support - 1) / support)
    assert result["per_policy"]["weapons"]["precision"] == 1.0
    assert result["macro_f1"] == pytest.approx(result["per_policy"]["weapons"]["f1"])
    assert set(result["per_policy"]) == {"weapons"} and result["calibration"]["pairs"] == len(cases)


def _case(cid, expected=(), kind="mft", variant_of=None, direction=None, tags=(), language="en"):
    from moddistill.data.listings import Listing
    from moddistill.data.policy_cases import PolicyCase

    listing = Listing(id=cid, title=f"title {cid}", description="", category="c", price=1.0, currency="USD",
                      market="US", language=language)
    return PolicyCase(listing, tuple(expected), None, kind, variant_of, direction, tuple(tags))


def test_evaluation_semantics_on_a_hand_built_suite():
    """Exact failed ids for invariance and direction, the error list, slices and look-alike false rejects."""
    ids = ["a", "b"]
    cases = [
        _case("m1", ["a"]),                                            # flagged a: right
        _case("m2", ["b"], language="th"),                             # b missed: an error
        _case("l1", tags=["lookalike"]),                               # allowed, flagged a: false reject
        _case("l2", tags=["lookalike"], language="th"),                # allowed, clean
        _case("i1", ["a"], kind="inv", variant_of="m1"),               # same decision as m1: consistent
        _case("i2", ["b"], kind="inv", variant_of="m2"),               # flagged b unlike m2: inconsistent
        _case("d1", kind="dir", variant_of="m1", direction=("a", "down")),  # a 0.9 -> 0.2: passed
        _case("d2", kind="dir", variant_of="m2", direction=("b", "up")),    # b 0.3 -> 0.1: failed
        _case("d3", kind="dir", variant_of="m2", direction=("b", "up")),    # b 0.3 -> 0.35: passed
        _case("d4", kind="dir", variant_of="m2", direction=("b", "up")),    # b 0.3 -> 0.3: failed (no move)
        _case("d5", kind="dir", variant_of="m1", direction=("a", "down")),  # a 0.9 -> 0.9: failed (no move)
        _case("d6", kind="dir", variant_of="l2", direction=("a", "down")),  # a 0.2 -> 0.4: failed
    ]
    scores = np.array([[0.9, 0.1], [0.1, 0.3], [0.7, 0.1], [0.2, 0.2],
                       [0.8, 0.1], [0.1, 0.6], [0.2, 0.1], [0.1, 0.1],
                       [0.1, 0.35], [0.1, 0.3], [0.9, 0.1], [0.4, 0.1]])
    result = evaluate_cases(cases, scores, ids, {"a": 0.5, "b": 0.5})
    assert result["invariance"] == {"n": 2, "consistent": 0.5, "failed": ["i2"]}
    assert result["directional"] == {"n": 6, "passed": 2 / 6, "failed": ["d2", "d4", "d5", "d6"]}
    assert result["errors"] == [
        {"id": "m2", "expected": ["b"], "flagged": [], "title": "title m2", "kind": "mft", "tags": []},
        {"id": "l1", "expected": [], "flagged": ["a"], "title": "title l1", "kind": "mft", "tags": ["lookalike"]},
        {"id": "d5", "expected": [], "flagged": ["a"], "title": "title d5", "kind": "dir", "tags": []}]
    assert result["false_reject"]["lookalike"] == {"n": 2, "rate": 0.5}
    # a: m1, i1 true positives, l1 and d5 false flags -> F1 4/6; b: m2 missed, i2 found -> F1 2/3
    assert result["per_policy"]["a"]["f1"] == pytest.approx(2 / 3)
    assert result["per_policy"]["b"]["f1"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx(2 / 3)
    thai = result["slices"]["language"]["th"]  # m2 (missed) and l2 (clean): only b has a case
    assert thai["n"] == 2 and thai["macro_f1"] == 0.0 and thai["decision_accuracy"] == 0.5
    assert thai["exact_match"] == 0.5
    assert result["slices"]["kind"]["dir"]["decision_accuracy"] == 5 / 6  # d5 flagged, the others allowed
    none = evaluate_cases(cases[:2], scores[:2], ids, {"a": 0.5, "b": 0.5})  # no look-alike, inv or dir case
    assert none["false_reject"]["lookalike"]["n"] == 0 and np.isnan(none["false_reject"]["lookalike"]["rate"])
    assert np.isnan(none["invariance"]["consistent"]) and np.isnan(none["directional"]["passed"])


def test_a_score_exactly_at_its_threshold_is_flagged():
    from moddistill.metrics.classification import flag

    np.testing.assert_array_equal(flag(np.array([[0.5, 0.49999], [0.3, 0.7]]), [0.5, 0.7]), [[1, 0], [0, 1]])


def test_f1_of_nothing_to_count_is_zero_and_empty_inputs_are_counted_as_empty():
    from moddistill.metrics.classification import calibration, f1_from_counts

    np.testing.assert_array_equal(f1_from_counts([0, 1, 2], [0, 0, 1], [0, 1, 1]), [0.0, 2 / 3, 2 / 3])
    empty = multilabel_metrics(np.zeros((0, 2)), np.zeros((0, 2)), ["a", "b"])
    assert empty["n"] == 0 and np.isnan(empty["decision_accuracy"]) and empty["macro_f1"] == 0.0
    assert empty["per_policy"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
    cal = calibration(np.zeros((0, 2)), np.zeros((0, 2)))
    assert cal["pairs"] == 0 and np.isnan(cal["brier"]) and np.isnan(cal["ece"]) and cal["reliability"] == []
    assert cal["bins"] == 10
    one = multilabel_metrics(np.array([1]), np.array([1]), ["a"])  # a single value: one listing, one policy
    assert one["n"] == 1 and one["macro_f1"] == 1.0 and one["decision_accuracy"] == 1.0


def test_arrays_that_do_not_fit_the_label_space_are_refused():
    from moddistill.metrics.classification import calibration

    with pytest.raises(ValueError, match=r"expected an \(n, 2\) array for 2 policies, got shape \(2,\)"):
        multilabel_metrics(np.array([1, 0]), np.array([1, 0]), ["a", "b"])  # 1-D is one policy's column only
    with pytest.raises(ValueError, match=r"y_true \(3, 2\) and y_pred \(2, 2\) differ in shape"):
        multilabel_metrics(np.zeros((3, 2)), np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ValueError, match=r"labels \(4 values\) and scores \(2 values\) differ in size"):
        calibration(np.zeros((2, 2)), np.zeros((2, 1)))
