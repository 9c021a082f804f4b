"""End to end on the real bundled all-MiniLM-L6-v2, through the scripts a user runs (marker: slow)."""

import json
import subprocess
import sys

import pytest

from moddistill.manifest import verify_export
from tests.conftest import POLICY_CASES, ROOT, read_jsonl

pytestmark = pytest.mark.slow


def run(*argv: str) -> str:
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_demo_pipeline_on_minilm(tmp_path):
    run_dir = tmp_path / "run"
    run("scripts/train.py", "experiment=demo", f"output_dir={run_dir}", "trainer.args.num_train_epochs=1")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "all-MiniLM-L6-v2" and metrics["data"]["listings"]["read"] == 3000
    assert metrics["data"]["leakage"]["dropped_ids"] == []  # the sample is built without policy-case copies

    out = run("scripts/evaluate.py", f"checkpoint={run_dir}")
    cases = json.loads((run_dir / "eval" / "marketplace_v1" / "metrics.json").read_text())
    assert "macro-F1" in out and cases["n"] == len(read_jsonl(POLICY_CASES))
    # One seeded epoch of the demo recipe reaches ~0.75 macro-F1 here (four epochs, `make demo`: ~0.80; the
    # stacked n-gram regression alone carries most of it); an untrained or broken student flags nothing or
    # everything and sits near 0.1. (Decision accuracy can't tell: flagging every case already scores 0.72.)
    assert cases["macro_f1"] > 0.6
    assert not metrics["collapse"]["collapsed"] and metrics["method"] == "full"

    run("scripts/export.py", f"checkpoint={run_dir}")
    manifest = verify_export(run_dir / "export")
    assert manifest["metrics"]["policy_cases"]["marketplace_v1"]["macro_f1"] == pytest.approx(cases["macro_f1"])

    out = run("scripts/predict.py", f"export_dir={run_dir / 'export'}", f"input={POLICY_CASES}",
              f"output={tmp_path / 'pred.jsonl'}")
    preds = read_jsonl(tmp_path / "pred.jsonl")
    assert [p["id"] for p in preds] == [c["id"] for c in read_jsonl(POLICY_CASES)]
    assert "macro-F1" in out
