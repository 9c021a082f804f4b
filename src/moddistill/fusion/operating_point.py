"""``scripts/fuse.py``: choose an export's fusion operating point from the student's scores and an LLM's labels on
a labelled set, and write the rules into the export (covered by its manifest hashes) with a report and a plot.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moddistill.data.listings import Listing, read_listings
from moddistill.data.policy import Policy, parse_policy
from moddistill.data.policy_cases import read_policy_cases
from moddistill.data.records import read_jsonl_ids
from moddistill.errors import UserError
from moddistill.fusion.report import frontier_plot, fusion_report
from moddistill.fusion.rules import DEFAULT_RULE, FUSION_FILE, FUSION_RULES, FusionRules, choose, frontier, kpis
from moddistill.runs.run import VALIDATION_SCORES_FILE
from moddistill.serving.manifest import write_manifest
from moddistill.serving.runtime import ExportedModel
from moddistill.teacher.labeler import estimated_cost
from moddistill.teacher.labels import read_teacher_labels

REPORT_FILE = "fusion_report.md"
PLOT_FILE = "fusion_frontier.png"


@dataclass
class LabelledSet:
    listings: list[Listing]
    gold: np.ndarray | None  # (n, k) 0/1 expected labels (policy cases), or None
    source: str


def export_policy(manifest: dict, export_dir: Path) -> Policy:
    return parse_policy(manifest["provenance"]["config"]["policy"], source=f"{export_dir}/moddistill.json")


def labelled_set(policy: Policy, *, cases: str | None, listings: str | None, ids: str | None,
                 manifest: dict) -> LabelledSet:
    """The policy cases (gold = their expected labels), or listings without gold; ``ids=validation`` keeps the
    export's training run's validation split only (listings the student was not trained on)."""
    if bool(cases) == bool(listings):
        raise UserError("give exactly one of cases=FILE (policy cases, with gold labels) or listings=FILE")
    if cases:
        suite, _ = read_policy_cases(cases, policy)
        chosen = LabelledSet([c.listing for c in suite], np.array([[p in c.expected for p in policy.ids]
                                                                   for c in suite], dtype=int), str(cases))
    else:
        rows, _ = read_listings(listings)
        chosen = LabelledSet(rows, None, str(listings))
    if ids == "validation":
        run = Path(manifest["provenance"]["training_run"])
        keep = read_jsonl_ids(run / VALIDATION_SCORES_FILE)
        idx = [i for i, x in enumerate(chosen.listings) if x.id in keep]
        if not idx:
            raise UserError(f"ids=validation: none of {chosen.source}'s listings is in {run}'s validation split")
        chosen = LabelledSet([chosen.listings[i] for i in idx], None if chosen.gold is None else chosen.gold[idx],
                             f"{chosen.source} (the {len(idx)} listings of the training run's validation split)")
    return chosen


def llm_matrix(path: str, policy: Policy, listings: list[Listing]) -> tuple[np.ndarray, dict]:
    """(n, k) LLM probabilities in listing order, NaN rows for listings the LLM answered with an error (in the
    labels' ``.errors.jsonl``); refuses labels for another policy version, and listings with neither."""
    labels, _ = read_teacher_labels(path, policy)
    want = f"{policy.id} v{policy.version}"
    versions = {lab.provenance.get("policy") for lab in labels.values()} - {None}
    if versions - {want}:
        raise UserError(f"llm_labels={path}: labels for {', '.join(sorted(versions - {want}))}, the export is {want} "
                        f"({sum(lab.provenance.get('policy') != want for lab in labels.values())} of {len(labels)} rows)")
    stem = Path(path)
    errors = read_jsonl_ids(stem.with_name(stem.stem + ".errors.jsonl"))
    missing = [x.id for x in listings if x.id not in labels and x.id not in errors]
    if missing:
        raise UserError(f"llm_labels={path}: {len(missing)} of {len(listings)} listings have no LLM label and no "
                        f"recorded error (first: {', '.join(missing[:3])}); label them first")
    m = np.full((len(listings), len(policy.ids)), np.nan)
    for i, x in enumerate(listings):
        if x.id in labels:
            m[i] = labels[x.id].vector(policy.ids)
    summary_path = stem.with_name(stem.stem + ".summary.json")
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    model = next((lab.provenance.get("model") for lab in labels.values() if lab.provenance.get("model")), "unknown")
    return m, {"file": str(path), "model": model, "answered": int(len(labels)), "errors": int(len(errors)),
               "tokens_per_listing": _tokens_per_listing(summary)}


def _tokens_per_listing(summary: dict) -> dict | None:
    n = summary.get("labelled", 0) + sum(summary.get("errors", {}).values())
    if not n or "tokens_in" not in summary:
        return None
    return {"in": summary["tokens_in"] / n, "out": summary["tokens_out"] / n}


def cost_per_1000(k: dict, llm: dict, prices: dict, student_cpu_s_per_listing: float) -> dict:
    tokens = llm["tokens_per_listing"]
    out = {"student_cpu_seconds": 1000 * student_cpu_s_per_listing, "llm_calls": 1000 * k["llm_share"]}
    if tokens:
        tokens_in, tokens_out = out["llm_calls"] * tokens["in"], out["llm_calls"] * tokens["out"]
        out["llm_tokens"] = tokens_in + tokens_out
        out["llm_cost_usd"] = estimated_cost(prices, llm["model"], tokens_in, tokens_out)
    return out


def fuse_export(export_dir: str | Path, llm_labels: str, *, cases: str | None, listings: str | None,
                ids: str | None, llm_share: float | None, target: float | None, disagreement_margin: float,
                always_human: list[str], prices: dict, rule: str = DEFAULT_RULE) -> tuple[FusionRules, dict, Path]:
    export_dir = Path(export_dir)
    exported = ExportedModel.load(export_dir)
    manifest = exported.manifest
    policy = export_policy(manifest, export_dir)
    unknown = [p for p in always_human if p not in policy.ids]
    if unknown:
        raise UserError(f"fusion.always_human: {', '.join(unknown)} not in policy {policy.id}")
    data = labelled_set(policy, cases=cases, listings=listings, ids=ids, manifest=manifest)
    llm, llm_info = llm_matrix(llm_labels, policy, data.listings)
    cpu = time.process_time()
    scores = exported.score(data.listings)
    cpu_per_listing = (time.process_time() - cpu) / len(data.listings)

    base = FusionRules(list(policy.ids), dict(manifest["thresholds"]), 0.0, disagreement_margin, list(always_human),
                       rule=rule)
    rows = frontier(scores, llm, data.gold, base)
    point, how = choose(rows, llm_share=llm_share, target=target, gold=data.gold is not None)
    rules = FusionRules(base.labels, base.thresholds, point["margin"], disagreement_margin, list(always_human),
                        chosen={"by": how, "llm_share": llm_share, "target": target, "on": data.source,
                                "llm_labels": llm_info["file"], "llm_model": llm_info["model"],
                                "figures": {k: v for k, v in point.items() if k != "per_policy_f1"}}, rule=rule)
    k = kpis(scores, llm, data.gold, rules)
    k["cost_per_1000"] = cost_per_1000(k, llm_info, prices, cpu_per_listing)
    result = {"rules": rules.to_dict(), "kpis": k, "llm": llm_info, "frontier": rows, "runtime": exported.runtime}

    (export_dir / FUSION_FILE).write_text(json.dumps(rules.to_dict(), indent=2), encoding="utf-8")
    (export_dir / REPORT_FILE).write_text(fusion_report(result, manifest), encoding="utf-8")
    frontier_plot(rows, point, data.gold is not None, export_dir / PLOT_FILE,
                  title=f"{manifest['model']['name']} + {llm_info['model']} on {Path(data.source.split(' ')[0]).name}")
    manifest["fusion"] = {"rules": FUSION_FILE, "report": REPORT_FILE, "plot": PLOT_FILE}
    write_manifest(export_dir, manifest)
    return rules, result, export_dir / REPORT_FILE


def load_rules(export_dir: Path, manifest: dict) -> FusionRules:
    if not (manifest.get("fusion") or {}).get("rules"):
        raise UserError(f"{export_dir}: no fusion rules in this export; choose them first with "
                        f"python scripts/fuse.py export_dir={export_dir} llm_labels=... cases=...")
    rules = FusionRules.from_dict(json.loads((export_dir / manifest["fusion"]["rules"]).read_text(encoding="utf-8")))
    if rules.labels != manifest["labels"] or any(not math.isclose(rules.thresholds[p], manifest["thresholds"][p])
                                                 for p in rules.labels):
        raise UserError(f"{export_dir}: the fusion rules were chosen for other labels or thresholds; run fuse.py again")
    FUSION_RULES.resolve(rules.rule)  # a rule that no longer imports fails here, before any listing is scored
    return rules
