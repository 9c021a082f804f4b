"""A run, and its export, are scored on listings rendered the way the model was trained on them."""

import json
import shutil

import numpy as np
import pytest

from moddistill.data.listings import Listing, render_listing
from moddistill.errors import UserError
from moddistill.evaluation.scorer import score_run
from moddistill.runs.run import METRICS_FILE, Run
from moddistill.serving import runtime
from moddistill.serving.runtime import ExportedModel

LEET = Listing(id="x1", title="OTF kn1fe 4ut0m4tic", description="sh00ts out the fr0nt", category="Knives",
               price=20.0, currency="USD", market="US", language="en")


def _with_render_version(run_dir, tmp_path, version):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    metrics = json.loads((copy / METRICS_FILE).read_text(encoding="utf-8"))
    if version is None:
        del metrics["render_version"]  # as a run from before the key might lack it
    else:
        metrics["render_version"] = version
    (copy / METRICS_FILE).write_text(json.dumps(metrics), encoding="utf-8")
    return Run.open(copy)


@pytest.mark.parametrize("version, expected", [
    ("listing-text-v2", "listing-text-v2"), ("listing-text-v1", "listing-text-v1"), (None, "listing-text-v1")])
def test_a_run_is_scored_with_the_rendering_it_was_trained_on(tiny_run, tmp_path, monkeypatch, version, expected):
    seen = []

    def score_texts(model, tokenizer, texts, **kw):
        seen.extend(texts)
        return np.zeros((len(texts), 12))

    monkeypatch.setattr("moddistill.distill.inference.score_texts", score_texts)
    run = _with_render_version(tiny_run, tmp_path, version)
    assert run.render_version == expected
    score_run(run, [LEET])
    assert seen == [render_listing(LEET, expected)]
    assert ("kn1fe" in seen[0]) == (expected == "listing-text-v1")


def test_an_export_renders_as_its_manifest_says_and_refuses_a_rendering_it_does_not_know(tmp_path, monkeypatch):
    model = ExportedModel(tmp_path, {"render_version": "listing-text-v1", "labels": []}, "torch", scorer=None)
    assert model.render(LEET) == render_listing(LEET, "listing-text-v1") != render_listing(LEET)

    monkeypatch.setattr(runtime, "verify_export", lambda export_dir: {"render_version": "listing-text-v9"})
    with pytest.raises(UserError, match=r"rendered as 'listing-text-v9', this moddistill renders listing-text-v1, "
                                        r"listing-text-v2: upgrade moddistill"):
        ExportedModel.load(tmp_path)
