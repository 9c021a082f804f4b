"""Finding every evaluation and run under a checkpoints root and turning each into a leaderboard row (its figures, its
run's model and throughput, its recipe and seed, its difference from the reference baseline and from the baseline
trained on its own rows), and the rows of one recipe into one row over its seeds."""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from moddistill.errors import UserError
from moddistill.evaluation.leaderboard.statistics import bootstrap_macro_f1, paired_macro_f1_difference
from moddistill.evaluation.report import CASE_SCORES_FILE, LOOKALIKE_TAG
from moddistill.runs.run import CONFIG_FILE, ERROR_FILE, EVAL_DIR, METRICS_FILE

# what does not make another recipe: the seed, where the run was written, whether it was evaluated or resumed
NOT_RECIPE = ("seed", "output_dir", "resume_from", "evaluate")


# config keys added after runs were made, with what a run from before the key did: filled in before a run's recipe
# is hashed, so a new key does not split one recipe's seeds across the commit that added it
BEFORE_THE_KEY = {
    ("data", "augment"): {"share": 0.0, "kinds": ["leetspeak", "spacing", "typo", "emoji"]},
    ("data", "render"): "listing-text-v1",
}

# what makes a baseline the same-seed reference of a student: the rows and the threshold rule
SAME_ROWS = ("policy", "data", "teacher", "seed", "threshold_strategy", "max_false_reject")


OK = "ok"


NOT_EVALUATED = "not evaluated"


class LeaderboardError(UserError):
    """The evaluations cannot share a table (one case file scored against different label spaces)."""


def collect_leaderboard(root: str | Path, *, bootstrap: int = 1000, seed: int = 0,
                        cases: str | None = None, exclude: Sequence[str] = ()) -> list[dict]:
    """One row per (run, policy-case file) evaluated under ``root``, then one per run without an evaluation.

    Evaluated rows come grouped by case file (its stem), best macro-F1 first; their status is "ok".
    A run directory (it holds config.yaml or error.json) with no evaluation of the chosen cases gets
    "not evaluated", or "failed: <error>" when it holds error.json. ``cases`` keeps only the case file
    with that stem. Symlinked directories (checkpoints/<experiment>/latest) are not walked, so no run
    is listed twice. Directories whose path under ``root`` matches an ``exclude`` glob (``loop_sim``,
    ``sweeps/2026-*``) are not walked either: the loop simulation's rounds, trained on a few hundred rows
    each, are not candidates, and one of their baselines would otherwise become every student's reference.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"{root}: no such directory (pass root=<a checkpoints directory>)")
    root_path = root_path.resolve()
    eval_dirs, run_dirs = _walk(root_path, exclude)

    rows, evaluated = [], set()
    for eval_dir in eval_dirs:
        if cases is not None and eval_dir.name != str(cases):
            evaluated.add(eval_dir.parent.parent)  # evaluated, on other cases: not a row of this table
            continue
        row = _evaluation_row(root_path, eval_dir, bootstrap=bootstrap, seed=seed)
        if row is not None:
            rows.append(row)
            evaluated.add(eval_dir.parent.parent)
    _check_label_spaces(rows)
    _compare_with_baseline(rows, bootstrap=bootstrap, seed=seed)
    _compare_with_seed_baseline(rows, bootstrap=bootstrap, seed=seed)
    rows.sort(key=lambda r: (r["cases"], -r["macro_f1"] if r["macro_f1"] is not None else float("inf"), r["run"]))
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]

    others = [_run_row(root_path, d) for d in sorted(run_dirs - evaluated)]
    return rows + sorted(others, key=lambda r: r["run"])


def recipe_rows(rows: list[dict]) -> list[dict]:
    """One row per (case file, recipe) over its seeds: mean, std (ddof 1; 0 for one seed) and range of macro-F1,
    the mean of each seed's difference from its same-seed baseline and how many of those paired intervals lie
    above 0, and the means of the decision figures. Best mean first."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == OK and r.get("recipe") and r.get("macro_f1") is not None:
            groups[(r["cases"], r["recipe"])].append(r)
    out = []
    for (cases, recipe), group in groups.items():
        f1 = np.array([r["macro_f1"] for r in group])
        diffs = [r for r in group if r.get("vs_seed_baseline") is not None]
        base = [r["seed_baseline_macro_f1"] for r in diffs]
        out.append({
            "cases": cases, "recipe": recipe, "label": _recipe_label([r["run"] for r in group]),
            "kind": group[0].get("kind"), "model": group[0].get("model"), "seeds": len({r.get("seed") for r in group}),
            "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
            "macro_f1_min": float(f1.min()), "macro_f1_max": float(f1.max()),
            "vs_seed_baseline_mean": float(np.mean([r["vs_seed_baseline"] for r in diffs])) if diffs else None,
            "seeds_above_baseline": (f"{sum((r.get('vs_seed_baseline_ci_low') or 0) > 0 for r in diffs)}/{len(diffs)}"
                                     if diffs and group[0].get("kind") != "baseline" else None),
            "baseline_macro_f1_mean": float(np.mean(base)) if base else None,
            **{f"{k}_mean": _mean(r.get(k) for r in group) for k in ("decision_accuracy", "lookalike_false_reject",
                                                                        "inv_consistency")},
            "lookalike_false_reject_min": _extreme(min, (r.get("lookalike_false_reject") for r in group)),
            "lookalike_false_reject_max": _extreme(max, (r.get("lookalike_false_reject") for r in group)),
            "runs": " ".join(sorted(r["run"] for r in group)),
        })
    return sorted(out, key=lambda r: (r["cases"], -r["macro_f1_mean"], r["label"]))


def _recipe_label(runs: list[str]) -> str:
    """The runs' common directory (``sweeps/demo``), or the one run's path."""
    if len(runs) == 1:
        return runs[0]
    common = os.path.commonpath(runs) if all(not r.startswith("/") for r in runs) else ""
    return f"{common or '.'}/*"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _extreme(fn, values) -> float | None:
    values = [v for v in values if v is not None]
    return float(fn(values)) if values else None


def _walk(root: Path, exclude: Sequence[str] = ()) -> tuple[list[Path], set[Path]]:
    """Evaluation directories (<run>/eval/<stem>/ with metrics.json) and run directories under root, except
    those below a directory matching an ``exclude`` glob (on its path relative to root).
    os.walk does not descend into symlinked directories, and every path is resolved, so a run reachable
    through checkpoints/<experiment>/latest is found once, under its own name."""
    eval_dirs, run_dirs = [], set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".")
                             and not any(fnmatch.fnmatch((rel / n).as_posix(), pattern) for pattern in exclude))
        d = Path(dirpath).resolve()
        if CONFIG_FILE in filenames or ERROR_FILE in filenames:
            run_dirs.add(d)
        elif METRICS_FILE in filenames and d.parent.name == EVAL_DIR:
            eval_dirs.append(d)
    return sorted(set(eval_dirs)), run_dirs


def _evaluation_row(root: Path, eval_dir: Path, *, bootstrap: int, seed: int) -> dict | None:
    run_dir = eval_dir.parent.parent
    try:
        result = json.loads((eval_dir / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {**_run_row(root, run_dir), "cases": eval_dir.name, "macro_f1": None,
                "status": f"unreadable: {_rel(root, eval_dir / METRICS_FILE)} ({e})"}
    if not isinstance(result, dict) or "per_policy" not in result or "policy_cases" not in result:
        return None  # some other metrics.json under a directory that happens to be called eval/
    inv, dirn, cal = result.get("invariance", {}), result.get("directional", {}), result.get("calibration", {})
    row = {
        "run": _rel(root, run_dir), "status": OK, **_run_info(run_dir, result),
        "cases": eval_dir.name, "n": result.get("n"),
        "macro_f1": _num(result.get("macro_f1")), "macro_f1_ci_low": None, "macro_f1_ci_high": None,
        "micro_f1": _num(result.get("micro_f1")), "decision_accuracy": _num(result.get("decision_accuracy")),
        "lookalike_false_reject": _num(result.get("false_reject", {}).get(LOOKALIKE_TAG, {}).get("rate")),
        "inv_consistency": _num(inv.get("consistent")), "dir_passed": _num(dirn.get("passed")),
        "brier": _num(cal.get("brier")), "ece": _num(cal.get("ece")),
        "listings_per_s": _num((result.get("scoring") or {}).get("listings_per_second")),
        "_labels": tuple(result.get("thresholds") or result["per_policy"]),
    }
    config = _read_config(run_dir) if "teacher_labels" not in result else None
    if isinstance(config, dict):
        config = _with_keys_from_before(config)
        row["recipe"] = _digest({k: v for k, v in config.items() if k not in NOT_RECIPE})
        row["seed"] = config.get("seed")
        row["_rows_key"] = _digest({k: config.get(k) for k in SAME_ROWS})
    for lang, m in sorted(result.get("slices", {}).get("language", {}).items()):
        row[f"f1_{lang}"] = _num(m.get("macro_f1"))
    flags = _flags(eval_dir, result)
    if flags is not None and bootstrap > 0:
        row["_flags"] = flags
        row["macro_f1_ci_low"], row["macro_f1_ci_high"] = map(_num, bootstrap_macro_f1(
            flags[1], flags[2], resamples=bootstrap, seed=seed))
    return row


def _flags(eval_dir: Path, result: dict) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
    """(case ids, expected, flagged) from case_scores.jsonl, flagged at the evaluation's thresholds; None when
    the file is missing or does not match the evaluation (an older evaluation, a hand-edited file)."""
    path = eval_dir / CASE_SCORES_FILE
    thresholds = result.get("thresholds")
    if not thresholds or not path.exists():
        return None
    ids = list(thresholds)
    try:
        # split on "\n" only: str.splitlines also breaks at U+0085 and U+2028, which a case's text may hold raw
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
        y_true = np.array([[p in r["expected"] for p in ids] for r in rows], dtype=bool).reshape(len(rows), len(ids))
        scores = np.array([[r["scores"][p] for p in ids] for r in rows], dtype=float).reshape(len(rows), len(ids))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(rows) != result.get("n"):
        return None
    return tuple(str(r.get("id")) for r in rows), y_true, scores >= np.array([thresholds[p] for p in ids], dtype=float)


def reference_baseline(rows: list[dict]) -> dict | None:
    """The best-scoring baseline among ``rows`` (ties broken by run name, so the table names the one compared)."""
    baselines = [r for r in rows if r.get("kind") == "baseline" and r["macro_f1"] is not None]
    return max(baselines, key=lambda r: (r["macro_f1"], r["run"])) if baselines else None


def _compare_with_baseline(rows: list[dict], *, bootstrap: int, seed: int) -> None:
    """Per case file, each row's macro-F1 minus the best baseline's (``vs_baseline``), with the paired interval;
    the baseline row itself gets 0. Rows whose case scores are missing, or list other cases, get none."""
    by_cases: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cases[r["cases"]].append(r)
    for group in by_cases.values():
        reference = reference_baseline([r for r in group if "_flags" in r])
        if reference is None:
            continue
        ref_ids, ref_true, ref_pred = reference["_flags"]
        for r in group:
            if "_flags" not in r or r["_flags"][0] != ref_ids or r["macro_f1"] is None:
                continue
            r["vs_baseline"] = r["macro_f1"] - reference["macro_f1"]
            r["vs_baseline_ci_low"], r["vs_baseline_ci_high"] = map(_num, paired_macro_f1_difference(
                ref_true, r["_flags"][2], ref_pred, resamples=bootstrap, seed=seed))


def _compare_with_seed_baseline(rows: list[dict], *, bootstrap: int, seed: int) -> None:
    """Each run's macro-F1 minus that of the baseline trained on the same rows (same policy, data, teacher, seed
    and threshold rule; the newest such baseline), with the paired interval: what one seed of a recipe gains."""
    baselines: dict[tuple[str, str], dict] = {}
    for r in sorted(rows, key=lambda r: r["run"]):
        if r.get("kind") == "baseline" and "_flags" in r and r.get("_rows_key"):
            baselines[(r["cases"], r["_rows_key"])] = r
    for r in rows:
        ref = baselines.get((r["cases"], r.get("_rows_key")))
        if ref is None or "_flags" not in r or r["_flags"][0] != ref["_flags"][0] or r["macro_f1"] is None:
            continue
        r["vs_seed_baseline"], r["seed_baseline"], r["seed_baseline_macro_f1"] = (
            r["macro_f1"] - ref["macro_f1"], ref["run"], ref["macro_f1"])
        if r is not ref:
            r["vs_seed_baseline_ci_low"], r["vs_seed_baseline_ci_high"] = map(_num, paired_macro_f1_difference(
                ref["_flags"][1], r["_flags"][2], ref["_flags"][2], resamples=bootstrap, seed=seed))


def _read_config(run_dir: Path):
    try:
        return yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _with_keys_from_before(config: dict) -> dict:
    config = copy.deepcopy(config)
    for (section, key), value in BEFORE_THE_KEY.items():
        if isinstance(config.get(section), dict):
            config[section].setdefault(key, value)
    return config


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _run_info(run_dir: Path, result: dict) -> dict:
    """kind, model, parameters, training throughput and the collapse check of the run an evaluation belongs to."""
    if "teacher_labels" in result:
        teacher = result.get("teacher") or {}
        return {"kind": "teacher", "model": teacher.get("model") or Path(result["teacher_labels"]).stem}
    metrics = _read_json(run_dir / METRICS_FILE)
    if not isinstance(metrics, dict):
        return {"kind": "student" if "checkpoint" in result else None, "model": None}
    train = metrics.get("train") if isinstance(metrics.get("train"), dict) else {}
    collapse = metrics.get("collapse") if isinstance(metrics.get("collapse"), dict) else {}
    return {"kind": metrics.get("kind", "student"), "model": metrics.get("model"),
            "parameters": _parameters(metrics.get("parameters")),
            "train_samples_per_s": _num(train.get("train_samples_per_second")),
            "collapsed": collapse.get("collapsed")}


def _run_row(root: Path, run_dir: Path) -> dict:
    """A run without an evaluation of the cases in the table: not evaluated, or failed (error.json)."""
    status = NOT_EVALUATED
    if (run_dir / ERROR_FILE).exists():
        error = _read_json(run_dir / ERROR_FILE)
        message = error.get("error") if isinstance(error, dict) else None
        status = f"failed: {message or 'see ' + ERROR_FILE}"
    return {"run": _rel(root, run_dir), "status": status, **_run_info(run_dir, {})}


def _check_label_spaces(rows: list[dict]) -> None:
    first: dict[str, dict] = {}
    for r in rows:
        if "_labels" not in r:
            continue
        seen = first.setdefault(r["cases"], r)
        if set(seen["_labels"]) != set(r["_labels"]):
            raise LeaderboardError(
                f"case file {r['cases']!r} was scored against different policies: {seen['run']} has "
                f"{len(seen['_labels'])} labels, {r['run']} has {len(r['_labels'])} "
                f"({', '.join(sorted(set(seen['_labels']) ^ set(r['_labels'])))} differ); "
                "rename one case file or pass cases=<stem> and root=<a narrower directory>")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _parameters(value):
    """A count, or from a dict of counts the total (else the trainable count)."""
    if isinstance(value, dict):
        value = value.get("total", value.get("trainable"))
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _num(x) -> float | None:
    """A finite float, or None (written as a blank) for a missing or undefined figure."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.number)):
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)
