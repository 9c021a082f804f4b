"""``scripts/moderate.py``: the fused moderator. The student scores every listing (the export's fastest runtime);
only the listings its fusion rules route go to the LLM, through the same backend, prompt designs and request
cache as ``label.py`` (a rerun is served from the cache; a killed run resumes without paying twice); the
experts' queue gets LLM failures, strong disagreements and always-human policies. Never a guessed decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from moddistill.config import to_dict
from moddistill.data.listings import read_listings
from moddistill.data.records import write_jsonl
from moddistill.fusion.operating_point import export_policy, load_rules
from moddistill.fusion.rules import ROUTES, fuse, routed
from moddistill.serving.runtime import ExportedModel
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labeling import ListingError, api_key_from_env, estimated_cost, run_labeler, server_settings
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.openai_backend import TeacherError
from moddistill.teacher.prompts import PromptDesign

log = logging.getLogger(__name__)
LATENCY_SAMPLE = 50  # listings scored one at a time for the student's single-listing latency


def _percentiles(seconds: list[float]) -> dict | None:
    if not seconds:
        return None
    return {"p50_ms": round(1000 * float(np.percentile(seconds, 50)), 2),
            "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 2), "n": len(seconds)}


def moderate_file(cfg: DictConfig) -> dict:
    """Moderate ``cfg.input`` into ``cfg.output`` (one row per listing, input order) and ``<output>.summary.json``."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.perf_counter()
    output = Path(cfg.output)
    listings, report = read_listings(cfg.input, on_error=cfg.on_error, columns=to_dict(cfg.columns),
                                     rejects_path=output.with_suffix(".rejects.jsonl"))
    export_dir = Path(cfg.export_dir)
    exported = ExportedModel.load(export_dir, cfg.runtime)
    manifest = exported.manifest
    rules = load_rules(export_dir, manifest)
    policy = export_policy(manifest, export_dir)

    t = time.perf_counter()
    scores = exported.score(listings, batch_size=cfg.batch_size, progress=bool(cfg.progress))
    student_s = time.perf_counter() - t
    single = []
    for x in listings[:LATENCY_SAMPLE]:
        t = time.perf_counter()
        exported.score([x], progress=False)
        single.append(time.perf_counter() - t)

    t = time.perf_counter()
    to_route = routed(scores, rules)
    overhead = time.perf_counter() - t
    to_llm = [x for x, r in zip(listings, to_route) if r]
    llm = np.full(scores.shape, np.nan)
    design = PromptDesign.from_cfg(to_dict(cfg.prompt), policy)
    answers: dict[str, TeacherLabel | ListingError] = {}
    unreachable = None
    stats = labeler = None
    t = time.perf_counter()
    if to_llm:
        settings = server_settings(cfg.teacher)
        try:
            api_key, key_source = api_key_from_env(cfg.teacher.api_key_env)
            with RequestCache(cfg.cache) as cache:
                labeler, results = asyncio.run(run_labeler(design, settings, api_key, key_source, cache, cfg.teacher,
                                                           to_llm, progress=bool(cfg.progress)))
            answers = {x.id: r for x, r in zip(to_llm, results)}
            stats = labeler.backend.stats
        except TeacherError as e:  # the LLM cannot be asked at all: every routed listing goes to the experts
            unreachable = str(e)
            log.error("LLM unreachable, %d routed listings go to the experts: %s", len(to_llm), e)
    llm_s = time.perf_counter() - t
    t = time.perf_counter()
    index = {x.id: i for i, x in enumerate(listings)}
    for lid, answer in answers.items():
        if isinstance(answer, TeacherLabel):
            llm[index[lid]] = answer.vector(policy.ids)
    fused = fuse(scores, None if unreachable else llm, rules)

    rows = []
    for i, x in enumerate(listings):
        row = {"id": x.id, "flagged": [p for j, p in enumerate(policy.ids) if fused.decisions[i, j]],
               "scores": {p: round(float(s), 6) for p, s in zip(policy.ids, scores[i])},
               "decided_by": str(fused.decided_by[i])}
        reason = fused.reasons[i]
        answer = answers.get(x.id)
        if isinstance(answer, TeacherLabel):
            row["llm"] = {"labels": dict(answer.probs), "rationale": answer.rationale,
                          "model": answer.provenance.get("model"), "prompt_version": design.version}
        elif isinstance(answer, ListingError):
            reason = f"{reason}: LLM {answer.kind}: {answer.reason}"
        elif to_route[i] and unreachable:
            reason = f"{reason}: LLM unreachable: {unreachable}"
        if reason:
            row["reason"] = reason
        rows.append(row)
    write_jsonl(output, rows)
    overhead += time.perf_counter() - t
    wall = time.perf_counter() - started

    tokens_in, tokens_out = (stats.tokens_in, stats.tokens_out) if stats else (0, 0)
    summary = {
        "input": str(cfg.input), "output": str(output), "export_dir": str(export_dir), "runtime": exported.runtime,
        "listings": len(listings), "rejected_rows": report.rejected,
        "decided_by": {r: int(c) for r, c in Counter({r: 0 for r in ROUTES} | Counter(fused.decided_by)).items()},
        "routed_to_llm": len(to_llm), "llm_unreachable": unreachable,
        "llm_errors": dict(Counter(a.kind for a in answers.values() if isinstance(a, ListingError))),
        "llm_calls": stats.calls if stats else 0, "served_from_cache": labeler.from_cache if labeler else 0,
        "tokens_in": tokens_in, "tokens_out": tokens_out,
        "estimated_cost": estimated_cost(to_dict(cfg.teacher.get("prices")) or {}, cfg.teacher.model, tokens_in,
                                         tokens_out) if stats else 0.0,
        "wall_s": round(wall, 3),
        "latency": {"student": _percentiles(single), "llm": _percentiles(list(labeler.seconds.values()))
                    if labeler else None},
        "seconds": {"student": round(student_s, 3), "llm": round(llm_s, 3), "routing_fusing_writing": round(overhead, 3)},
        # what moderation adds beyond the student's scoring and the LLM calls: routing, fusing, writing the rows
        "overhead_ms_per_listing": round(1000 * overhead / max(len(listings), 1), 4),
        "teacher": {"model": cfg.teacher.model, "base_url": cfg.teacher.base_url, "prompt_version": design.version},
        "rules": {"margin": rules.to_dict()["margin"], "chosen": rules.chosen.get("by")},
    }
    output.with_name(output.stem + ".summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
