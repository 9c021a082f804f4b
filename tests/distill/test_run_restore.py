"""What a run restores after training, for LoRA and full fine-tuning alike.

A tiny stacked run of each method is trained with an encoder-weight grid that excludes 1 and a short max_length,
and the student object training ended with is kept. Every consumer of the run must then score as that in-memory
student does: evaluation (which reloads the run), the merged export in torch, ONNX fp32 and ONNX int8 (looser).
Every value chosen after training and kept outside the weights is checked on each path: the encoder weight
(metrics.json), the decision thresholds (metrics.json), the n-gram channel's IDF and stacked regression (saved
in model/ or, for LoRA, in adapter/), the policy's label order and max_length (config.yaml). The last tests plant
the bug this file exists for: with any entry of ``restore.RESTORES`` skipped, the reload check fails.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoModelForSequenceClassification, TrainerCallback

from moddistill.data.listings import read_listings, render_listing
from moddistill.distill import restore
from moddistill.distill.inference import score_texts
from moddistill.distill.model import load_tokenizer
from moddistill.distill.restore import load_student
from moddistill.distill.train import train
from moddistill.evaluation.evaluate import evaluate_checkpoint
from moddistill.evaluation.scorer import score_run
from moddistill.export.directory import export_run
from moddistill.runs.run import Run
from moddistill.serving.manifest import verify_export
from moddistill.serving.runtime import ExportedModel
from tests.conftest import compose_config, read_jsonl, tiny_overrides

METHODS = ["lora", "full"]
GRID = [0.25, 0.5]  # excludes 1: a reload that forgets the chosen weight scores at 1, and differently
MAX_LENGTH = 32  # shorter than many policy cases: a path that truncates elsewhere scores differently
OVERRIDES = ["model.ngram={buckets:4096,char_ngrams:[2,4],word_ngrams:[1,2],fit:stacked}",
             f"trainer.encoder_weight_grid=[{','.join(map(str, GRID))}]", f"model.max_length={MAX_LENGTH}",
             "trainer.args.max_steps=8"]
ATOL = 1e-4  # torch and ONNX fp32 against the in-memory student (a merged LoRA differs in float rounding only)
INT8_ATOL = 0.01  # measured: 4e-4 at most (the n-gram table stays fp32; the encoder is scaled by its weight)


class KeepModel(TrainerCallback):
    """Keeps the student training ends with: the object the encoder weight is then chosen on and saved from."""

    model = None

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.model = model


@dataclass
class Trained:
    method: str
    run_dir: Path
    model: object  # the in-memory student (LoRA: the unmerged PeftModel)
    metrics: dict
    listings: list  # the slice's policy cases, as listings
    scores: np.ndarray  # the in-memory student's scores of them, at the chosen encoder weight
    at_weight_1: np.ndarray  # the same student's scores at encoder weight 1

    @property
    def chosen(self) -> float:
        return self.metrics["encoder_weight"]["chosen"]


@pytest.fixture(scope="module")
def trained(sample_slice, tmp_path_factory):
    """``trained(method)``: one tiny stacked run of that method (trained once per module)."""
    cache: dict[str, Trained] = {}

    def get(method: str) -> Trained:
        if method not in cache:
            keep = KeepModel()
            cfg = compose_config("train", tiny_overrides(sample_slice, tmp_path_factory.mktemp("restore") / method,
                                                         f"peft={method}", *OVERRIDES))
            run_dir = train(cfg, callbacks=[keep])
            listings, _ = read_listings(sample_slice["cases"])
            texts = [render_listing(x) for x in listings]
            tokenizer, model = load_tokenizer(cfg.model), keep.model
            scores = score_texts(model, tokenizer, texts, max_length=MAX_LENGTH, progress=False)
            chosen = model.config.encoder_weight
            model.config.encoder_weight = 1.0
            at_weight_1 = score_texts(model, tokenizer, texts, max_length=MAX_LENGTH, progress=False)
            model.config.encoder_weight = chosen
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
            cache[method] = Trained(method, run_dir, model, metrics, listings, scores, at_weight_1)
        return cache[method]

    return get


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """``exported(method)``: the run's export (merged model, ONNX fp32 and int8), made once per module."""
    cache: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in cache:
            # the tiny student learns next to nothing in 8 steps (marked collapsed): exported to test the export
            cache[method] = export_run(trained(method).run_dir, tmp_path_factory.mktemp("export") / method,
                                       allow_collapsed=True)
        return cache[method]

    return get


def case_scores(eval_dir: Path, labels) -> np.ndarray:
    return np.array([[r["scores"][p] for p in labels] for r in read_jsonl(eval_dir / "case_scores.jsonl")])


def check_evaluation(t: Trained, out: Path) -> dict:
    """Evaluation reloads the run: its case scores are the in-memory student's, at the run's thresholds."""
    result, _ = evaluate_checkpoint(t.run_dir, output_dir=out)
    labels = list(t.metrics["thresholds"])
    np.testing.assert_allclose(case_scores(out, labels), t.scores, atol=ATOL)
    assert result["thresholds"] == t.metrics["thresholds"]
    return result


def check_export(t: Trained, export_dir: Path) -> dict:
    """The export records the chosen weight and thresholds, and its torch model scores as the in-memory one."""
    manifest = verify_export(export_dir)
    assert manifest["model"]["encoder_weight"] == t.chosen
    assert json.loads((export_dir / "config.json").read_text(encoding="utf-8"))["encoder_weight"] == t.chosen
    assert manifest["thresholds"] == t.metrics["thresholds"]
    got = ExportedModel.load(export_dir, "torch").score(t.listings, progress=False)
    np.testing.assert_allclose(got, t.scores, atol=ATOL)
    return manifest


@pytest.mark.parametrize("method", METHODS)
def test_a_stacked_run_chooses_an_encoder_weight_other_than_1_that_changes_its_scores(trained, method):
    t = trained(method)
    assert t.metrics["method"] == method
    assert t.chosen in GRID and t.model.config.encoder_weight == t.chosen
    assert set(t.metrics["encoder_weight"]["validation_macro_f1"]) == {str(w) for w in GRID}
    # the weight is observable: a path that scores at 1 instead misses by far more than the checks' tolerances
    diff = np.abs(t.scores - t.at_weight_1)
    assert diff.max() > 2 * INT8_ATOL and diff.mean() > 100 * ATOL, (diff.max(), diff.mean())


@pytest.mark.parametrize("method", METHODS)
def test_evaluation_after_reload_scores_with_the_chosen_encoder_weight(trained, method, tmp_path):
    t = trained(method)
    model, _ = load_student(Run.open(t.run_dir))
    assert model.config.encoder_weight == t.chosen and not hasattr(model, "peft_config")  # LoRA comes merged
    check_evaluation(t, tmp_path / "eval")


@pytest.mark.parametrize("method", METHODS)
def test_the_merged_export_scores_with_the_chosen_encoder_weight(exported, trained, method):
    t = trained(method)
    manifest = check_export(t, exported(method))
    assert manifest["model"]["adapter"] == ("LoRA merged into the base" if method == "lora" else
                                            "none (full fine-tuning)")
    model = AutoModelForSequenceClassification.from_pretrained(exported(method))
    assert not any("lora" in k or "modules_to_save" in k for k in model.state_dict())


@pytest.mark.parametrize("method", METHODS)
def test_onnx_fp32_and_int8_score_with_the_chosen_encoder_weight(exported, trained, method):
    t = trained(method)
    fp32 = ExportedModel.load(exported(method), "onnx").score(t.listings, progress=False)
    np.testing.assert_allclose(fp32, t.scores, atol=ATOL)
    int8 = ExportedModel.load(exported(method), "onnx_int8").score(t.listings, progress=False)
    error = np.abs(int8 - t.scores)
    assert error.max() < INT8_ATOL, error.max()
    # quantization error is well below what the encoder weight moves: int8 scores at the chosen weight, not at 1
    assert error.mean() < 0.25 * np.abs(t.at_weight_1 - t.scores).mean()


def _channel(model):
    """The n-gram channel of a student: a plain one, or (an in-memory LoRA student) the copy peft trained."""
    ngram = model.get_base_model().ngram if hasattr(model, "get_base_model") else model.ngram
    return ngram.modules_to_save["default"] if hasattr(ngram, "modules_to_save") else ngram


@pytest.mark.parametrize("method", METHODS)
def test_the_ngram_channels_idf_and_stacked_regression_survive_reload_and_export(exported, trained, method):
    t = trained(method)
    trained_channel = _channel(t.model)
    assert trained_channel.idf.max() > 1.0 and trained_channel.bag.weight.abs().sum() > 0  # fitted, not defaults
    reloaded, _ = load_student(Run.open(t.run_dir))
    served = AutoModelForSequenceClassification.from_pretrained(exported(method))
    for model in (reloaded, served):
        assert model.config.ngram_spec == t.model.config.ngram_spec
        for name, tensor in _channel(model).state_dict().items():
            torch.testing.assert_close(tensor, trained_channel.state_dict()[name], rtol=0, atol=0, msg=name)
    manifest = verify_export(exported(method))
    assert manifest["input"]["ngram"] == manifest["model"]["ngram_channel"] == t.model.config.ngram


@pytest.mark.parametrize("method", METHODS)
def test_the_thresholds_chosen_after_training_are_the_ones_evaluation_and_export_use(exported, trained, method,
                                                                                    tmp_path):
    t = trained(method)
    run = Run.open(t.run_dir)
    thresholds = t.metrics["thresholds"]
    assert set(thresholds.values()) != {0.5}  # a path that fell back to 0.5 would be seen
    assert run.thresholds == thresholds == verify_export(exported(method))["thresholds"]
    result = check_evaluation(t, tmp_path / "eval")
    for row in read_jsonl(tmp_path / "eval" / "case_scores.jsonl"):
        assert row["flagged"] == [p for p, s in row["scores"].items() if s >= thresholds[p]]
    assert result["thresholds"] == thresholds
    # they were chosen on validation scores that are the reloaded student's own
    rows = read_jsonl(t.run_dir / "validation_scores.jsonl")
    listings = {x.id: x for x in read_listings(run.cfg.data.listings)[0]}
    reloaded = score_run(run, [listings[r["id"]] for r in rows])
    np.testing.assert_allclose([[r["student"][p] for p in run.policy.ids] for r in rows], reloaded, atol=ATOL)


@pytest.mark.parametrize("method", METHODS)
def test_max_length_and_label_order_come_from_config_yaml_on_every_path(exported, trained, method, tmp_path):
    t = trained(method)
    manifest = verify_export(exported(method))
    assert Run.open(t.run_dir).max_length == manifest["max_length"] == manifest["input"]["max_length"] == MAX_LENGTH
    tokenizer = load_tokenizer(Run.open(t.run_dir).cfg.model)
    lengths = [len(ids) for ids in tokenizer([render_listing(x) for x in t.listings])["input_ids"]]
    assert max(lengths) > MAX_LENGTH  # truncation bites: scoring at another length would not match
    assert manifest["labels"] == list(Run.open(t.run_dir).policy.ids) == list(t.metrics["thresholds"])

    copy = tmp_path / "run"  # the run with its policy's labels in another order than the head's
    shutil.copytree(t.run_dir, copy, ignore=shutil.ignore_patterns("checkpoint-*", "eval", "runs"))
    cfg = OmegaConf.load(copy / "config.yaml")
    cfg.policy.policies = list(reversed(list(cfg.policy.policies)))
    OmegaConf.save(cfg, copy / "config.yaml")
    with pytest.raises(ValueError, match="are not the policy's"):
        load_student(Run.open(copy))


def test_a_lora_run_on_pretrained_weights_rebuilds_its_base_from_config_yaml(trained, tmp_path):
    """A LoRA run on a pretrained encoder keeps no base_model/: the base is rebuilt from the weights config.yaml
    names. Simulated with the tiny run's own base encoder saved as if it were a pretrained model."""
    t = trained("lora")
    copy = tmp_path / "run"
    shutil.copytree(t.run_dir, copy, ignore=shutil.ignore_patterns("checkpoint-*", "eval", "runs"))
    base = AutoModelForSequenceClassification.from_pretrained(copy / "base_model")
    base.encoder.save_pretrained(tmp_path / "pretrained")
    shutil.rmtree(copy / "base_model")
    cfg = OmegaConf.load(copy / "config.yaml")
    cfg.model.pretrained = str(tmp_path / "pretrained")
    OmegaConf.save(cfg, copy / "config.yaml")
    t_copy = Trained(**{**t.__dict__, "run_dir": copy})
    check_evaluation(t_copy, tmp_path / "eval")


# --- the planted bug: a restore skipped ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(restore.RESTORES))
def test_skipping_any_restore_fails_the_reload_and_export_checks(trained, name, monkeypatch, tmp_path):
    """The bug issue 24 planted by hand (the LoRA branch's encoder-weight restore skipped left 445 tests green):
    with any entry of RESTORES made a no-op, evaluation after reload and the export no longer score as the
    in-memory student. A LoRA run is the one that depends on them (a full run's model/config.json carries the
    encoder weight too)."""
    t = trained("lora")
    monkeypatch.setitem(restore.RESTORES, name, lambda run, model: None)
    with pytest.raises(AssertionError):
        check_evaluation(t, tmp_path / "eval")
    export_dir = export_run(t.run_dir, tmp_path / "export", allow_collapsed=True, onnx=False)
    with pytest.raises(AssertionError):
        check_export(t, export_dir)
