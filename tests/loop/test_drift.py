"""Drift (loop/drift.py, scripts/drift.py): PSI against hand-computed values, the pooled mix, the logit band of unsure
listings; the script on identical and shifted batches (exit 0 / 3), its refusals (exit 2), and the model checks
(flag rates, OOV) with the tiny export."""

import json
import math
import runpy
import sys

import numpy as np
import pytest

from moddistill.data.listings import read_listings
from moddistill.export.directory import export_run
from moddistill.loop.drift import (
    EXIT_DRIFT_ALERT,
    mix_shift,
    psi_terms,
    quantile_shift,
    top_level_category,
    unsure_share,
)
from moddistill.serving.runtime import ExportedModel
from tests.conftest import ROOT, SAMPLE_LISTINGS, read_jsonl, write_jsonl

SIG = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731


def run_drift(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """scripts/drift.py run as ``__main__`` in this process; (exit code, stdout, stderr)."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["scripts/drift.py", "progress=false", *args])
    monkeypatch.chdir(ROOT)
    try:
        runpy.run_path(str(ROOT / "scripts" / "drift.py"), run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def test_psi_matches_a_hand_computed_value():
    # shares (.5, .3, .2) -> (.3, .3, .4): -.2 ln(.6) + 0 + .2 ln(2)
    assert psi_terms([50, 30, 20], [30, 30, 40]).sum() == pytest.approx(-0.2 * math.log(0.6) + 0.2 * math.log(2))
    assert psi_terms([5, 5], [50, 50]).sum() == 0
    # an empty reference bin counts as a share of 1e-4: finite, and large
    terms = psi_terms([10, 0], [5, 5])
    assert terms == pytest.approx([-0.5 * math.log(0.5), (0.5 - 1e-4) * math.log(0.5 / 1e-4)])


def test_the_mix_pools_rare_values_and_names_new_and_gone_ones():
    reference = ["en"] * 60 + ["es"] * 30 + ["th"] * 8 + ["vi"] * 2
    current = ["en"] * 60 + ["es"] * 15 + ["tl"] * 20 + ["vi"] * 5
    m = mix_shift(reference, current, min_share=0.05, min_count=10)
    # th (8 in either) and vi (5) are below min_count: pooled; tl (20 in current) gets its own bin
    assert [b["name"] for b in m["bins"]] == ["en", "es", "tl", "(other)"]
    assert [(b["reference"], b["current"]) for b in m["bins"]] == [(60, 60), (30, 15), (0, 20), (10, 5)]
    assert m["pooled_into_other"] == 2
    assert m["psi"] == pytest.approx(psi_terms([60, 30, 0, 10], [60, 15, 20, 5]).sum())
    assert m["new"] == {"tl": 20} and m["gone"] == {"th": 8}
    assert top_level_category("Sports & Outdoors > Hunting > Ammunition") == "Sports & Outdoors"


def test_quantile_bins_follow_the_reference():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    same = quantile_shift(reference, rng.normal(size=5000), bins=10)
    # 10 bins between the reference's quantiles, one at its minimum, one beyond its maximum (empty)
    assert len(same["edges"]) == 11 and same["reference_share"] == pytest.approx([1 / 5000, 0.1 - 1 / 5000,
                                                                                    *[0.1] * 9, 0])
    assert same["psi"] < 0.02 and same["psi"] == pytest.approx(sum(same["psi_terms"]))
    assert quantile_shift(reference, rng.normal(1, 1, size=5000), bins=10)["psi"] > 0.25
    # a reference of one value: a single bin edge, and the current batch's other value beyond it
    assert quantile_shift([3.0] * 100, [3.0] * 50 + [9.0] * 50, bins=10)["psi"] > 1


def test_unsure_is_a_band_in_logit_space_around_each_threshold():
    thresholds = {"a": 0.5, "b": 0.9}
    t2 = math.log(9)  # logit(0.9)
    scores = np.array([[SIG(0.9), SIG(-5)],  # a within 1 of its threshold
                       [SIG(-1.1), SIG(-5)],  # neither
                       [SIG(-5), SIG(t2 - 0.9)],  # b within 1 of 0.9 (0.77: far in probability from 0.9)
                       [SIG(-5), SIG(t2 + 1.2)]])  # b beyond the band
    assert unsure_share(scores, thresholds, 1.0) == 0.5
    assert unsure_share(scores, thresholds, 1.5) == 1.0


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """300 sample listings, and 300 others with English ones only (every other language gone)."""
    root = tmp_path_factory.mktemp("drift")
    rows = read_jsonl(SAMPLE_LISTINGS)
    english = [r for r in rows[300:] if r["language"] == "en"][:300]
    return {"reference": write_jsonl(root / "reference.jsonl", rows[:300]),
            "english": write_jsonl(root / "english.jsonl", english), "root": root}


def test_identical_batches_raise_no_alert_and_exit_0(batches, tmp_path, monkeypatch, capsys):
    ref = batches["reference"]
    bad_row = tmp_path / "with_a_bad_row.jsonl"
    bad_row.write_text(ref.read_text() + '{"id": "bad", "title": "no price"}\n')
    code, out, err = run_drift([f"reference={ref}", f"current={bad_row}", "on_error=skip", f"output={tmp_path}/r"],
                               monkeypatch, capsys)
    assert code == 0, err[-2000:]
    result = json.loads((tmp_path / "r" / "drift_report.json").read_text())
    assert result["current"] == {"path": str(bad_row), "listings": 300, "rejected": 1}
    assert (tmp_path / "r" / "current.rejects.jsonl").exists()
    assert result["status"] == "ok" and {c["status"] for c in result["checks"]} == {"ok"}
    assert [c["check"] for c in result["checks"]] == ["language mix", "market mix", "category mix", "text length"]
    assert all(c["value"] == 0 for c in result["checks"])
    assert (tmp_path / "r" / "drift_mix.png").stat().st_size > 0
    assert "**Status: ok**" in (tmp_path / "r" / "drift_report.md").read_text()
    assert "drift ok: 0 alert(s)" in out


def test_a_batch_missing_languages_alerts_and_exits_3(batches, monkeypatch, capsys):
    code, out, err = run_drift([f"reference={batches['reference']}", f"current={batches['english']}"],
                               monkeypatch, capsys)
    assert code == EXIT_DRIFT_ALERT == 3, err[-2000:]
    out_dir = batches["root"] / "english.drift"  # the default: beside current
    result = json.loads((out_dir / "drift_report.json").read_text())
    status = {c["check"]: c["status"] for c in result["checks"]}
    assert status["language mix"] == "alert" and result["status"] == "alert"
    assert set(result["language"]["gone"]) == {"es", "id", "th", "vi", "ms", "tl"} and not result["language"]["new"]
    assert "ALERT language mix: PSI" in out
    report = (out_dir / "drift_report.md").read_text()
    assert "| language mix | PSI |" in report and "**ALERT**" in report and "Gone from current (listings): " in report


@pytest.mark.parametrize("args, message", [
    (["reference={small}"], "small.jsonl: sample too small: 134 listings, drift needs at least min_listings=200"),
    (["current={empty}"], "empty.jsonl: no rows"),
    (["export_dir={root}"], "not a moddistill export"),
    (["limits.psi_warn=0.5"], "limits.psi_warn=0.5 is above limits.psi_alert=0.25"),
    (["mix.min_share=2"], "config key mix.min_share=2: expected a number in [0, 1]"),
])
def test_bad_inputs_are_refused_in_one_line(args, message, batches, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    files = {"small": write_jsonl(tmp_path / "small.jsonl", read_jsonl(batches["reference"])[:134]),
             "empty": tmp_path / "empty.jsonl", "root": tmp_path}
    code, out, err = run_drift([f"reference={batches['reference']}", f"current={batches['reference']}",
                                f"output={tmp_path}/out", *[a.format(**files) for a in args]], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and message in err.splitlines()[0], err[-2000:]
    assert "Traceback" not in err and not (tmp_path / "out" / "drift_report.md").exists()


def unreadable(row: dict, k: int) -> dict:
    """A listing written in a made-up script (Linear B syllables): every word is the tokenizer's unknown token."""
    word = lambda i: "".join(chr(0x10000 + (i * 7 + j) % 80) for j in range(4))  # noqa: E731
    return {**row, "id": f"x-{k}", "title": " ".join(word(k + i) for i in range(5)),
            "description": " ".join(word(k + i) for i in range(20))}


def test_with_an_export_flag_rates_and_the_oov_rate_are_measured(tiny_run, sample_slice, tmp_path, monkeypatch,
                                                                capsys):
    export = export_run(tiny_run, tmp_path / "export", allow_collapsed=True, onnx_int8=False)
    rows = read_jsonl(sample_slice["listings"])
    current = write_jsonl(tmp_path / "odd.jsonl", [unreadable(r, k) for k, r in enumerate(rows)])
    code, out, err = run_drift([f"reference={sample_slice['listings']}", f"current={current}", f"export_dir={export}",
                                "min_listings=100", f"output={tmp_path}/r"], monkeypatch, capsys)
    assert code == 3, err[-2000:]
    result = json.loads((tmp_path / "r" / "drift_report.json").read_text())
    model = ExportedModel.load(export)
    for name, path in (("reference", sample_slice["listings"]), ("current", current)):
        flagged = model.predict(read_listings(path)[0], progress=False)
        for p in model.labels:
            assert result["policies"][p]["flag_rate"][name] == pytest.approx(
                sum(p in r["flagged"] for r in flagged) / len(flagged))
    oov = result["oov"]
    assert oov["unknown_token"] == "[UNK]" and oov["reference"] < 0.05 and oov["current"] > 0.3
    assert {c["check"]: c["status"] for c in result["checks"]}["tokenizer OOV"] == "alert"
    assert "ALERT tokenizer OOV" in out
    assert {"drift_flag_rates.png", "drift_scores.png"} <= {p.name for p in (tmp_path / "r").iterdir()}
    assert "| policy | threshold | flag rate reference |" in (tmp_path / "r" / "drift_report.md").read_text()
