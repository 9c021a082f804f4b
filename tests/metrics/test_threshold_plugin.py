"""A threshold strategy from outside the package, run through the scripts (apart from test_thresholds.py, which
`make mutation` runs against every mutant: this one trains a baseline)."""

import json

import numpy as np
import pytest

TOY_STRATEGY = '''
import numpy as np


class Percentile90:
    """Each policy flags the top tenth of its validation scores."""

    def choose(self, y_true, scores, policy_ids, *, bounds):
        t = {p: float(np.clip(np.quantile(scores[:, i], 0.9), *bounds)) for i, p in enumerate(policy_ids)}
        return t, {p: "90th percentile of validation scores" for p in policy_ids}


class Forgetful:
    def choose(self, y_true, scores, policy_ids, *, bounds):
        return {policy_ids[0]: 0.5}, {policy_ids[0]: "only the first"}
'''


def test_a_threshold_strategy_from_outside_the_package_is_one_module(sample_slice, tmp_path, monkeypatch, capsys):
    """threshold_strategy=package.module:Name chooses a run's thresholds (recorded, evaluated with, and re-applied
    by benchmark_thresholds.py); one that misses a policy, or does not import, is refused in one line."""
    import os
    import subprocess
    import sys

    from moddistill.data.records import iter_rows
    from tests.conftest import ROOT, slice_overrides
    from tests.test_exit_codes import run_script

    (tmp_path / "toy_thresholds.py").write_text(TOY_STRATEGY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    run_dir = tmp_path / "run"
    code, err = run_script("baseline", slice_overrides(sample_slice, run_dir,
                                                       "threshold_strategy=toy_thresholds:Percentile90"),
                           monkeypatch, capsys)
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ids = list(metrics["thresholds"])
    val = np.array([[r.data["student"][p] for p in ids] for r in iter_rows(run_dir / "validation_scores.jsonl")])
    assert metrics["thresholds"] == {p: pytest.approx(np.clip(np.quantile(val[:, i], 0.9), 0.05, 0.95))
                                     for i, p in enumerate(ids)}
    assert set(metrics["threshold_rule"]["rules"].values()) == {"90th percentile of validation scores"}
    assert metrics["threshold_rule"]["strategy"] == "toy_thresholds:Percentile90"
    evaluation = json.loads(next((run_dir / "eval").glob("*/metrics.json")).read_text())
    assert evaluation["thresholds"] == metrics["thresholds"]

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    table = subprocess.run([sys.executable, "scripts/benchmark_thresholds.py", f"runs=[{run_dir}]", "cases=cases",
                            "rules=[global,toy_thresholds:Percentile90@0.5]"], cwd=ROOT, env=env, capture_output=True,
                           text=True)
    assert table.returncode == 0, table.stderr[-2000:]
    assert "| toy_thresholds:Percentile90@0.5 | 1 |" in table.stdout and "| global | 1 |" in table.stdout

    code, err = run_script("baseline", slice_overrides(sample_slice, tmp_path / "bad",
                                                       "threshold_strategy=toy_thresholds:Forgetful"),
                           monkeypatch, capsys)
    assert code == 2 and "threshold strategy 'toy_thresholds:Forgetful': no threshold in [0, 1] with a reason for" in err
    code, err = run_script("baseline", slice_overrides(sample_slice, tmp_path / "bad",
                                                       "threshold_strategy=toy_thresholds:Nope"), monkeypatch, capsys)
    assert code == 2 and "config key threshold_strategy='toy_thresholds:Nope': cannot import" in err
