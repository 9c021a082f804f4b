"""A small review set built in each test's tmp_path: eight listings (one with markup in its title and description),
a moderate.py output with two expert rows, an audit.py sample drawn from it by audit.py itself, a one-row
select_batch.py batch, and an export directory whose manifest names the policy (no model: the console scores
nothing), with fusion.json, a moderate.py summary, a drift report and a leaderboard csv for the dashboard."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from moddistill.config import policy_from_cfg
from moddistill.config_checks import check_config
from moddistill.fusion.rules import FUSION_FILE, FusionRules
from moddistill.loop.audit import draw_sample
from moddistill.review.console import open_console
from moddistill.serving.manifest import EXPORT_FORMAT, write_manifest
from tests.conftest import POLICY_FILE, compose_config, write_jsonl

HOSTILE_TITLE = '<script>alert("title")</script> Hunting knife'
HOSTILE_DESCRIPTION = '<img src=x onerror=alert(1)> sharp, "fixed" blade & sheath'


def listing(lid: str, title: str = "Vintage lamp", description: str = "Brass, works", **changes) -> dict:
    return {"id": lid, "title": title, "description": description, "category": "Home > Lighting", "price": 25.0,
            "currency": "USD", "market": "US", "language": "en", **changes}


def decision(lid: str, flagged=(), decided_by="student", scores=None, **extra) -> dict:
    scores = scores or {"weapons": 0.9 if "weapons" in flagged else 0.05}
    return {"id": lid, "flagged": list(flagged), "scores": scores, "decided_by": decided_by, **extra}


@pytest.fixture
def review_files(tmp_path, policy) -> dict[str, Path]:
    listings = [listing("r0", HOSTILE_TITLE, HOSTILE_DESCRIPTION, category="Sports > Knives")] + [
        listing(f"r{i}", f"Listing number {i}") for i in range(1, 8)]
    decisions = [
        decision("r0", ["weapons"], "expert", {"weapons": 0.97, "drugs": 0.01},
                 reason="student and LLM disagree strongly on weapons",
                 llm={"labels": {"weapons": 0.1, "drugs": 0.0}, "rationale": "A <b>kitchen</b> knife, allowed.",
                      "model": "qwen", "prompt_version": "v3"}),
        decision("r1", [], "expert", reason="no usable LLM answer: LLM timeout: read timed out"),
        decision("r2", ["weapons"]), decision("r3", ["weapons"], "llm"), decision("r4"), decision("r5"),
        decision("r6"), decision("r7", ["weapons"])]
    out = {"listings": write_jsonl(tmp_path / "listings.jsonl", listings),
           "decisions": write_jsonl(tmp_path / "moderated.jsonl", decisions)}
    out["sample"] = tmp_path / "audit_sample.jsonl"
    draw_sample(out["decisions"], out["sample"], 4, policy, listings_path=out["listings"], seed=0, min_per_stratum=2)
    out["batch"] = write_jsonl(tmp_path / "batch.jsonl", [{
        **listing("b1", "Designer bag, mirror quality"),
        "selection": {"strategy": "uncertainty", "score": 0.98, "reason": "counterfeit score 0.189, threshold 0.190",
                      "rank": 1, "policy": "counterfeit"}}])
    (tmp_path / "moderated.summary.json").write_text(json.dumps({
        "listings": 8, "decided_by": {"student": 5, "llm": 1, "expert": 2}, "llm_calls": 3, "served_from_cache": 0,
        "estimated_cost": 0.004, "input": str(out["listings"])}), encoding="utf-8")
    out["export"] = _export(tmp_path / "export", policy)
    out["drift"] = tmp_path / "drift"
    out["drift"].mkdir()
    (out["drift"] / "drift_report.json").write_text(json.dumps({
        "status": "alert", "reference": {"path": "ref.jsonl"}, "current": {"path": "cur.jsonl"},
        "checks": [{"check": "language mix", "measure": "PSI", "value": 0.61, "warn": 0.1, "alert": 0.25,
                    "status": "alert"},
                   {"check": "text length", "measure": "PSI", "value": 0.02, "warn": 0.1, "alert": 0.25,
                    "status": "ok"}]}), encoding="utf-8")
    out["leaderboard"] = tmp_path / "leaderboard.csv"
    with out["leaderboard"].open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["run", "status", "kind", "model", "macro_f1", "macro_f1_ci_low",
                                          "macro_f1_ci_high"])
        w.writeheader()
        w.writerow({"run": "demo/run-a", "status": "ok", "kind": "student", "model": "minilm", "macro_f1": "0.823",
                    "macro_f1_ci_low": "0.80", "macro_f1_ci_high": "0.85"})
        w.writerow({"run": "baseline/tfidf", "status": "ok", "kind": "baseline", "model": "tfidf",
                    "macro_f1": "0.811", "macro_f1_ci_low": "0.79", "macro_f1_ci_high": "0.83"})
        w.writerow({"run": "sweeps/broken", "status": "failed: boom", "kind": "student", "model": "x",
                    "macro_f1": "", "macro_f1_ci_low": "", "macro_f1_ci_high": ""})
    return out


def _export(root: Path, policy) -> Path:
    """An export directory as far as the console reads one: a verified manifest naming the policy and thresholds,
    and fusion.json (no model files: the console never scores)."""
    root.mkdir()
    thresholds = {p: 0.5 for p in policy.ids}
    rules = FusionRules(list(policy.ids), thresholds, 1.0, 3.0, ["weapons"],
                        chosen={"by": "the best macro_f1 with at most 15% of listings sent to the LLM",
                                "on": "cases.jsonl", "llm_model": "qwen",
                                "figures": {"automation_rate": 0.86, "llm_share": 0.11, "expert_share": 0.03,
                                            "macro_f1": 0.84}})
    (root / FUSION_FILE).write_text(json.dumps(rules.to_dict()), encoding="utf-8")
    raw_policy = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    write_manifest(root, {"format": EXPORT_FORMAT, "labels": list(policy.ids), "thresholds": thresholds,
                          "provenance": {"config": {"policy": raw_policy}}})
    return root


def review_overrides(files: dict[str, Path], tmp_path: Path, *queues: str) -> list[str]:
    queues = queues or ("decisions", "sample", "batch")
    return [f"export_dir={files['export']}", f"queues=[{','.join(str(files[q]) for q in queues)}]",
            f"listings={files['listings']}", f"decisions={files['decisions']}", f"store={tmp_path / 'review.sqlite'}",
            f"dashboard.drift={files['drift']}", f"dashboard.leaderboard={files['leaderboard']}"]


def make_console(files: dict[str, Path], tmp_path: Path, *queues: str, extra: list[str] = ()):
    cfg = compose_config("review", review_overrides(files, tmp_path, *queues) + list(extra))
    return open_console(check_config(cfg, "review"), policy_from_cfg(cfg))


@pytest.fixture
def console(review_files, tmp_path):
    return make_console(review_files, tmp_path)
