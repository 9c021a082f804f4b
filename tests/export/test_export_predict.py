"""Evaluate -> export -> predict on the tiny run: the export is plain transformers and agrees with the checkpoint."""

import json
import subprocess
import sys

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification

from moddistill.data.listings import read_listings, render_listing
from moddistill.data.records import RowError
from moddistill.distill.inference import score_texts
from moddistill.distill.restore import load_student
from moddistill.errors import UserError
from moddistill.export.directory import export_run
from moddistill.runs.run import Run
from moddistill.serving.manifest import MANIFEST, verify_export
from tests.conftest import ROOT, read_jsonl, spread_head, write_jsonl


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    # the tiny random model learns nothing in one short epoch (its run is marked collapsed): exported to test export
    return export_run(tiny_run, tmp_path_factory.mktemp("export") / "model", allow_collapsed=True)


def test_evaluation_report(tiny_run, policy):
    metrics = json.loads((tiny_run / "eval" / "cases" / "metrics.json").read_text())
    assert metrics["n"] == 60 and set(metrics["per_policy"]) == set(policy.ids)
    assert sum(m["support"] for m in metrics["per_policy"].values()) >= 1
    assert 0 <= metrics["macro_f1"] <= 1 and 0 <= metrics["decision_accuracy"] <= 1
    assert metrics["thresholds"] == json.loads((tiny_run / "metrics.json").read_text())["thresholds"]
    assert {"language", "kind", "tag"} == set(metrics["slices"])
    report = (tiny_run / "eval" / "cases" / "report.md").read_text()
    assert "| weapons |" in report and "macro-F1" in report


def test_export_is_plain_transformers_with_policy_labels(exported, policy, tiny_run):
    model = AutoModelForSequenceClassification.from_pretrained(exported)
    assert [model.config.id2label[i] for i in range(12)] == list(policy.ids)
    assert model.config.problem_type == "multi_label_classification"
    manifest = verify_export(exported)
    assert manifest["labels"] == list(policy.ids)
    assert manifest["policy"] == {"id": "marketplace_v1", "version": 1, "title": policy.title}
    assert manifest["thresholds"] == Run.open(tiny_run).thresholds
    assert manifest["metrics"]["policy_cases"]["cases"]["n"] == 60
    assert set(manifest["provenance"]["data_sha256"]) == {"listings", "teacher_labels", "policy_cases"}
    assert manifest["provenance"]["config"]["model"]["name"] == "tiny-bert"
    assert "model.safetensors" in manifest["files"] and MANIFEST not in manifest["files"]
    assert not any("lora" in k for k in model.state_dict())


def test_tampered_export_is_refused(exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    (copy / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        verify_export(copy)


@pytest.mark.parametrize("edit", [
    lambda m: m["thresholds"].update({m["labels"][0]: 0.01}),  # the most sensitive number in the export
    lambda m: m["labels"].reverse(),
    lambda m: m.update(max_length=8),
    lambda m: m["files"].pop("model.safetensors"),  # dropping a file from the hash list
])
def test_an_edited_manifest_is_refused(exported, tmp_path, edit):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "moddistill.json").read_text(encoding="utf-8"))
    edit(manifest)
    (copy / "moddistill.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    with pytest.raises(UserError, match=r"moddistill\.json: edited after export"):
        verify_export(copy)
    proc = subprocess.run([sys.executable, "scripts/predict.py", f"export_dir={copy}",
                           f"input={ROOT / 'data' / 'policy_cases' / 'marketplace_v1.jsonl'}", f"output={tmp_path}/p.jsonl"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "edited after export" in proc.stderr and "Traceback" not in proc.stderr


def test_an_export_of_an_older_format_says_so(exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "moddistill.json").read_text(encoding="utf-8"))
    manifest["format"] = "moddistill-export/1"
    (copy / "moddistill.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(UserError, match=r"unsupported export format 'moddistill-export/1' .*re-export"):
        verify_export(copy)


def test_export_refuses_to_overwrite(tiny_run, exported):
    with pytest.raises(FileExistsError, match="overwrite"):
        export_run(tiny_run, exported, allow_collapsed=True)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])  # int8: tests/serving/test_onnx_runtime.py (agreement, not equality)
def test_predict_on_export_matches_checkpoint_scores(exported, tiny_run, sample_slice, tmp_path, runtime):
    out = tmp_path / "pred.jsonl"
    proc = subprocess.run([sys.executable, "scripts/predict.py", f"export_dir={exported}", f"runtime={runtime}",
                           f"input={sample_slice['cases']}", f"output={out}"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "read 60 rows, kept 60, rejected 0" in proc.stdout and "macro-F1" in proc.stdout
    assert f"runtime {runtime}" in proc.stdout
    rows = read_jsonl(out)
    listings, _ = read_listings(sample_slice["cases"])
    assert [r["id"] for r in rows] == [x.id for x in listings]

    run = Run.open(tiny_run)
    model, tokenizer = load_student(run)
    expected = score_texts(model, tokenizer, [render_listing(x) for x in listings], max_length=run.max_length)
    got = np.array([[r["scores"][p] for p in run.policy.ids] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    for r, s in zip(rows, expected):
        assert r["flagged"] == [p for p, v in zip(run.policy.ids, s) if v >= run.thresholds[p]]


def test_predict_bad_rows(exported, tmp_path):
    from moddistill.serving.runtime import predict_file

    good = {"id": "g", "title": "Water gun", "description": "", "category": "Toys", "price": 3, "currency": "USD",
            "market": "US", "language": "en"}
    path = write_jsonl(tmp_path / "in.jsonl", [good, {**good, "id": "b", "price": "x"}, {**good, "id": "c"}])
    with pytest.raises(RowError, match=r"in\.jsonl, line 2, field 'price'"):
        predict_file(exported, path, tmp_path / "out.jsonl")
    report, flagged, _ = predict_file(exported, path, tmp_path / "out.jsonl", on_error="skip")
    assert (report.read, report.kept, report.rejected) == (3, 2, 1)
    assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == ["g", "c"]
    assert read_jsonl(tmp_path / "out.rejects.jsonl")[0]["field"] == "price"


def test_teacher_labels_are_scored_like_the_student(sample_slice, policy, tmp_path):
    from moddistill.evaluation.evaluate import evaluate_teacher_labels

    cases = read_jsonl(sample_slice["cases"])
    # a teacher that is right on every case but misses every off_platform_transaction violation
    rows = [{"id": c["id"], "labels": {p: float(p in c["expected"] and p != "off_platform_transaction")
                                       for p in policy.ids}, "provenance": {"model": "oracle-ish"}} for c in cases]
    labels = write_jsonl(tmp_path / "teacher.jsonl", rows)
    result, out = evaluate_teacher_labels(labels, policy, policy_cases=sample_slice["cases"], output_dir=tmp_path / "ev")
    per = result["per_policy"]
    assert per["off_platform_transaction"]["recall"] == 0.0 or per["off_platform_transaction"]["support"] == 0
    assert all(m["f1"] == 1.0 for p, m in per.items() if p != "off_platform_transaction" and m["support"])
    assert result["teacher"] == {"model": "oracle-ish"} and (out / "report.md").exists()

    missing = write_jsonl(tmp_path / "partial.jsonl", rows[1:])
    with pytest.raises(Exception, match=cases[0]["id"]):
        evaluate_teacher_labels(missing, policy, policy_cases=sample_slice["cases"], output_dir=tmp_path / "ev2")


def test_predict_keeps_input_order_and_flags_at_or_above_each_threshold(exported, sample_slice):
    """With signal: the tiny model's head is scaled so scores spread across (0, 1), thresholds sit inside that
    spread, and each listing is also scored alone through a plain forward pass (no batching, no length sort)."""
    from moddistill.serving.runtime import ExportedModel

    model = ExportedModel.load(exported, runtime="torch")
    listings, _ = read_listings(sample_slice["cases"])
    texts = [render_listing(x) for x in listings]
    alone = spread_head(model.scorer.model, model.scorer.tokenizer, texts, model.manifest["max_length"])
    assert (alone.std(axis=0) > 0.1).all()  # scores spread: a wrong order or threshold is observable
    batched = model.score(listings, batch_size=7)
    np.testing.assert_allclose(batched, alone, atol=2e-5)  # same rows, in input order
    thresholds = {p: float(np.median(batched[:, k])) for k, p in enumerate(model.labels)}
    thresholds[model.labels[0]] = float(batched[3, 0])  # exactly one listing's score: flagged (>=)
    model.manifest["thresholds"] = thresholds
    rows = model.predict(listings, batch_size=7)
    assert [r["id"] for r in rows] == [x.id for x in listings]
    got = np.array([[r["scores"][p] for p in model.labels] for r in rows])
    np.testing.assert_allclose(got, alone, atol=2e-5)
    for row, s in zip(rows, batched):
        assert row["flagged"] == [p for k, p in enumerate(model.labels) if s[k] >= thresholds[p]]
    assert model.labels[0] in rows[3]["flagged"]
    flagged_counts = [sum(p in r["flagged"] for r in rows) for p in model.labels]
    assert all(0 < n < len(rows) for n in flagged_counts)


def test_the_thresholds_chosen_on_validation_are_the_ones_exported(exported, tiny_run):
    from moddistill.metrics.thresholds import select_thresholds

    run = Run.open(tiny_run)
    rows = read_jsonl(tiny_run / "validation_scores.jsonl")
    ids = list(run.policy.ids)
    teacher = np.array([[r["teacher"][p] for p in ids] for r in rows])
    student = np.array([[r["student"][p] for p in ids] for r in rows])
    chosen = select_thresholds(teacher >= 0.5, student, ids, strategy=run.cfg.threshold_strategy)
    manifest = json.loads((exported / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["thresholds"] == chosen == run.thresholds
