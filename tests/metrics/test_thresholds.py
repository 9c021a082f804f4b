"""Threshold selection on validation data: the built-in strategies on hand-built score matrices and the look-alike
floor (a strategy from outside the package: test_threshold_plugin.py)."""

import numpy as np
import pytest

from moddistill.metrics.thresholds import PerPolicyThresholds, select_thresholds


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


def test_the_global_grid_reaches_its_upper_bound():
    y = np.array([[1], [1], [0], [0]])
    s = np.array([[0.97], [0.96], [0.945], [0.2]])  # only a threshold in (0.945, 0.96] is perfect
    assert select_thresholds(y, s, ["a"], strategy="global") == {"a": pytest.approx(0.95)}
    # within (0.05, 0.5) the best is to flag 0.945 too but not 0.2: the lowest such value
    assert select_thresholds(y, s, ["a"], strategy="global", bounds=(0.05, 0.5)) == {"a": pytest.approx(0.21)}


def test_per_policy_settings_pass_through_and_every_policy_is_tuned():
    # a: two positives (too few by default), b: three (enough); b comes after a, so a skip must not end the loop
    y = np.array([[1, 1], [1, 1], [0, 1], [0, 0], [0, 0], [0, 0]])
    s = np.array([[0.9, 0.80], [0.8, 0.75], [0.1, 0.70], [0.2, 0.40], [0.3, 0.30], [0.1, 0.20]])
    t = select_thresholds(y, s, ["a", "b"], strategy="per_policy")
    assert t == {"a": 0.5, "b": pytest.approx(0.70)}
    t = select_thresholds(y, s, ["a", "b"], strategy=PerPolicyThresholds(min_positives=2))
    assert t == {"a": pytest.approx(0.8), "b": pytest.approx(0.70)}
    # the F1-best threshold is the highest score (0.99): clipped to the upper bound
    assert select_thresholds(np.array([[1], [1], [1], [0]]), np.array([[0.99], [0.995], [0.999], [0.98]]), ["a"],
                             strategy="per_policy") == {"a": 0.95}


def test_per_policy_picks_the_f1_best_point_not_the_precision_or_recall_best():
    # thresholds 0.9 / 0.6 / 0.4 / 0.2: F1 0.67 / 0.86 / 0.75 / 0.6 -> 0.6 (precision alone would say 0.9,
    # recall alone 0.2, and a product or difference of the two would rank them otherwise)
    y = np.array([[1], [1], [1], [0], [1], [0], [0], [0]])
    s = np.array([[0.9], [0.6], [0.6], [0.4], [0.2], [0.2], [0.1], [0.05]])
    assert select_thresholds(y, s, ["a"], strategy="per_policy") == {"a": pytest.approx(0.6)}


def test_bounds_hold_for_both_strategies_and_global_is_the_default():
    y = np.array([[1], [0]])
    s = np.array([[0.99], [0.955]])  # perfect only above 0.955, out of bounds: every threshold in bounds flags
    # both, and the lowest wins (a grid running past its bound would pick 0.96)
    assert select_thresholds(y, s, ["a"]) == {"a": pytest.approx(0.05)}  # global by default
    y3, s3 = np.array([[1], [1], [1], [0]]), np.array([[0.99], [0.995], [0.999], [0.98]])
    assert select_thresholds(y3, s3, ["a"], strategy="per_policy", bounds=(0.05, 0.5)) == {"a": 0.5}


def test_per_policy_can_choose_the_highest_score():
    y = np.array([[1], [1], [1], [0], [0]])
    s = np.array([[0.9], [0.9], [0.9], [0.5], [0.4]])  # best: flag only the three at 0.9
    assert select_thresholds(y, s, ["a"], strategy="per_policy") == {"a": pytest.approx(0.9)}


def test_per_policy_ranks_thresholds_by_f1_itself():
    # at 0.9: 7 of 10 positives and 4 negatives flagged (F1 0.667); at 0.5: all 10 and 11 negatives (F1 0.645);
    # at 0.95 only a negative (precision and recall 0). A product of precision, recall and their sum would
    # prefer 0.5, and an unguarded 0/0 at 0.95 would be a NaN that argmax picks.
    y = np.array([[0]] + [[1]] * 7 + [[0]] * 3 + [[1]] * 3 + [[0]] * 7)
    s = np.array([[0.95]] + [[0.9]] * 10 + [[0.5]] * 10)
    assert select_thresholds(y, s, ["a"], strategy="per_policy") == {"a": pytest.approx(0.9)}


def test_adaptive_shrinks_each_policys_threshold_toward_the_global_one_by_its_support():
    from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds

    rng = np.random.default_rng(0)
    n = 400
    y = np.zeros((n, 2), dtype=int)
    y[:200, 0] = 1  # common policy: 200 positives, scores well above 0.6
    y[200:220, 1] = 1  # rare policy: 20 positives, scores around 0.2 (a model unsure of it)
    s = np.zeros((n, 2))
    s[:, 0] = np.where(y[:, 0] == 1, rng.uniform(0.7, 1.0, n), rng.uniform(0.0, 0.6, n))
    s[:, 1] = np.where(y[:, 1] == 1, rng.uniform(0.15, 0.25, n), rng.uniform(0.0, 0.1, n))
    own = select_thresholds(y, s, ["common", "rare"], strategy="per_policy")
    shared = select_thresholds(y, s, ["common", "rare"], strategy="global")["common"]
    choice = choose_thresholds(y, s, ["common", "rare"], ThresholdRule("adaptive"))
    for pid, positives in (("common", 200), ("rare", 20)):
        w = positives / (positives + 20)
        assert choice.thresholds[pid] == pytest.approx(w * own[pid] + (1 - w) * shared, abs=1e-4)
        assert f"({positives} positives)" in choice.rules[pid]
    # the rare policy keeps its own calibration instead of the shared compromise
    assert abs(choice.thresholds["rare"] - own["rare"]) < abs(shared - own["rare"])
    few = choose_thresholds(np.array([[1], [0], [0], [0]]), np.array([[0.9], [0.1], [0.2], [0.3]]), ["a"],
                            ThresholdRule("adaptive"))
    assert few.rules["a"].startswith("global (1 validation positives < 3)")
    assert few.thresholds == select_thresholds(np.array([[1], [0], [0], [0]]), np.array([[0.9], [0.1], [0.2], [0.3]]),
                                               ["a"], strategy="global")


def test_max_false_reject_raises_every_threshold_to_the_best_floor_that_keeps_the_cap():
    from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds

    # 4 violations of "a" at 0.6-0.9, 6 plain allowed rows at 0.05, 4 look-alikes at 0.3, 0.4, 0.5, 0.55
    y = np.array([[1]] * 4 + [[0]] * 10)
    s = np.array([[0.6], [0.7], [0.8], [0.9]] + [[0.05]] * 6 + [[0.3], [0.4], [0.5], [0.55]])
    lookalike = np.array([False] * 10 + [True] * 4)
    free = choose_thresholds(y, s, ["a"], ThresholdRule("global"), lookalike)
    assert free.thresholds["a"] == pytest.approx(0.56)  # lowest perfect value: look-alikes are negatives too
    assert free.lookalike_false_reject == 0.0 and free.floor is None
    # scores where validation macro-F1 alone would accept one look-alike rejected
    s2 = s.copy()
    s2[13] = 0.65
    plain = choose_thresholds(y, s2, ["a"], ThresholdRule("global"), lookalike)
    assert plain.lookalike_false_reject == pytest.approx(0.25)
    capped = choose_thresholds(y, s2, ["a"], ThresholdRule("global", max_false_reject=0.0), lookalike)
    assert capped.lookalike_false_reject == 0.0
    assert capped.floor == pytest.approx(0.66) and capped.thresholds["a"] == pytest.approx(0.66)
    assert "look-alike floor 0.66" in capped.rules["a"]
    assert [c["floor"] for c in capped.curve][:2] == [0.05, 0.06] and len(capped.curve) == 91
    # without look-alikes in validation the cap cannot be applied, and says so
    none = choose_thresholds(y, s2, ["a"], ThresholdRule("global", max_false_reject=0.05))
    assert none.floor is None and "holds no allowed look-alikes" in none.note


def test_a_cap_no_floor_can_keep_takes_the_floor_with_the_fewest_false_rejects():
    from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds

    y = np.array([[1], [0], [0], [0]])
    s = np.array([[0.9], [0.1], [0.99], [0.5]])  # one look-alike above every threshold the grid allows
    choice = choose_thresholds(y, s, ["a"], ThresholdRule("global", max_false_reject=0.0), np.array([0, 0, 1, 1]) > 0)
    assert choice.thresholds["a"] == pytest.approx(0.51) and choice.lookalike_false_reject == 0.5
    assert choice.floor is None  # the best floor does not bind: the shared threshold already sits above it
    assert "no floor keeps it (lowest 0.500" in choice.note


def test_rules_parse_with_an_optional_cap_and_read_a_runs_config():
    from omegaconf import OmegaConf

    from moddistill.errors import UserError
    from moddistill.metrics.thresholds import ThresholdRule

    assert ThresholdRule.parse("adaptive@0.1") == ThresholdRule("adaptive", 0.1)
    assert ThresholdRule.parse("global") == ThresholdRule("global", None)
    assert ThresholdRule.parse("per_policy@0") == ThresholdRule("per_policy", 0.0)  # both ends of [0, 1] are caps
    assert ThresholdRule.parse("global@1").max_false_reject == 1.0
    with pytest.raises(UserError, match="threshold strategy 'best': expected one of 'global', 'per_policy'"):
        ThresholdRule.parse("best@0.1")
    for bad in ("global@lots", "global@1.5", "global@-0.1"):
        with pytest.raises(UserError, match=rf"threshold rule '{bad}': expected strategy\[@max_false_reject\]"):
            ThresholdRule.parse(bad)
    cfg = OmegaConf.create({"threshold_strategy": "adaptive", "max_false_reject": 0.05})
    assert ThresholdRule.from_cfg(cfg) == ThresholdRule("adaptive", 0.05)
    assert ThresholdRule.from_cfg(OmegaConf.create({"threshold_strategy": "global", "max_false_reject": None})) == \
        ThresholdRule("global", None)
    assert ThresholdRule.from_cfg(OmegaConf.create({"threshold_strategy": "global"})).max_false_reject is None


class Fixed:
    """A strategy object returning whatever it was built with."""

    def __init__(self, thresholds, rules):
        self.thresholds, self.rules = thresholds, rules

    def choose(self, y_true, scores, policy_ids, *, bounds):
        return dict(self.thresholds), dict(self.rules)


def test_a_strategys_answer_is_checked_and_put_in_policy_order():
    from moddistill.errors import UserError

    y, s = np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.1, 0.8]])
    why = {"a": "mine", "b": "mine"}
    t = select_thresholds(y, s, ["a", "b"], strategy=Fixed({"b": np.float32(0.25), "a": 0, "z": 0.5}, why))
    assert t == {"a": 0.0, "b": 0.25} and list(t) == ["a", "b"] and all(type(v) is float for v in t.values())
    for thresholds, rules, missing in (({"a": 0.5}, why, "b"), ({"a": 0.5, "b": 1.5}, why, "b"),
                                       ({"a": float("nan"), "b": 0.5}, why, "a"), ({"a": -0.1, "b": 0.5}, why, "a"),
                                       ({"a": "0.5", "b": 0.5}, why, "a"), ({"a": 0.5, "b": 0.5}, {"a": "x"}, "b")):
        with pytest.raises(UserError, match=rf"no threshold in \[0, 1\] with a reason for {missing}$"):
            select_thresholds(y, s, ["a", "b"], strategy=Fixed(thresholds, rules))


def test_a_choice_records_the_strategys_thresholds_before_the_floor():
    from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds

    y = np.array([[1], [1], [0], [0], [0]])
    s = np.array([[0.9], [0.8], [0.3], [0.85], [0.1]])  # the look-alike outscores a violation
    choice = choose_thresholds(y, s, ["a"], ThresholdRule("global", max_false_reject=0.0),
                               np.array([0, 0, 0, 1, 0]) > 0)
    d = choice.to_dict()
    assert d["strategy_thresholds"]["a"] == pytest.approx(0.31) and d["thresholds"]["a"] == d["floor"] == 0.86
    assert d["lookalikes"] == 1 and d["lookalike_false_reject"] == 0.0 and d["rules"]["a"].startswith("global")

