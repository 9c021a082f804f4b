"""The closed-loop simulation (loop/simulation.py): both strategies start from the same labelled set, each round
adds a batch of listings not yet labelled, every round is trained and scored with its baseline, the curve is
written, and a rerun resumes from what is on disk instead of training again."""

from __future__ import annotations

import json

import pytest

from moddistill.errors import UserError
from moddistill.loop.settings import LoopSimSettings
from moddistill.loop.simulation import RoundResult, simulate, summarize
from tests.conftest import compose_config, shipped_settings


@pytest.fixture(scope="module")
def simulated(sample_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "sim"
    settings = shipped_settings(LoopSimSettings, "loop_sim", listings=str(sample_slice["listings"]),
                                labels=str(sample_slice["labels"]), policy_cases=str(sample_slice["cases"]),
                                output_dir=str(out), start_fraction=0.25, round_fraction=0.125, rounds=2,
                                experiment="tiny")
    return settings, simulate(settings, compose_config)


def test_every_strategy_starts_from_the_same_labels_and_adds_a_new_batch_each_round(simulated):
    settings, results = simulated
    assert [(r.strategy, r.round, r.labels) for r in results] == [
        ("uncertainty", 0, 40), ("uncertainty", 1, 60), ("uncertainty", 2, 80),
        ("random", 0, 40), ("random", 1, 60), ("random", 2, 80)]
    assert results[0].run_dir == results[3].run_dir  # the starting round is trained once
    # a round trains on the listings the loop labelled and nothing else (no policy examples, no contrast set)
    origins = json.loads(open(f"{results[1].run_dir}/metrics.json").read())["data"]["origins"]
    assert set(origins) == {"all", "teacher"}
    for strategy in settings.strategies:
        start = _ids(f"{settings.output_dir}/start/listings.jsonl")
        one = _ids(f"{settings.output_dir}/{strategy}/round_1/listings.jsonl")
        two = _ids(f"{settings.output_dir}/{strategy}/round_2/listings.jsonl")
        assert start < one < two and len(set(two)) == len(two) == 80
    chosen = {s: json.loads(open(f"{settings.output_dir}/{s}/round_1/chosen.json").read()) for s in settings.strategies}
    assert chosen["uncertainty"] != chosen["random"]


def _ids(path: str) -> set[str]:
    return {json.loads(line)["id"] for line in open(path, encoding="utf-8")}


def test_each_round_is_scored_with_its_baseline_and_the_curve_is_written(simulated):
    settings, results = simulated
    assert all(0 <= r.macro_f1 <= 1 and r.baseline_macro_f1 is not None for r in results)
    written = json.loads(open(f"{settings.output_dir}/loop_sim.json").read())
    assert len(written["rounds"]) == 6 and written["summary"] == json.loads(json.dumps(summarize(results)))
    assert open(f"{settings.output_dir}/loop_sim.png", "rb").read()[:4] == b"\x89PNG"
    assert "| uncertainty | 2 | 80 |" in open(f"{settings.output_dir}/loop_sim.md").read()


def test_a_rerun_resumes_from_the_finished_rounds_without_training(simulated, monkeypatch):
    settings, results = simulated
    import moddistill.distill.train as train_module

    monkeypatch.setattr(train_module, "train", lambda cfg: pytest.fail("a finished round was trained again"))
    assert simulate(settings, compose_config) == results


def test_the_summary_finds_the_labels_at_which_a_strategy_reaches_randoms_final_figure():
    def r(strategy, labels, f1):
        return RoundResult(strategy, 0, labels, f1, 0.0, None, None, 0.0, "")

    results = [r("uncertainty", 100, 0.5), r("uncertainty", 200, 0.72), r("uncertainty", 300, 0.75),
               r("random", 100, 0.5), r("random", 200, 0.6), r("random", 300, 0.7)]
    hit = summarize(results)["reaches_random_final"]["uncertainty"]
    assert hit == {"random_final_macro_f1": 0.7, "random_labels": 300, "labels": 200, "share_of_random_labels": 0.667}


def test_a_simulation_that_does_not_fit_the_listings_is_refused(sample_slice, tmp_path):
    settings = shipped_settings(LoopSimSettings, "loop_sim", listings=str(sample_slice["listings"]),
                                labels=str(sample_slice["labels"]), policy_cases=str(sample_slice["cases"]),
                                output_dir=str(tmp_path), start_fraction=0.5, round_fraction=0.2, rounds=5,
                                experiment="tiny")
    with pytest.raises(UserError, match="does not fit in 160 listings"):
        simulate(settings, compose_config)
