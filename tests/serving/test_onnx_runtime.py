"""The ONNX files of an export and the torch-free runtime: parity with torch, the serving contract, bad exports."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from moddistill.bench.runtimes import encoder_flops, format_runtimes, measure_runtimes, predict_end_to_end
from moddistill.data.deobfuscate import deobfuscate
from moddistill.data.listings import Listing, read_listings, render_listing
from moddistill.errors import UserError
from moddistill.export.directory import export_run
from moddistill.serving.manifest import MANIFEST
from moddistill.serving.runtime import ExportedModel, OnnxScorer
from tests.conftest import ROOT, read_jsonl, spread_head


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    return export_run(tiny_run, tmp_path_factory.mktemp("export") / "model", allow_collapsed=True)


@pytest.fixture(scope="module")
def case_texts(sample_slice):
    listings, _ = read_listings(sample_slice["cases"])
    return listings, [render_listing(x) for x in listings]


@pytest.fixture(scope="module")
def spread_student(exported, case_texts, tmp_path_factory):
    """The tiny export's encoder under a student with an n-gram channel (random weights, fitted IDF) and a head
    scaled so scores spread: written as ONNX fp32 + int8 beside the export's tokenizer, with its manifest."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from moddistill.distill.ngrams import NgramSpec, ngram_bags
    from moddistill.distill.student import build_student
    from moddistill.export.onnx import export_onnx

    base = AutoModelForSequenceClassification.from_pretrained(exported)
    spec = NgramSpec(buckets=4096, char_ngrams=(2, 4), word_ngrams=(1, 2))
    model = build_student(None, base.config.encoder,
                          {k: getattr(base.config, k) for k in ("id2label", "label2id")}, pooling="mean", ngram=spec)
    model.encoder.load_state_dict(base.encoder.state_dict())
    _, texts = case_texts
    with torch.no_grad():
        torch.manual_seed(1)
        model.ngram.bag.weight.normal_(0, 2.0)
        model.ngram.fit_idf(ngram_bags(texts, spec)[0])
    tokenizer = AutoTokenizer.from_pretrained(exported)
    alone = spread_head(model.eval(), tokenizer, texts, max_length=64)
    out = tmp_path_factory.mktemp("spread")
    shutil.copy(exported / "tokenizer.json", out / "tokenizer.json")
    export_onnx(model, tokenizer, out)
    manifest = json.loads((exported / MANIFEST).read_text(encoding="utf-8"))
    manifest["input"]["ngram"] = spec.to_dict()
    return out, manifest, model, tokenizer, alone


def test_onnx_fp32_equals_torch_with_an_ngram_channel(spread_student, case_texts):
    out, manifest, _, _, alone = spread_student
    assert (alone.std(axis=0) > 0.1).all()
    scorer = OnnxScorer(out, manifest, "model.onnx")
    assert scorer.inputs == ["input_ids", "attention_mask", "token_type_ids", "ngram_ids", "ngram_weights"]
    _, texts = case_texts
    np.testing.assert_allclose(scorer.score(texts, batch_size=7, progress=False), alone, atol=2e-5)


def test_int8_decisions_agree_with_fp32_torch(spread_student, case_texts):
    """Thresholds at each policy's median score (the hardest place to agree): at least 97% of the decisions of
    this tiny 32-wide model agree; the bundled model's figures are in the benchmark (make benchmark-runtimes)."""
    out, manifest, _, _, alone = spread_student
    _, texts = case_texts
    int8 = OnnxScorer(out, manifest, "model_int8.onnx").score(texts, batch_size=16, progress=False)
    assert np.abs(int8 - alone).max() < 0.1 and not np.allclose(int8, alone, atol=1e-6)  # quantized, not a copy
    thresholds = np.median(alone, axis=0)
    agreement = float(np.mean((int8 >= thresholds) == (alone >= thresholds)))
    assert agreement >= 0.97, agreement


def test_auto_takes_int8_and_a_missing_runtime_lists_what_the_export_has(exported, tiny_run, tmp_path):
    assert ExportedModel.load(exported).runtime == "onnx_int8"
    assert ExportedModel.load(exported, "onnx").runtime == "onnx"
    manifest = json.loads((exported / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["onnx"]["fp32"], manifest["onnx"]["int8"]) == ("model.onnx", "model_int8.onnx")
    assert {"model.onnx", "model_int8.onnx", "tokenizer.json", "README.md"} <= set(manifest["files"])

    fp32_only = export_run(tiny_run, tmp_path / "fp32", allow_collapsed=True, onnx_int8=False)
    assert ExportedModel.load(fp32_only).runtime == "onnx"
    with pytest.raises(UserError, match=r"runtime=onnx_int8 needs a file this export does not have; it has: "
                                        r"torch, onnx"):
        ExportedModel.load(fp32_only, "onnx_int8")
    torch_only = export_run(tiny_run, tmp_path / "hf", allow_collapsed=True, onnx=False)
    assert ExportedModel.load(torch_only).runtime == "torch"
    assert not list(torch_only.glob("*.onnx"))
    with pytest.raises(UserError, match="it has: torch \\("):
        ExportedModel.load(torch_only, "onnx")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "model_int8.onnx").write_bytes((d / "model_int8.onnx").read_bytes()[:-1] + b"\0"),
     r"model_int8\.onnx: SHA-256 mismatch"),
    (lambda d: (d / "model.onnx").unlink(), r"model\.onnx: missing"),
    (lambda d: (d / "tokenizer.json").write_text("{}", encoding="utf-8"), r"tokenizer\.json: SHA-256 mismatch"),
])
def test_a_tampered_or_missing_onnx_file_is_refused_by_name(exported, tmp_path, damage, message):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    damage(copy)
    with pytest.raises(UserError, match=message):
        ExportedModel.load(copy, "onnx_int8")


def _long_listing() -> Listing:
    return Listing(id="long", title="Vintage hunting knife " * 20, description="Sharp steel blade, " * 400,
                   category="Sports", price=12.5, currency="USD", market="US", language="en")


def test_the_manifest_alone_reproduces_the_models_input_ids(exported, case_texts):
    """A service in another language has the manifest and tokenizer.json: render with the template and rules it
    states, tokenize as it states, and get the ids every runtime feeds the model (long listings included)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    contract = json.loads((exported / MANIFEST).read_text(encoding="utf-8"))["input"]
    listings, texts = case_texts
    leet = [x for x in listings if deobfuscate(x.title) != x.title]
    listings = [*listings[:10], *leet[:3], _long_listing()]
    assert contract["render"]["version"] == "listing-text-v2" and leet
    # the rules in words, which a port of data/deobfuscate.py follows
    normalize = deobfuscate if "de-obfuscated: 1. three or more single letters" in contract["render"]["rules"] else str

    def render(x: Listing) -> str:  # the template and the rules, as a reader of the manifest implements them
        price = f"{x.price:.2f}".rstrip("0").rstrip(".")
        fields = {**x.__dict__, "price": price, "title": normalize(x.title), "description": normalize(x.description)}
        text = contract["render"]["template"].format(**fields)
        return text if x.description else text.rsplit("\n", 1)[0]

    tok = Tokenizer.from_file(str(exported / contract["tokenizer"]))
    tok.enable_truncation(contract["max_length"], direction=contract["truncation_side"])
    ids = [e.ids for e in tok.encode_batch([render(x) for x in listings])]

    assert [render(x) for x in listings] == [render_listing(x) for x in listings]
    assert len(ids[-1]) == contract["max_length"] == 64
    hf = AutoTokenizer.from_pretrained(exported)
    assert ids == hf([render_listing(x) for x in listings], truncation=True, max_length=64)["input_ids"]
    feeds = OnnxScorer(exported, {"input": contract, "labels": []}, "model.onnx").encode(
        [render_listing(x) for x in listings])
    assert [row[mask == 1].tolist() for row, mask in zip(feeds["input_ids"], feeds["attention_mask"])] == ids
    assert (feeds["input_ids"][feeds["attention_mask"] == 0] == contract["padding"]["pad_token_id"]).all()


def test_a_listing_longer_than_max_length_scores_the_same_in_every_runtime(exported):
    scores = {r: ExportedModel.load(exported, r).score([_long_listing()], progress=False)
              for r in ("torch", "onnx", "onnx_int8")}
    np.testing.assert_allclose(scores["onnx"], scores["torch"], atol=1e-5)
    np.testing.assert_allclose(scores["onnx_int8"], scores["torch"], atol=0.05)


def test_the_onnx_runtime_and_predict_run_without_torch(exported, sample_slice, tmp_path):
    """torch and transformers made unimportable: predict.py still runs (on the int8 model), runtime=torch says
    what to install."""
    block = "import sys; sys.modules.update(torch=None, transformers=None, peft=None, accelerate=None); "
    out = tmp_path / "pred.jsonl"
    predict = ("import runpy; sys.argv = ['predict.py', 'export_dir={e}', 'input={i}', 'output={o}', 'runtime={r}']; "
               "runpy.run_path('scripts/predict.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", block + predict.format(e=exported, i=sample_slice["cases"], o=out,
                                                                        r="auto")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "runtime onnx_int8" in proc.stdout and len(read_jsonl(out)) == 60
    proc = subprocess.run([sys.executable, "-c", block + predict.format(e=exported, i=sample_slice["cases"], o=out,
                                                                        r="torch")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "runtime=torch needs torch and transformers" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_model_card_describes_the_export(exported, tiny_run):
    card = (exported / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((exported / MANIFEST).read_text(encoding="utf-8"))
    assert card.startswith("---\nlicense: none (random weights built for tests)\n")
    assert "## Intended use" in card and "## Limitations" in card and "## Training data" in card
    for policy in manifest["labels"]:
        assert f"| {policy} |" in card
    evaluation = json.loads((tiny_run / "eval" / "cases" / "metrics.json").read_text(encoding="utf-8"))
    assert f"| macro-F1 | {evaluation['macro_f1']:.3f} | not run |" in card  # no baseline run beside this one
    for lang in evaluation["slices"]["language"]:
        assert f"| {lang} |" in card


def test_encoder_flops_counts_padded_batches():
    encoder = {"hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 2}
    per_token = lambda t: 2 * (2 * (4 * 16 + 2 * 4 * 8) + 4 * t * 4)  # noqa: E731 - two layers
    # sorted [3, 5, 9] in batches of 2: (3, 5) padded to 5, then (9)
    assert encoder_flops(encoder, [9, 3, 5], batch_size=2) == 2 * 5 * per_token(5) + 9 * per_token(9)


def test_runtime_benchmark_compares_every_runtime_with_torch_fp32(exported, sample_slice, tmp_path):
    result = measure_runtimes(exported, sample_slice["cases"], batch_size=16, latency_samples=3, repeats=1)
    rows = {r["runtime"]: r for r in result["runtimes"]}
    assert {"torch fp32", "onnx", "onnx_int8"} <= set(rows) and result["runtimes"][0]["runtime"] == "torch fp32"
    assert rows["torch fp32"]["decision_agreement"] == 1.0 and rows["torch fp32"]["speedup_vs_torch_fp32"] == 1.0
    assert rows["onnx"]["max_abs_score_diff"] < 1e-4 and rows["onnx"]["allow_reject_agreement"] == 1.0
    assert rows["onnx"]["macro_f1"] == rows["torch fp32"]["macro_f1"]
    assert 0 < rows["onnx_int8"]["share_of_peak"] and rows["onnx_int8"]["precision"] == "int8"
    assert set(result["peak_gflop_per_s"]) >= {"fp32", "int8"} and result["available"] == ["torch", "onnx", "onnx_int8"]
    runs = predict_end_to_end(ROOT, exported, sample_slice["cases"], ["torch", "onnx_int8"])
    assert [r["runtime"] for r in runs] == ["torch", "onnx_int8"] and runs[0]["speedup_vs_torch"] == 1.0
    table = format_runtimes(result, runs, sample_slice["cases"])
    assert "| onnx_int8 |" in table and "runtime=onnx_int8:" in table


TOY_RUNTIME = '''
from moddistill.serving.runtime import OnnxScorer


class MeanOfOnnx:
    """The mean of the fp32 and int8 graphs' scores, where the export has both."""

    def available(self, manifest):
        return {"fp32", "int8"} <= set(manifest.get("onnx") or {})

    def load(self, export_dir, manifest):
        fp32, int8 = (OnnxScorer(export_dir, manifest, manifest["onnx"][k]) for k in ("fp32", "int8"))

        class Scorer:
            def score(self, texts, *, batch_size, progress=True):
                return (fp32.score(texts, batch_size=batch_size, progress=progress)
                        + int8.score(texts, batch_size=batch_size, progress=progress)) / 2

        return Scorer()
'''


def test_a_runtime_from_outside_the_package_is_one_module(exported, sample_slice, tmp_path, monkeypatch, capsys):
    """runtime=package.module:Name scores through a runtime that lives outside the package, in predict.py too; one
    that this export cannot serve, or that does not import, is refused in one line."""
    from tests.test_exit_codes import run_script

    (tmp_path / "toy_runtimes.py").write_text(TOY_RUNTIME, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    listings, _ = read_listings(sample_slice["cases"])
    mean = ExportedModel.load(exported, "toy_runtimes:MeanOfOnnx")
    assert mean.runtime == "toy_runtimes:MeanOfOnnx"
    expected = (ExportedModel.load(exported, "onnx").score(listings, progress=False)
                + ExportedModel.load(exported, "onnx_int8").score(listings, progress=False)) / 2
    np.testing.assert_allclose(mean.score(listings, progress=False), expected, atol=1e-6)

    out = tmp_path / "pred.jsonl"
    args = [f"export_dir={exported}", f"input={sample_slice['cases']}", f"output={out}"]
    code, err = run_script("predict", args + ["runtime=toy_runtimes:MeanOfOnnx"], monkeypatch, capsys)
    assert code == 0, err
    assert len(read_jsonl(out)) == len(listings)
    code, err = run_script("predict", args + ["runtime=toy_runtimes:Nope"], monkeypatch, capsys)
    assert code == 2 and "config key runtime='toy_runtimes:Nope': cannot import toy_runtimes:Nope" in err
