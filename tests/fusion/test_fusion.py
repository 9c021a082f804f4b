"""Fusion: routing rules on hand-built scores, the operating point (fuse.py) on the tiny export, and the fused
moderator (moderate.py) against the loopback fault-injecting server."""

import json
import math
import shutil
import sys

import numpy as np
import pytest

from moddistill.errors import UserError
from moddistill.export.directory import export_run
from moddistill.fusion.operating_point import fuse_export
from moddistill.fusion.rules import FusionRules, choose, frontier, fuse, kpis
from moddistill.serving.manifest import MANIFEST, verify_export
from tests.conftest import compose_config, read_jsonl, spread_head, write_jsonl
from tests.fake_openai import FakeOpenAI
from tests.teacher.test_label_faults import FAST

LABELS = ["a", "b"]
SIG = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731


def rules(margin=1.0, disagreement=3.0, always_human=()):
    return FusionRules(LABELS, {"a": 0.5, "b": 0.5}, margin, disagreement, list(always_human))


def test_bands_route_unsure_policies_to_the_llm_and_the_rest_stays_with_the_student():
    # logits: a sure allow (-5), a sure reject (+5), unsure (+-0.5), sure but not very (-1.5)
    scores = np.array([[SIG(-5), SIG(-5)], [SIG(5), SIG(-5)], [SIG(0.5), SIG(-5)], [SIG(-0.5), SIG(-1.5)],
                       [SIG(0.5), SIG(-5)], [SIG(0.5), SIG(-5)], [SIG(-5), SIG(5)]])
    llm = np.array([[0, 0], [1, 0], [0, 0], [1, 1], [np.nan, np.nan], [0, 1], [0, 1]], dtype=float)
    fused = fuse(scores, llm, rules(always_human=["b"]))
    assert fused.decided_by.tolist() == ["student", "student", "llm", "llm", "expert", "expert", "expert"]
    assert fused.decisions[:4].tolist() == [[False, False], [True, False], [False, False], [True, False]]
    # row 3: the LLM decides a (unsure), the student's b (-1.5: outside the band, inside the disagreement margin
    # of 3) stands though the LLM says 1
    assert "no usable LLM answer" in fused.reasons[4]
    assert "disagree strongly on b" in fused.reasons[5]  # student at -5 on b, the LLM says 1: beyond 3
    assert "always reviewed by experts: b" in fused.reasons[6]
    low, high = rules().bands()["a"]
    assert (low, high) == (round(SIG(-1), 6), round(SIG(1), 6))
    assert FusionRules.from_dict(json.loads(json.dumps(rules().to_dict()))) == rules()
    inf = FusionRules.from_dict(json.loads(json.dumps(rules(margin=float("inf")).to_dict())))
    assert inf.bands()["a"] == (0.0, 1.0) and fuse(scores, llm, inf).routed.all()


def test_the_frontier_runs_from_student_only_to_llm_only_and_a_weak_llm_gets_no_budget():
    rng = np.random.default_rng(0)
    gold = rng.random((200, 2)) < 0.3
    logits = np.where(gold, 1.0, -1.0) + rng.normal(0, 1.5, gold.shape)  # an imperfect student
    scores = 1 / (1 + np.exp(-logits))
    oracle = gold.astype(float)
    rows = frontier(scores, oracle, gold.astype(int), rules(margin=0))
    shares = [r["llm_share"] for r in rows]
    assert shares[0] == 0 and shares[-1] == 1 and shares == sorted(shares)
    assert rows[-1]["macro_f1"] == 1.0 and rows[0]["macro_f1"] < 0.9
    point, how = choose(rows, llm_share=0.3, target=None, gold=True)
    assert point["llm_share"] <= 0.3 and point["macro_f1"] > rows[0]["macro_f1"] and "30%" in how
    point, how = choose(rows, llm_share=None, target=0.95, gold=True)
    assert point["macro_f1"] >= 0.95 and all(r["macro_f1"] < 0.95 for r in rows if r["llm_share"] < point["llm_share"])
    # an LLM that is always wrong: the best use of any budget is not to call it
    wrong = 1 - oracle
    weak = frontier(scores, wrong, gold.astype(int), rules(margin=0))
    point, _ = choose(weak, llm_share=0.5, target=None, gold=True)
    assert point["llm_share"] == 0
    point, how = choose(weak, llm_share=None, target=0.99, gold=True)
    assert point["llm_share"] == 0  # the student alone already beats 99% of that LLM


def test_kpis_count_what_the_student_settled_alone():
    scores = np.array([[SIG(-5), SIG(-5)], [SIG(5), SIG(-5)], [SIG(0.5), SIG(-5)], [SIG(-5), SIG(5)]])
    llm = np.array([[0, 0], [1, 0], [1, 0], [0, 0]], dtype=float)
    gold = np.array([[0, 0], [1, 0], [1, 0], [0, 0]])  # the student's last flag (b) is wrong
    k = kpis(scores, llm, gold, rules())
    assert (k["automation_rate"], k["llm_share"], k["expert_share"]) == (0.75, 0.25, 0.0)
    assert k["per_policy"]["a"]["automation_rate"] == 0.75 and k["per_policy"]["b"]["automation_rate"] == 1.0
    assert k["per_policy"]["b"]["auto_precision"] == 0.0  # b's one automatic flag is wrong
    k = kpis(scores, np.array([[0, 0], [1, 0], [np.nan, np.nan], [0, 0]]), gold, rules())
    assert k["expert_share"] == 0.25 and k["per_policy"]["a"]["expert_share"] == 0.25  # row 2: no answer, flags a
    assert k["per_policy"]["b"]["expert_share"] == 0.0
    assert k["auto_precision"] == 0.5 and k["auto_recall"] == 1.0  # flags: a (right), b (wrong); 1 positive, found
    assert k["fused"]["decision_accuracy"] == 0.75 and k["llm_only"]["decision_accuracy"] == 1.0


def spread_export(tiny_run, sample_slice, out):
    """The tiny run exported, then given a head whose scores spread over the cases and thresholds at each
    policy's median score (the untrained tiny model scores every listing alike), ONNX and manifest rewritten."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from moddistill.data.listings import read_listings, render_listing
    from moddistill.export.onnx import export_onnx
    from moddistill.serving.manifest import write_manifest

    export = export_run(tiny_run, out, allow_collapsed=True)
    model = AutoModelForSequenceClassification.from_pretrained(export)
    tokenizer = AutoTokenizer.from_pretrained(export)
    listings, _ = read_listings(sample_slice["cases"])
    scores = spread_head(model, tokenizer, [render_listing(x) for x in listings], max_length=64)
    model.save_pretrained(export)
    manifest = json.loads((export / MANIFEST).read_text(encoding="utf-8"))
    manifest["onnx"] = export_onnx(model, tokenizer, export)
    manifest["thresholds"] = {p: float(np.median(scores[:, k])) for k, p in enumerate(manifest["labels"])}
    write_manifest(export, manifest)
    return export


@pytest.fixture(scope="module")
def fused_export(tiny_run, sample_slice, tmp_path_factory):
    """The tiny export with fusion rules chosen against a perfect LLM (labels = the cases' expected), budget 50%."""
    root = tmp_path_factory.mktemp("fusion")
    export = spread_export(tiny_run, sample_slice, root / "export")
    cases = read_jsonl(sample_slice["cases"])
    llm = write_jsonl(root / "llm.jsonl", [{"id": c["id"], "labels": c["expected"],
                                            "provenance": {"model": "oracle", "policy": "marketplace_v1 v1"}}
                                           for c in cases])
    rules, result, report = fuse_export(export, str(llm), cases=str(sample_slice["cases"]), listings=None, ids=None,
                                        llm_share=0.5, target=None, disagreement_margin=4.0, always_human=[],
                                        prices={})
    return export, llm, rules, result, report


def test_fuse_writes_rules_report_and_plot_into_the_export_under_its_hashes(fused_export, tmp_path):
    export, _, rules, result, report = fused_export
    manifest = verify_export(export)
    assert manifest["fusion"] == {"rules": "fusion.json", "report": "fusion_report.md", "plot": "fusion_frontier.png"}
    assert {"fusion.json", "fusion_report.md", "fusion_frontier.png"} <= set(manifest["files"])
    assert (export / "fusion_frontier.png").read_bytes()[:4] == b"\x89PNG"
    k = result["kpis"]
    assert 0 < k["llm_share"] <= 0.5 and k["reference"] == "gold labels"
    assert k["llm_only"]["decision_accuracy"] == 1.0  # a perfect LLM (macro-F1 counts policies without cases as 0)
    assert k["llm_only"]["macro_f1"] >= k["fused"]["macro_f1"] > k["student_only"]["macro_f1"]
    text = report.read_text(encoding="utf-8")
    assert "| macro-F1 |" in text and "![frontier](fusion_frontier.png)" in text and "Cost per 1,000 listings" in text
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    (copy / "fusion.json").write_text(json.dumps({**rules.to_dict(), "margin": 99}), encoding="utf-8")
    with pytest.raises(UserError, match=r"fusion\.json: SHA-256 mismatch"):
        verify_export(copy)


def test_fuse_refuses_labels_that_miss_listings_or_name_another_policy_version(fused_export, sample_slice, tmp_path):
    import shutil

    source, llm, *_ = fused_export
    export = shutil.copytree(source, tmp_path / "export")  # fusing again rewrites fusion.json: the others' rules stay
    rows = read_jsonl(llm)
    kw = dict(cases=str(sample_slice["cases"]), listings=None, ids=None, llm_share=0.5, target=None,
              disagreement_margin=4.0, always_human=[], prices={})
    partial = write_jsonl(tmp_path / "partial.jsonl", rows[5:])
    with pytest.raises(UserError, match=r"5 of 60 listings have no LLM label and no recorded error"):
        fuse_export(export, str(partial), **kw)
    write_jsonl(tmp_path / "partial.errors.jsonl", [{"id": r["id"], "error": "server_error"} for r in rows[:5]])
    fuse_export(export, str(partial), **kw)  # errors recorded for the 5: they count as no answer, not missing
    other = write_jsonl(tmp_path / "v2.jsonl", [{**r, "provenance": {"policy": "marketplace_v1 v2"}} for r in rows])
    with pytest.raises(UserError, match=r"labels for marketplace_v1 v2, the export is marketplace_v1 v1 \(60 of 60"):
        fuse_export(export, str(other), **kw)


def _moderate(tmp_path, export, listings, url, *extra):
    from moddistill.fusion.moderate import moderate_file

    cfg = compose_config("moderate", [f"export_dir={export}", f"input={listings}", f"output={tmp_path / 'out.jsonl'}",
                                      f"cache={tmp_path / 'cache.sqlite'}", f"teacher.base_url={url}",
                                      "teacher.model=fake", *FAST, *extra])
    return moderate_file(cfg), {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}


def test_moderate_sends_only_routed_listings_to_the_llm_and_reruns_from_the_cache(fused_export, sample_slice,
                                                                                   tmp_path, policy):
    export, _, rules, *_ = fused_export
    cases = read_jsonl(sample_slice["cases"])
    from moddistill.data.listings import read_listings
    from moddistill.serving.runtime import ExportedModel

    listings, _ = read_listings(sample_slice["cases"])
    scores = ExportedModel.load(export).score(listings, progress=False)
    routed = {x.id for x, r in zip(listings, fuse(scores, None, rules).routed) if r}
    assert 0 < len(routed) < len(listings)
    title = {c["id"]: c["title"] for c in cases}
    fault_id = sorted(routed)[0]
    with FakeOpenAI(policy.ids, faults={title[fault_id]: ["malformed"] * 9}) as fake:
        summary, rows = _moderate(tmp_path, export, sample_slice["cases"], fake.url, "teacher.parse_retries=1")
        asked = {t for t in fake.counts if t != "<preflight>"}
    assert asked == {title[i] for i in routed}  # only routed listings reach the server
    assert list(rows) == [c["id"] for c in cases]
    assert {i for i, r in rows.items() if r["decided_by"] in ("llm", "expert")} == routed
    assert rows[fault_id]["decided_by"] == "expert" and "LLM unparseable: malformed JSON" in rows[fault_id]["reason"]
    llm_row = next(r for i, r in rows.items() if r["decided_by"] == "llm")
    assert llm_row["llm"]["model"] and llm_row["llm"]["prompt_version"].startswith("all_policies-")
    assert summary["decided_by"]["student"] == len(listings) - len(routed) and summary["routed_to_llm"] == len(routed)
    assert summary["llm_calls"] > 0 and summary["overhead_ms_per_listing"] < 5
    assert summary["latency"]["student"]["p50_ms"] > 0 and summary["latency"]["llm"]["n"] == len(routed)

    with FakeOpenAI(policy.ids) as fake:  # a rerun: every answer comes from the cache
        again, rows2 = _moderate(tmp_path, export, sample_slice["cases"], fake.url, "teacher.parse_retries=1")
        assert fake.listing_requests() == 0, (fake.counts, summary, again)
    assert again["llm_calls"] == 0 and {i: r["decided_by"] for i, r in rows2.items() if i != fault_id} == {
        i: r["decided_by"] for i, r in rows.items() if i != fault_id}


def test_an_unreachable_llm_sends_the_routed_listings_to_the_experts(fused_export, sample_slice, tmp_path):
    from tests.teacher.test_label_cli import free_port

    export, *_ = fused_export
    summary, rows = _moderate(tmp_path, export, sample_slice["cases"], f"http://127.0.0.1:{free_port()}/v1")
    routed = summary["routed_to_llm"]
    assert summary["llm_unreachable"] and "cannot reach the teacher server" in summary["llm_unreachable"]
    assert summary["decided_by"]["expert"] == routed > 0 and summary["decided_by"]["llm"] == 0
    experts = [r for r in rows.values() if r["decided_by"] == "expert"]
    assert all("LLM unreachable" in r["reason"] for r in experts)


def test_moderate_needs_fusion_rules(tiny_run, sample_slice, tmp_path):
    export = export_run(tiny_run, tmp_path / "plain", allow_collapsed=True, onnx=False)
    with pytest.raises(UserError, match="no fusion rules in this export; choose them first with"):
        _moderate(tmp_path, export, sample_slice["cases"], "http://127.0.0.1:9/v1")
    assert json.loads((export / MANIFEST).read_text(encoding="utf-8")).get("fusion") is None


TOY_RULE = '''
import numpy as np


class ProbabilityMargin:
    """The plain difference of probabilities: a band of the same width around any threshold."""

    def distance(self, scores, thresholds):
        return scores - thresholds

    def band(self, threshold, margin):
        return max(threshold - margin, 0.0), min(threshold + margin, 1.0)
'''


def test_a_fusion_rule_from_outside_the_package_is_one_module(fused_export, sample_slice, policy, tmp_path,
                                                              monkeypatch, capsys):
    """fusion.rule=package.module:Name measures the student's certainty for fuse.py (frontier, operating point,
    bands) and, recorded in the export's fusion.json, for moderate.py's routing; a rule that does not import is
    refused in one line, and an export whose rule no longer imports names it."""
    from moddistill.data.listings import read_listings
    from moddistill.serving.runtime import ExportedModel
    from tests.test_exit_codes import run_script

    (tmp_path / "toy_rules.py").write_text(TOY_RULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    source, llm, *_ = fused_export
    export = tmp_path / "export"
    shutil.copytree(source, export)
    args = [f"export_dir={export}", f"llm_labels={llm}", f"cases={sample_slice['cases']}", "fusion.llm_share=0.5",
            "fusion.disagreement_margin=0.45"]
    code, err = run_script("fuse", args + ["fusion.rule=toy_rules:ProbabilityMargin"], monkeypatch, capsys)
    assert code == 0, err
    saved = json.loads((export / "fusion.json").read_text())
    assert saved["rule"] == "toy_rules:ProbabilityMargin"
    margin, thresholds = saved["margin"], saved["thresholds"]
    assert {p: b for p, b in saved["bands"].items()} == {
        p: [pytest.approx(max(t - margin, 0), abs=1e-6), pytest.approx(min(t + margin, 1), abs=1e-6)]
        for p, t in thresholds.items()}
    assert "routing rule toy_rules:ProbabilityMargin" in (export / "fusion_report.md").read_text()
    verify_export(export)

    listings, _ = read_listings(sample_slice["cases"])
    scores = ExportedModel.load(export).score(listings, progress=False)
    near = np.abs(scores - np.array([thresholds[p] for p in policy.ids])) < margin
    expected = {x.id for x, r in zip(listings, near.any(axis=1)) if r}
    logit_routed = {x.id for x, r in zip(listings, fuse(scores, None, FusionRules.from_dict(
        {**saved, "rule": "logit_margin"})).routed) if r}
    assert 0 < len(expected) < len(listings) and expected != logit_routed  # the rule, not the logit band, routes
    title = {x.id: x.title for x in listings}
    with FakeOpenAI(policy.ids) as fake:
        summary, rows = _moderate(tmp_path, export, sample_slice["cases"], fake.url)
        asked = {t for t in fake.counts if t != "<preflight>"}
    assert asked == {title[i] for i in expected}
    assert {i for i, r in rows.items() if r["decided_by"] != "student"} == expected

    code, err = run_script("fuse", args + ["fusion.rule=toy_rules:Nope"], monkeypatch, capsys)
    assert code == 2 and "config key fusion.rule='toy_rules:Nope': cannot import toy_rules:Nope" in err
    (tmp_path / "toy_rules.py").unlink()  # the export's rule is no longer installed
    monkeypatch.delitem(sys.modules, "toy_rules")
    with pytest.raises(UserError, match=r"fusion rule 'toy_rules:ProbabilityMargin': cannot import"):
        _moderate(tmp_path, export, sample_slice["cases"], "http://127.0.0.1:9")
