"""Training on a slice of the sample with a tiny random BERT: outputs, leakage guard, resume, 2 processes."""

import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from moddistill.distill.restore import load_student
from moddistill.distill.train import train
from tests.conftest import ROOT, compose_config, read_jsonl, tiny_overrides, write_jsonl


def test_run_writes_its_artifacts(tiny_run, policy):
    for name in ("config.yaml", "metrics.json", "validation_scores.jsonl", "adapter/adapter_model.safetensors",
                 "tokenizer/tokenizer.json", "base_model/config.json"):
        assert (tiny_run / name).exists(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    data = metrics["data"]
    assert data["listings"]["read"] == data["listings"]["kept"] + data["listings"]["rejected"] == 160
    assert data["train"] + data["validation"] + len(data["leakage"]["dropped_ids"]) == 160
    assert data["validation"] > 0 and data["groups"] <= 160
    assert set(metrics["thresholds"]) == set(policy.ids)
    assert all(0.05 <= t <= 0.95 for t in metrics["thresholds"].values())
    assert metrics["render_version"] == "listing-text-v2" and metrics["provenance"]["torch"] == torch.__version__
    assert 0.0 <= metrics["validation"]["at_thresholds"]["macro_f1"] <= 1.0
    assert len(read_jsonl(tiny_run / "validation_scores.jsonl")) == data["validation"]
    assert (tiny_run.parent / "latest").resolve() == tiny_run.resolve()


def test_training_refuses_rows_that_copy_a_policy_case(sample_slice, tmp_path):
    cases = read_jsonl(sample_slice["cases"])[:3]
    listings = read_jsonl(sample_slice["listings"])
    labels = read_jsonl(sample_slice["labels"])
    for i, case in enumerate(cases):  # smuggle three policy cases into the training data
        listing = {k: case[k] for k in ("title", "description", "category", "price", "currency", "market", "language")}
        listings.append({**listing, "id": f"leak-{i}"})
        labels.append({"id": f"leak-{i}", "labels": case["expected"]})
    data = {**sample_slice,
            "listings": write_jsonl(tmp_path / "l.jsonl", listings), "labels": write_jsonl(tmp_path / "t.jsonl", labels)}
    run = train(compose_config("train", tiny_overrides(data, tmp_path / "run", "trainer.args.max_steps=1")))
    leakage = json.loads((run / "metrics.json").read_text())["data"]["leakage"]
    assert {"leak-0", "leak-1", "leak-2"} <= set(leakage["dropped_ids"])
    assert leakage["exact"] >= 3


def test_a_near_duplicate_of_a_case_is_refused_at_the_configured_threshold(sample_slice, tmp_path):
    """A case with its last word changed (word-trigram Jaccard in [0.8, 0.95)): refused at 0.8 (the default),
    kept at 0.95."""
    from moddistill.data.near_duplicates import jaccard, shingles
    from moddistill.distill.data import prepare_training_data

    def near_copy(case):
        words = case["description"].split()[:-1] + ["zzqx"]  # a word no listing has
        near = {**{k: case[k] for k in ("title", "category", "price", "currency", "market", "language")},
                "id": "near-0", "description": " ".join(words)}
        return near, jaccard(shingles(f"{case['title']} {case['description']}"),
                             shingles(f"{near['title']} {near['description']}"))

    case, near = next((c, n) for c in read_jsonl(sample_slice["cases"]) for n, sim in [near_copy(c)]
                      if 0.8 <= sim < 0.95)
    data = {**sample_slice,
            "listings": write_jsonl(tmp_path / "l.jsonl", read_jsonl(sample_slice["listings"]) + [near]),
            "labels": write_jsonl(tmp_path / "t.jsonl", read_jsonl(sample_slice["labels"]) + [
                {"id": "near-0", "labels": case["expected"]}])}
    for threshold, refused in ((0.8, True), (0.95, False)):
        cfg = compose_config("train", tiny_overrides(data, tmp_path / str(threshold),
                                                     f"data.leakage_threshold={threshold}"))
        prepared = prepare_training_data(cfg, tmp_path / str(threshold))
        kept = {r.listing.id for r in prepared.train + prepared.validation}
        assert ("near-0" in prepared.report["leakage"]["dropped_ids"]) is refused
        assert ("near-0" not in kept) is refused
        assert prepared.report["leakage"]["near"] == int(refused) and prepared.report["leakage"]["exact"] == 0


def test_skipped_bad_rows_of_a_training_run_land_in_its_rejects_dir(sample_slice, tmp_path):
    from moddistill.distill.data import prepare_training_data

    listings = read_jsonl(sample_slice["listings"])
    listings[4]["price"] = "ask me"
    listings[9]["language"] = "English"
    data = {**sample_slice, "listings": write_jsonl(tmp_path / "l.jsonl", listings)}
    cfg = compose_config("train", tiny_overrides(data, tmp_path / "run", "data.on_error=skip"))
    prepared = prepare_training_data(cfg, tmp_path / "run")
    rejects = read_jsonl(tmp_path / "run" / "rejects" / "listings_rejects.jsonl")
    assert [(r["location"], r["field"]) for r in rejects] == [("line 5", "price"), ("line 10", "language")]
    read = prepared.report["listings"]
    assert (read["read"], read["kept"], read["rejected"]) == (len(listings), len(listings) - 2, 2)
    # their labels have no listing now: counted as unused, not an error
    assert prepared.report["join"]["unused_labels"] == 2


class KillAfterStep(TrainerCallback):
    """Simulates a kill: raises at the end of a step, before that step's checkpoint is written."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed at step {self.step}")


STEPS = ["trainer.args.max_steps=6", "trainer.args.save_strategy=steps", "trainer.args.save_steps=2",
         "trainer.args.eval_strategy=steps", "trainer.args.eval_steps=2", "trainer.args.save_total_limit=null"]


def test_resume_after_an_interrupted_run_matches_an_uninterrupted_one(sample_slice, tmp_path):
    reference = train(compose_config("train", tiny_overrides(sample_slice, tmp_path / "reference", *STEPS)))

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(compose_config("train", tiny_overrides(sample_slice, interrupted, *STEPS)), callbacks=[KillAfterStep(5)])
    assert sorted(p.name for p in interrupted.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (interrupted / "metrics.json").exists()

    with pytest.raises(FileExistsError, match="resume_from"):
        train(compose_config("train", tiny_overrides(sample_slice, interrupted, *STEPS)))
    # Resuming ignores other overrides: the run continues with the config it was started with.
    resumed = train(compose_config("train", tiny_overrides(sample_slice, tmp_path / "x", f"resume_from={interrupted}",
                                                           "trainer.args.learning_rate=0.5")))
    assert resumed == interrupted
    state = json.loads((interrupted / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    a = load_file(reference / "adapter" / "adapter_model.safetensors")
    b = load_file(interrupted / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_resume_needs_a_run_directory(tmp_path, sample_slice):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        train(compose_config("train", tiny_overrides(sample_slice, tmp_path / "x", f"resume_from={tmp_path}")))


def test_two_processes_on_cpu(sample_slice, tmp_path):
    run_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "scripts" / "train.py"), *tiny_overrides(sample_slice, run_dir, "trainer.args.max_steps=4")]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    # Known flake (3 of ~14 runs, fresh clones only): process 0 dies inside train() and process 1 reports
    # "connection closed by peer". The third time showed process 0's cause: its config.yaml, read back right
    # after it was written, lacked `seed` (the file's end), as if another writer were truncating it; config
    # writes are now atomic. One retry stays; the first failure's own error is kept as a warning.
    for attempt in (1, 2):
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        rank0 = "\n".join([line for line in proc.stderr.splitlines() if line.startswith("[rank0]")][-25:])
        if proc.returncode == 0 or attempt == 2:
            break
        warnings.warn(f"two-process training failed once and is retried; process 0 said:\n{rank0}\n"
                      f"{proc.stderr[-1500:]}")
        shutil.rmtree(run_dir, ignore_errors=True)
    assert proc.returncode == 0, rank0 + "\n...\n" + proc.stderr[-1500:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resources"]["num_processes"] == 2
    state = json.loads((run_dir / "checkpoint-4" / "trainer_state.json").read_text())
    # 4 optimizer steps of 8 rows on each of 2 processes: 64 rows seen
    assert state["global_step"] == 4 and state["train_batch_size"] == 8
    assert metrics["train"]["train_samples_per_second"] > 0


def test_script_reports_a_bad_row_in_one_line(sample_slice, tmp_path):
    rows = read_jsonl(sample_slice["listings"])[:5]
    rows[2]["price"] = "ask me"
    data = {**sample_slice, "listings": write_jsonl(tmp_path / "bad.jsonl", rows)}
    proc = subprocess.run([sys.executable, "scripts/train.py", *tiny_overrides(data, tmp_path / "run")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"error: {tmp_path / 'bad.jsonl'}, line 3, field 'price': expected a number, got 'ask me'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validation_scores_are_the_checkpoints_scores_in_row_order(tiny_run):
    from moddistill.data.listings import read_listings, render_listing
    from moddistill.distill.inference import score_texts
    from moddistill.runs.run import Run
    from tests.conftest import read_jsonl as rj

    run = Run.open(tiny_run)
    rows = rj(tiny_run / "validation_scores.jsonl")
    listings = {x.id: x for x in read_listings(run.cfg.data.listings)[0]}
    model, tokenizer = load_student(run)
    expected = score_texts(model, tokenizer, [render_listing(listings[r["id"]]) for r in rows], max_length=run.max_length)
    for r, e in zip(rows, expected):
        assert [r["student"][p] for p in run.policy.ids] == pytest.approx(list(e), abs=1e-4)
