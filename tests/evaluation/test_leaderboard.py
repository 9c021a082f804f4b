"""The leaderboard over a hand-built checkpoints tree (two runs, a baseline-free teacher, a run without an
evaluation, a crashed sweep run, a `latest` symlink), its script, and end to end over the tiny run."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from moddistill.evaluation.leaderboard import (
    LeaderboardError,
    bootstrap_macro_f1,
    collect_leaderboard,
    leaderboard_markdown,
    paired_macro_f1_difference,
    recipe_rows,
    write_leaderboard,
)
from moddistill.metrics.classification import multilabel_metrics
from tests.conftest import ROOT, compose_config, read_jsonl, write_jsonl

IDS = ["weapons", "drugs"]
# 20 cases: every 4th violates weapons, the next drugs, the next is an allowed look-alike, then plain allowed;
# even cases are English, odd ones Thai
CASES = [{"id": f"c{i}", "expected": [["weapons"], ["drugs"], [], []][i % 4], "language": "en" if i % 2 == 0 else "th",
          "kind": "mft", "tags": ["lookalike"] if i % 4 == 2 else []} for i in range(20)]
COLUMNS = ["run", "status", "kind", "model", "cases", "n", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high",
           "vs_baseline", "vs_baseline_ci_low", "vs_baseline_ci_high", "micro_f1", "decision_accuracy", "lookalike_false_reject", "inv_consistency", "dir_passed", "brier", "ece",
           "f1_en", "f1_th", "parameters", "train_samples_per_s", "listings_per_s", "collapsed", "recipe", "seed",
           "vs_seed_baseline", "vs_seed_baseline_ci_low", "vs_seed_baseline_ci_high", "seed_baseline",
           "seed_baseline_macro_f1"]


def scores_with(misses=(), false_flags=()):
    """0.9 for every expected policy and 0.1 elsewhere, except (case, policy) misses (0.2) and false flags (0.8)."""
    s = np.array([[0.9 if p in c["expected"] else 0.1 for p in IDS] for c in CASES])
    for i, p in misses:
        s[i, IDS.index(p)] = 0.2
    for i, p in false_flags:
        s[i, IDS.index(p)] = 0.8
    return s


def write_eval(run_dir, scores, *, extra=None, case_scores=True, stem="cases"):
    """A hand-made <run>/eval/<stem>/ in the shape evaluation.evaluate writes."""
    out = run_dir / "eval" / stem
    thresholds = {p: 0.5 for p in IDS}
    y_true = np.array([[p in c["expected"] for p in IDS] for c in CASES])
    y_pred = scores >= 0.5
    result = multilabel_metrics(y_true, y_pred, IDS)
    lookalike = [i for i, c in enumerate(CASES) if "lookalike" in c["tags"]]
    result.update({
        "thresholds": thresholds, "policy_cases": f"data/{stem}.jsonl",
        "calibration": {"pairs": 40, "brier": float(np.mean((scores - y_true) ** 2)), "ece": 0.05, "bins": 10,
                        "reliability": []},
        "false_reject": {"lookalike": {"n": len(lookalike), "rate": float(np.mean(y_pred[lookalike].any(axis=1)))}},
        "slices": {"language": {lang: {"n": 10, "macro_f1": present_macro_f1(y_true[i::2], y_pred[i::2])}
                                for i, lang in enumerate(["en", "th"])}},
        "invariance": {"n": 0, "consistent": float("nan"), "failed": []},
        "directional": {"n": 2, "passed": 0.5, "failed": ["x"]},
        "errors": [], **(extra or {}),
    })
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps(result), encoding="utf-8")
    if case_scores:
        write_jsonl(out / "case_scores.jsonl", [
            {"id": c["id"], "expected": c["expected"], "scores": dict(zip(IDS, map(float, s))),
             "flagged": [p for p, v in zip(IDS, s) if v >= 0.5], "language": c["language"], "kind": c["kind"],
             "tags": c["tags"]} for c, s in zip(CASES, scores)])
    return result


def present_macro_f1(y_true, y_pred):
    per = multilabel_metrics(y_true, y_pred, IDS)["per_policy"].values()
    return float(np.mean([m["f1"] for m in per if m["support"]]))


def make_run(run_dir, metrics):
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("experiment: x\n", encoding="utf-8")
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run_dir


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "checkpoints"
    good = make_run(root / "demo" / "2026-01-02_00-00-00", {
        "model": "tiny-bert", "parameters": 4_400_000, "train": {"train_samples_per_second": 19.8},
        "collapse": {"collapsed": False}})
    (root / "demo" / "latest").symlink_to("2026-01-02_00-00-00")
    write_eval(good, scores_with(misses=[(0, "weapons")]), extra={
        "checkpoint": str(good), "scoring": {"seconds": 2.0, "listings_per_second": 10.0}})
    weak = make_run(root / "baselines" / "tfidf", {"model": "tfidf-logreg", "kind": "baseline",
                                                    "collapse": {"collapsed": True}})
    write_eval(weak, scores_with(misses=[(0, "weapons"), (4, "weapons"), (8, "weapons")],
                                 false_flags=[(2, "drugs"), (6, "drugs")]), case_scores=False)
    write_eval(root / "teachers" / "qwen_cases",
               scores_with(misses=[(0, "weapons"), (5, "drugs")], false_flags=[(2, "weapons")]),
               extra={"teacher_labels": "labels/qwen_cases.jsonl", "teacher": {"model": "qwen2.5-coder-1.5b"}})
    make_run(root / "demo" / "2026-01-03_00-00-00", {"model": "tiny-bert"})  # trained, never evaluated
    crashed = root / "sweep" / "3"
    crashed.mkdir(parents=True)
    (crashed / "config.yaml").write_text("experiment: sweep\n", encoding="utf-8")
    (crashed / "error.json").write_text(json.dumps({"error": "CUDA out of memory", "type": "OutOfMemoryError"}))
    return root


def test_rows_statuses_and_order(tree):
    rows = collect_leaderboard(tree, bootstrap=200, seed=0)
    assert [(r["run"], r["status"]) for r in rows] == [
        ("demo/2026-01-02_00-00-00", "ok"),
        ("teachers/qwen_cases", "ok"),
        ("baselines/tfidf", "ok"),
        ("demo/2026-01-03_00-00-00", "not evaluated"),
        ("sweep/3", "failed: CUDA out of memory"),
    ]  # no demo/latest: the symlink is the first run again
    best, teacher, baseline = rows[:3]
    assert best["macro_f1"] > teacher["macro_f1"] > baseline["macro_f1"]
    # weapons: 4 of 5 found, nothing false -> F1 8/9; drugs perfect
    assert best["macro_f1"] == pytest.approx((8 / 9 + 1) / 2)
    assert (best["kind"], best["model"], best["parameters"], best["train_samples_per_s"], best["listings_per_s"],
            best["collapsed"]) == ("student", "tiny-bert", 4_400_000, 19.8, 10.0, False)
    assert (teacher["kind"], teacher["model"]) == ("teacher", "qwen2.5-coder-1.5b")
    assert (baseline["kind"], baseline["model"], baseline["collapsed"]) == ("baseline", "tfidf-logreg", True)
    # two of the five allowed look-alikes flagged by the baseline, none by the student
    assert baseline["lookalike_false_reject"] == pytest.approx(2 / 5) and best["lookalike_false_reject"] == 0.0
    assert best["dir_passed"] == 0.5 and best["inv_consistency"] is None and best["ece"] == 0.05
    # English cases hold the weapons violations (one missed), Thai ones the drugs violations
    assert (best["f1_en"], best["f1_th"]) == (pytest.approx(8 / 9), 1.0)
    assert rows[3]["model"] == "tiny-bert" and rows[3]["kind"] == "student"
    for r in (best, teacher):
        assert r["macro_f1_ci_low"] <= r["macro_f1"] <= r["macro_f1_ci_high"]
        assert r["macro_f1_ci_low"] < r["macro_f1_ci_high"]
    assert baseline["macro_f1_ci_low"] is None  # no case_scores.jsonl to resample
    assert collect_leaderboard(tree, bootstrap=200, seed=0) == rows  # seeded


def test_the_interval_comes_from_the_case_scores_at_the_evaluations_thresholds():
    y_true = np.array([[p in c["expected"] for p in IDS] for c in CASES])
    y_pred = scores_with(misses=[(0, "weapons")]) >= 0.5
    low, high = bootstrap_macro_f1(y_true, y_pred, resamples=500, seed=1)
    assert 0.5 < low < (8 / 9 + 1) / 2 < high <= 1.0
    assert bootstrap_macro_f1(y_true, y_true, resamples=50) == (1.0, 1.0)
    assert bootstrap_macro_f1(y_true, y_pred, resamples=500, seed=1) == (low, high)


def test_runs_are_compared_with_the_best_baseline_on_the_same_resampled_cases(tree):
    baseline_dir = tree / "baselines" / "tfidf"
    (baseline_dir / "eval" / "cases" / "metrics.json").unlink()
    (baseline_dir / "eval" / "cases").rmdir()
    write_eval(baseline_dir, scores_with(misses=[(0, "weapons"), (4, "weapons"), (8, "weapons")],
                                         false_flags=[(2, "drugs"), (6, "drugs")]))
    rows = {r["run"]: r for r in collect_leaderboard(tree, bootstrap=300, seed=0) if r["status"] == "ok"}
    student, teacher, baseline = rows["demo/2026-01-02_00-00-00"], rows["teachers/qwen_cases"], rows["baselines/tfidf"]
    assert baseline["vs_baseline"] == 0.0
    assert student["vs_baseline"] == pytest.approx(student["macro_f1"] - baseline["macro_f1"])
    assert teacher["vs_baseline"] == pytest.approx(teacher["macro_f1"] - baseline["macro_f1"])
    # the student errs only where the baseline errs too, so no resample can show it worse
    assert 0.0 <= student["vs_baseline_ci_low"] < student["vs_baseline"] <= student["vs_baseline_ci_high"]
    markdown = leaderboard_markdown(list(rows.values()), bootstrap=300)
    assert "vs baseline: against `baselines/tfidf`." in markdown
    assert f"{student['vs_baseline']:+.3f} [{student['vs_baseline_ci_low']:+.3f}, " in markdown


def test_excluded_directories_are_neither_rows_nor_the_reference_baseline(tree):
    # a loop-simulation round's baseline that scores better than the real one (make loop-sim writes such rounds)
    sim = make_run(tree / "loop_sim" / "run1" / "uncertainty" / "round_5" / "baseline", {"kind": "baseline"})
    write_eval(sim, scores_with())
    everything = collect_leaderboard(tree, bootstrap=50)
    assert "loop_sim/run1/uncertainty/round_5/baseline" in [r["run"] for r in everything]
    assert "against `loop_sim/run1/uncertainty/round_5/baseline`" in leaderboard_markdown(everything)
    rows = collect_leaderboard(tree, bootstrap=50, exclude=["loop_sim"])
    assert [r["run"] for r in rows] == [r["run"] for r in everything if not r["run"].startswith("loop_sim/")]
    markdown = leaderboard_markdown(rows, exclude=["loop_sim"])
    assert "loop_sim/run1" not in markdown.replace("`loop_sim`", "")
    assert "Not searched (`exclude`): `loop_sim`." in markdown
    # globs match a directory's path under root, at any depth
    assert "demo/2026-01-03_00-00-00" not in [r["run"] for r in collect_leaderboard(tree, exclude=["demo/*-03_*"])]


def test_a_paired_difference_of_a_prediction_with_itself_is_exactly_zero():
    y_true = np.array([[p in c["expected"] for p in IDS] for c in CASES])
    y_pred = scores_with(misses=[(0, "weapons")], false_flags=[(2, "drugs")]) >= 0.5
    assert paired_macro_f1_difference(y_true, y_pred, y_pred, resamples=100) == (0.0, 0.0)  # unpaired: never
    low, high = paired_macro_f1_difference(y_true, y_true, y_pred, resamples=300, seed=2)
    assert 0.0 <= low < high  # perfect against flawed: never worse on a resample


def test_csv_markdown_and_filter(tree, tmp_path):
    rows = collect_leaderboard(tree, bootstrap=100)
    markdown = leaderboard_markdown(rows, root=tree, bootstrap=100)
    csv_path, md_path = write_leaderboard(rows, markdown, tmp_path / "out" / "leaderboard")
    assert csv_path.name == "leaderboard.csv" and md_path.read_text(encoding="utf-8") == markdown
    with csv_path.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == COLUMNS
    assert [r["status"] for r in table] == ["ok", "ok", "ok", "not evaluated", "failed: CUDA out of memory"]
    assert table[2]["macro_f1_ci_low"] == "" and table[3]["macro_f1"] == "" and table[0]["collapsed"] == "False"
    assert "bootstrap 95% percentile interval over cases" in markdown
    assert markdown.index("## cases (20 cases)") < markdown.index("demo/2026-01-02_00-00-00 |") \
        < markdown.index("teachers/qwen_cases") < markdown.index("baselines/tfidf") < markdown.index("sweep/3")
    assert "| F1 en | F1 th |" in markdown
    # runs evaluated on other case files are neither rows of this table nor "not evaluated"
    assert [r["status"] for r in collect_leaderboard(tree, cases="other")] == ["not evaluated",
                                                                               "failed: CUDA out of memory"]


def test_one_case_file_scored_against_different_label_spaces_is_refused(tree):
    other = tree / "demo" / "2026-01-03_00-00-00"
    result = write_eval(other, scores_with())
    result["thresholds"] = {"weapons": 0.5}
    (other / "eval" / "cases" / "metrics.json").write_text(json.dumps(result), encoding="utf-8")
    with pytest.raises(LeaderboardError, match="'cases' was scored against different policies"):
        collect_leaderboard(tree)


def test_missing_root_is_a_user_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        collect_leaderboard(tmp_path / "nope")


def test_script_writes_and_prints(tree, tmp_path):
    cfg = compose_config("leaderboard")
    assert (cfg.root, cfg.output, cfg.bootstrap, cfg.seed, cfg.cases, list(cfg.exclude)) == (
        "checkpoints", "checkpoints/leaderboard", 1000, 0, None, ["loop_sim"])
    out = tmp_path / "lb"
    proc = subprocess.run([sys.executable, "scripts/leaderboard.py", f"root={tree}", f"output={out}", "bootstrap=50"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| demo/2026-01-02_00-00-00 |" in proc.stdout and "evaluations: 3, runs without one: 2" in proc.stdout
    assert (tmp_path / "lb.csv").exists() and (tmp_path / "lb.md").exists()
    proc = subprocess.run([sys.executable, "scripts/leaderboard.py", f"root={tmp_path / 'nope'}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_tiny_run_end_to_end(tiny_run, policy):
    out = tiny_run / "eval" / "cases"
    rows = read_jsonl(out / "case_scores.jsonl")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert len(rows) == metrics["n"] == 60
    assert set(rows[0]) == {"id", "expected", "scores", "flagged", "language", "kind", "tags"}
    assert list(rows[0]["scores"]) == list(policy.ids)
    assert all(r["flagged"] == [p for p in policy.ids if r["scores"][p] >= metrics["thresholds"][p]] for r in rows)
    assert metrics["scoring"]["listings_per_second"] > 0 and metrics["scoring"]["seconds"] > 0
    assert 0 <= metrics["calibration"]["brier"] <= 1 and 0 <= metrics["calibration"]["ece"] <= 1
    assert all("macro_f1" in m for m in metrics["slices"]["language"].values())
    assert "Brier" in (out / "report.md").read_text(encoding="utf-8")

    board = collect_leaderboard(tiny_run.parent, bootstrap=100)
    assert [(r["run"], r["status"], r["kind"], r["model"], r["cases"], r["n"]) for r in board] == [
        (tiny_run.name, "ok", "student", "tiny-bert", "cases", 60)]  # once, though `latest` points at it too
    row = board[0]
    assert row["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert row["macro_f1_ci_low"] <= row["macro_f1"] <= row["macro_f1_ci_high"]
    assert row["listings_per_s"] > 0 and row["train_samples_per_s"] > 0


def test_runs_of_one_recipe_are_summarised_over_seeds_against_their_same_seed_baselines(tmp_path):
    root = tmp_path / "checkpoints"
    misses = {42: [(0, "weapons")], 1: [], 2: [(0, "weapons"), (4, "weapons")]}
    base_misses = {42: [(0, "weapons"), (4, "weapons")], 1: [(4, "weapons")], 2: [(0, "weapons"), (4, "weapons")]}
    for seed in (42, 1, 2):
        for kind, table in (("student", misses), ("baseline", base_misses)):
            run = root / "sweep" / kind / f"seed{seed}"
            make_run(run, {"model": kind, "kind": kind})
            (run / "config.yaml").write_text(
                f"experiment: demo\nseed: {seed}\noutput_dir: {run}\ndata: {{listings: a.jsonl}}\n"
                f"threshold_strategy: global\n" + ("model: {name: m}\n" if kind == "student" else ""),
                encoding="utf-8")
            write_eval(run, scores_with(misses=table[seed]))
    other = make_run(root / "other" / "seed42", {"model": "student", "kind": "student"})  # another recipe
    (other / "config.yaml").write_text("experiment: demo\nseed: 42\nlr: 1\ndata: {listings: b.jsonl}\n"
                                       "threshold_strategy: global\n", encoding="utf-8")
    write_eval(other, scores_with())
    rows = collect_leaderboard(root, bootstrap=100)
    by_run = {r["run"]: r for r in rows}
    student = by_run["sweep/student/seed1"]
    assert student["seed"] == 1 and student["seed_baseline"] == "sweep/baseline/seed1"
    assert student["vs_seed_baseline"] == pytest.approx(1 - (8 / 9 + 1) / 2)  # its baseline found 4 of 5 weapons
    assert by_run["sweep/student/seed2"]["vs_seed_baseline"] == 0.0  # identical flags on the same rows
    assert by_run["other/seed42"].get("vs_seed_baseline") is None  # no baseline with its rows' config
    recipes = {r["label"]: r for r in recipe_rows(rows)}
    assert set(recipes) == {"sweep/student/*", "sweep/baseline/*", "other/seed42"}
    s = recipes["sweep/student/*"]
    f1 = [by_run[f"sweep/student/seed{x}"]["macro_f1"] for x in (42, 1, 2)]
    assert s["seeds"] == 3 and s["macro_f1_mean"] == pytest.approx(np.mean(f1))
    assert s["macro_f1_std"] == pytest.approx(np.std(f1, ddof=1)) and s["macro_f1_min"] == min(f1)
    assert s["vs_seed_baseline_mean"] == pytest.approx(np.mean(
        [by_run[f"sweep/student/seed{x}"]["vs_seed_baseline"] for x in (42, 1, 2)]))
    assert s["seeds_above_baseline"].endswith("/3") and recipes["sweep/baseline/*"]["seeds_above_baseline"] is None
    markdown = leaderboard_markdown(rows, root=root, bootstrap=100)
    assert markdown.index("### By recipe, over seeds") < markdown.index("| sweep/student/* | student |") \
        < markdown.index("### Every run")


def test_a_config_key_added_later_does_not_split_a_recipe_unless_the_run_used_another_value(tmp_path):
    """A run from before ``data.render`` and ``data.augment`` existed rendered v1 and augmented nothing: it is one
    recipe with a later run that says so, and another recipe than a run rendering v2."""
    root = tmp_path / "checkpoints"
    data = {42: "{listings: a.jsonl}",
            1: "{listings: a.jsonl, render: listing-text-v1, augment: {share: 0.0, kinds: [leetspeak, spacing, typo, "
               "emoji]}}",
            2: "{listings: a.jsonl, render: listing-text-v2, augment: {share: 0.0, kinds: [leetspeak, spacing, typo, "
               "emoji]}}"}
    for seed, section in data.items():
        run = make_run(root / "sweep" / f"seed{seed}", {"model": "student", "kind": "student"})
        (run / "config.yaml").write_text(f"experiment: demo\nseed: {seed}\ndata: {section}\n", encoding="utf-8")
        write_eval(run, scores_with())
    rows = {r["run"]: r for r in collect_leaderboard(root, bootstrap=0)}
    assert rows["sweep/seed42"]["recipe"] == rows["sweep/seed1"]["recipe"] != rows["sweep/seed2"]["recipe"]
