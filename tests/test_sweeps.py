"""A Hydra sweep over the training script: every job gets its own run, a failing job is recorded and the rest
go on, and the leaderboard lists both."""

import json
import subprocess
import sys

from moddistill.evaluation.leaderboard import collect_leaderboard
from tests.conftest import ROOT, tiny_overrides


def test_a_sweep_survives_a_failing_job_and_lands_on_the_leaderboard(sample_slice, tmp_path):
    sweep = tmp_path / "sweep"
    overrides = [o for o in tiny_overrides(sample_slice, tmp_path / "unused", "trainer.args.max_steps=2")
                 if not o.startswith("output_dir=")]
    proc = subprocess.run([sys.executable, "scripts/train.py", "-m", *overrides, "peft.method=full,bogus",
                           f"hydra.sweep.dir={sweep}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ok, failed = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.is_symlink())
    assert ok.name.startswith("0_") and "peft.method=full" in ok.name
    assert (ok / "metrics.json").exists() and (ok / "eval" / "cases" / "metrics.json").exists()
    error = json.loads((failed / "error.json").read_text())
    assert error["type"] == "ConfigError" and "peft.method='bogus': expected one of 'lora', 'full'" in error["error"]

    rows = {r["run"]: r for r in collect_leaderboard(sweep, bootstrap=50)}
    assert rows[ok.name]["status"] == "ok"
    assert rows[failed.name]["status"].startswith("failed") and "peft.method" in rows[failed.name]["status"]
