"""Finishing a run (runs/finish.py): one path for students and baselines, thresholds by the run's rule, the
validation scores in row order, metrics.json only ever whole, and ``latest`` pointing at the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from moddistill.metrics.thresholds import ThresholdRule, choose_thresholds
from moddistill.runs.finish import finish_run
from moddistill.runs.run import METRICS_FILE, VALIDATION_SCORES_FILE
from tests.conftest import read_jsonl


@dataclass
class Split:
    policy: object
    validation: list
    report: dict
    teacher: np.ndarray
    lookalike: np.ndarray
    render: str = "listing-text-v1"

    def labels(self, split: str) -> np.ndarray:
        assert split == "validation"
        return self.teacher

    def lookalikes(self, split: str) -> np.ndarray:
        return self.lookalike


@pytest.fixture
def split(policy):
    rng = np.random.default_rng(0)
    n, k = 60, len(policy.ids)
    teacher = (rng.random((n, k)) < 0.15).astype(float)
    lookalike = (teacher.sum(axis=1) == 0) & (rng.random(n) < 0.3)
    rows = [SimpleNamespace(listing=SimpleNamespace(id=f"v{i:02d}"), is_lookalike=bool(lookalike[i])) for i in range(n)]
    scores = np.clip(teacher * 0.6 + rng.random((n, k)) * 0.5, 0, 1)
    return Split(policy, rows, {"train": 100, "validation": n}, teacher, lookalike), scores


def _finish(tmp_path: Path, split, kind: str, **choices) -> tuple[Path, dict]:
    data, scores = split
    run_dir = tmp_path / "exp" / kind
    run_dir.mkdir(parents=True)
    cfg = OmegaConf.create({"experiment": "exp", "threshold_strategy": "global", "max_false_reject": 0.1})
    metrics = finish_run(run_dir, cfg, data, scores, kind=kind, model={"model": f"a {kind}"},
                         train={"wall_seconds": 1.0}, resources={"device": "cpu"}, choices=choices or None)
    return run_dir, metrics


def test_a_run_is_finished_by_its_rule_with_its_scores_in_row_order(tmp_path, split):
    data, scores = split
    run_dir, metrics = _finish(tmp_path, split, "student", encoder_weight={"chosen": 0.5})
    on_disk = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(metrics, default=str))
    rule = ThresholdRule(strategy="global", max_false_reject=0.1)
    expected = choose_thresholds(data.teacher >= 0.5, scores, data.policy.ids, rule, data.lookalike)
    assert on_disk["thresholds"] == expected.thresholds
    assert on_disk["threshold_rule"]["strategy"] == "global" and on_disk["threshold_rule"]["max_false_reject"] == 0.1
    assert on_disk["kind"] == "student" and on_disk["model"] == "a student" and on_disk["data"] == data.report
    assert on_disk["render_version"] == "listing-text-v1"  # the rendering the rows were read in, not the newest
    assert on_disk["encoder_weight"] == {"chosen": 0.5} and on_disk["resources"]["device"] == "cpu"
    assert "peak_rss_mb" in on_disk["resources"] and "git_commit" in on_disk["provenance"]
    rows = read_jsonl(run_dir / VALIDATION_SCORES_FILE)
    assert [r["id"] for r in rows] == [r.listing.id for r in data.validation]
    assert [r["lookalike"] for r in rows] == list(data.lookalike)
    assert np.allclose([[r["student"][p] for p in data.policy.ids] for r in rows], scores)
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()


def test_students_and_baselines_record_the_same_things(tmp_path, split):
    _, student = _finish(tmp_path, split, "student", encoder_weight={"chosen": 1.0})
    _, baseline = _finish(tmp_path, split, "baseline")
    assert set(student) - set(baseline) == {"encoder_weight"} and set(baseline) <= set(student)
    assert student["thresholds"] == baseline["thresholds"]  # same scores, same rule


def test_metrics_json_appears_only_whole(tmp_path, split, monkeypatch):
    """Written to a temporary file and renamed: a crash before the rename leaves no metrics.json for the leaderboard
    or a sweep's next job to read half of."""
    def crash(self, target):
        raise OSError("killed before the rename")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="killed before the rename"):
        _finish(tmp_path, split, "student")
    assert not (tmp_path / "exp" / "student" / METRICS_FILE).exists()
