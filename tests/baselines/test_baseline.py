"""The TF-IDF baseline: a run like a student's, on the student's rows, scored by the same evaluation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from moddistill.baselines.tfidf import TfidfBaseline
from moddistill.baselines.train import Baseline, load_baseline, save_baseline, train_baseline
from moddistill.distill.soft_logistic import soft_label_rows
from moddistill.metrics.thresholds import select_thresholds
from moddistill.runs.run import (
    BASELINE_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    VALIDATION_SCORES_FILE,
    Run,
)
from tests.conftest import compose_config, read_jsonl, slice_overrides


@pytest.fixture(scope="module")
def fit_calls(sample_slice, tmp_path_factory):
    """One baseline run on the sample slice, with what fit() was given."""
    calls = []
    original = TfidfBaseline.fit

    def recording_fit(self, texts, labels, policy_ids):
        calls.append({"texts": list(texts), "labels": np.array(labels), "policy_ids": tuple(policy_ids)})
        return original(self, texts, labels, policy_ids)

    run_dir = tmp_path_factory.mktemp("baseline") / "run"
    cfg = compose_config("baseline", slice_overrides(sample_slice, run_dir))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TfidfBaseline, "fit", recording_fit)
        assert train_baseline(cfg) == run_dir
    return run_dir, calls


@pytest.fixture(scope="module")
def baseline_run(fit_calls):
    return fit_calls[0]


def test_baseline_run_has_the_run_layout(baseline_run, policy):
    for name in (BASELINE_FILE, CONFIG_FILE, METRICS_FILE, VALIDATION_SCORES_FILE):
        assert (baseline_run / name).is_file(), name
    assert (baseline_run.parent / "latest").resolve() == baseline_run.resolve()
    metrics = json.loads((baseline_run / METRICS_FILE).read_text())
    assert metrics["kind"] == "baseline" and metrics["model"] == "tfidf-char2-5+word1-2-logreg-C10"
    assert metrics["policy"]["labels"] == list(policy.ids)
    assert metrics["parameters"]["total"] == metrics["parameters"]["trainable"] > 0
    assert metrics["train"]["train_samples_per_second"] > 0
    assert set(metrics["validation"]) == {"at_0.5", "at_thresholds"}
    assert {"collapse", "resources", "provenance", "render_version", "data", "thresholds"} <= set(metrics)
    run = Run.open(baseline_run)
    assert run.kind == "baseline" and run.cfg.baseline._target_.endswith("TfidfBaseline")


def test_baseline_trains_on_the_students_split(fit_calls, sample_slice, tmp_path, policy):
    """Same policy/data/teacher/seed as a student run -> exactly the rows that student would train and validate on."""
    from moddistill.data.listings import render_listing
    from moddistill.distill.data import prepare_training_data

    run_dir, calls = fit_calls
    student_cfg = compose_config("train", slice_overrides(sample_slice, tmp_path / "student", "experiment=tiny"))
    student = prepare_training_data(student_cfg, tmp_path / "student")

    assert len(calls) == 1 and calls[0]["policy_ids"] == policy.ids
    assert calls[0]["texts"] == [render_listing(r.listing) for r in student.train]
    np.testing.assert_array_equal(calls[0]["labels"], student.labels("train"))
    validation = read_jsonl(run_dir / VALIDATION_SCORES_FILE)
    assert [r["id"] for r in validation] == [r.listing.id for r in student.validation]
    data = json.loads((run_dir / METRICS_FILE).read_text())["data"]
    assert (data["train"], data["validation"]) == (len(student.train), len(student.validation))
    assert data["join"]["labelled"] == data["leakage"]["checked"] == data["train"] + data["validation"] + len(
        data["leakage"]["dropped_ids"])


def test_thresholds_are_chosen_on_validation_like_the_student(baseline_run, policy):
    rows = read_jsonl(baseline_run / VALIDATION_SCORES_FILE)
    teacher = np.array([[r["teacher"][p] for p in policy.ids] for r in rows])
    scores = np.array([[r["student"][p] for p in policy.ids] for r in rows])
    metrics = json.loads((baseline_run / METRICS_FILE).read_text())
    assert metrics["threshold_rule"]["strategy"] == "global"  # the default, as for students
    assert metrics["thresholds"] == select_thresholds(teacher >= 0.5, scores, policy.ids, strategy="global")
    assert set(metrics["threshold_rule"]["rules"]) == set(policy.ids)
    model = load_baseline(baseline_run / BASELINE_FILE)
    assert model.policy_ids == policy.ids


def test_evaluation_scores_the_baseline_with_its_own_model(baseline_run, sample_slice, policy):
    from moddistill.data.listings import render_listing
    from moddistill.data.policy_cases import read_policy_cases
    from moddistill.evaluation.evaluate import evaluate_checkpoint

    result, out = evaluate_checkpoint(baseline_run)
    cases, _ = read_policy_cases(sample_slice["cases"], policy)
    expected = load_baseline(baseline_run / BASELINE_FILE).predict_proba([render_listing(c.listing) for c in cases])
    rows = read_jsonl(out / "case_scores.jsonl")
    assert [r["id"] for r in rows] == [c.id for c in cases]
    np.testing.assert_allclose([[r["scores"][p] for p in policy.ids] for r in rows], expected, rtol=0, atol=1e-12)
    assert result["n"] == len(cases) and result["thresholds"] == Run.open(baseline_run).thresholds


def test_baseline_is_on_the_leaderboard_and_is_not_exported(baseline_run):
    from moddistill.evaluation.evaluate import evaluate_checkpoint
    from moddistill.evaluation.leaderboard import collect_leaderboard
    from moddistill.export.directory import export_run

    evaluate_checkpoint(baseline_run)
    rows = [r for r in collect_leaderboard(baseline_run.parent, bootstrap=0) if r["status"] == "ok"]
    assert [(r["kind"], r["model"]) for r in rows] == [("baseline", "tfidf-char2-5+word1-2-logreg-C10")]
    with pytest.raises(ValueError, match="baseline run; only students are exported"):
        export_run(baseline_run)


def test_baseline_refuses_a_non_empty_run_dir(baseline_run, sample_slice):
    cfg = compose_config("baseline", slice_overrides(sample_slice, baseline_run))
    with pytest.raises(FileExistsError, match="is not empty"):
        train_baseline(cfg)


# --- the model on hand-built data ------------------------------------------------------------------------

TEXTS = ["cheap rifle ammo for sale", "hunting rifle with scope", "rifle cleaning kit and ammo",
         "blue cotton shirt", "wooden kitchen table", "cotton summer dress", "kitchen chairs set of four",
         "old wooden shirt rack"]


def test_soft_labels_become_one_positive_and_one_negative_weighted_copy():
    rows, y, w = soft_label_rows(np.array([1.0, 0.0, 0.25]))
    assert sorted(zip(rows.tolist(), y.tolist(), w.tolist())) == [(0, 1, 1.0), (1, 0, 1.0), (2, 0, 0.75), (2, 1, 0.25)]


def test_a_soft_label_pulls_the_probability_towards_it():
    hard = np.array([[1], [1], [1], [0], [0], [0], [0], [0]], dtype=float)
    soft = hard.copy()
    soft[1] = 0.5
    probe = ["hunting rifle with scope"]
    p_hard = TfidfBaseline(C=10).fit(TEXTS, hard, ["weapons"]).predict_proba(probe)[0, 0]
    p_soft = TfidfBaseline(C=10).fit(TEXTS, soft, ["weapons"]).predict_proba(probe)[0, 0]
    assert 0.5 < p_soft < p_hard
    # a 0.5 label is not a missing row: it pulls towards 0.5 from below too
    low = hard.copy()
    low[1] = 0.0
    p_zero = TfidfBaseline(C=10).fit(TEXTS, low, ["weapons"]).predict_proba(probe)[0, 0]
    assert p_zero < p_soft


def test_a_policy_without_positives_scores_zero_with_a_warning(caplog, tmp_path):
    labels = np.array([[1, 0]] * 3 + [[0, 0]] * 5, dtype=float)
    with caplog.at_level(logging.WARNING, logger="moddistill.baselines.tfidf"):
        model = TfidfBaseline().fit(TEXTS, labels, ["weapons", "counterfeits"])
    assert "counterfeits has no positive training labels" in caplog.text
    loaded = load_baseline(save_baseline(model, tmp_path / BASELINE_FILE))
    scores = loaded.predict_proba(TEXTS + ["never seen words"])
    assert scores.shape == (9, 2) and (scores[:, 1] == 0).all() and scores[:3, 0].min() > scores[3:8, 0].max()
    np.testing.assert_array_equal(scores, model.predict_proba(TEXTS + ["never seen words"]))
    assert loaded.predict_proba([]).shape == (0, 2)


TOY_BASELINE = '''
import numpy as np
from sklearn.feature_extraction.text import CountVectorizer


class WordOddsBaseline:
    """Per policy, the log-odds of each word among the teacher's positives against its negatives."""

    name = "word-odds"

    def __init__(self, *, alpha: float = 1.0):
        self.alpha = alpha

    @property
    def n_features(self):
        return len(self.vectorizer.vocabulary_)

    def fit(self, texts, labels, policy_ids):
        self.vectorizer = CountVectorizer(binary=True).fit(texts)
        x = self.vectorizer.transform(texts)
        y = (np.asarray(labels) >= 0.5).astype(float)
        pos = (x.T @ y + self.alpha) / (y.sum(0) + 2 * self.alpha)
        neg = (x.T @ (1 - y) + self.alpha) / ((1 - y).sum(0) + 2 * self.alpha)
        self.weights = np.log(pos / neg)
        self.bias = np.log((y.mean(0) + 1e-3) / (1 - y.mean(0) + 1e-3))
        return self

    def predict_proba(self, texts):
        return 1 / (1 + np.exp(-(self.vectorizer.transform(list(texts)) @ self.weights + self.bias)))

    def parameter_count(self):
        return int(self.weights.size + self.bias.size)
'''


def test_a_baseline_from_outside_the_package_is_one_module_and_one_yaml_file(sample_slice, tmp_path, policy,
                                                                            monkeypatch):
    """A new baseline needs no edit to the package: its class on the path, conf/baseline/<name>.yaml in a config
    directory Hydra searches, and scripts/baseline.py trains, checks, evaluates and writes it as a run that the
    leaderboard lists beside the others."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "toy_baselines.py").write_text(TOY_BASELINE, encoding="utf-8")
    (tmp_path / "conf" / "baseline").mkdir(parents=True)
    (tmp_path / "conf" / "baseline" / "word_odds.yaml").write_text(
        "_target_: toy_baselines.WordOddsBaseline\nalpha: 1.0\n", encoding="utf-8")
    run_dir = tmp_path / "runs" / "word_odds"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    script = [sys.executable, "scripts/baseline.py", "baseline=word_odds", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"]
    proc = subprocess.run(script + slice_overrides(sample_slice, run_dir), cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert metrics["kind"] == "baseline" and metrics["model"] == "word-odds"
    assert metrics["features"] > 100 and metrics["parameters"]["total"] == (metrics["features"] + 1) * len(policy.ids)
    monkeypatch.syspath_prepend(str(tmp_path))  # unpickling the saved model imports its class
    assert isinstance(load_baseline(run_dir / BASELINE_FILE), Baseline)
    evaluation = json.loads(next((run_dir / "eval").glob(f"*/{METRICS_FILE}")).read_text())
    assert evaluation["n"] == len(read_jsonl(sample_slice["cases"])) and 0 < evaluation["macro_f1"] <= 1

    from moddistill.evaluation.leaderboard import collect_leaderboard

    rows = collect_leaderboard(tmp_path / "runs", bootstrap=0)
    assert [(r["model"], r["kind"], r["status"]) for r in rows] == [("word-odds", "baseline", "ok")]

    bad = subprocess.run(script + ["baseline.alpha=fast"] + slice_overrides(sample_slice, tmp_path / "bad"), cwd=ROOT,
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "config key baseline.alpha='fast': expected a number" in bad.stderr
