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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from moddistill.config import to_dict
from moddistill.data.listings import Listing, read_listings
from moddistill.data.records import write_jsonl
from moddistill.fusion.operating_point import export_policy, load_rules
from moddistill.fusion.rules import ROUTES, fuse, routed
from moddistill.serving.runtime import ExportedModel
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labeler import (
    Labeler,
    ListingError,
    api_key_from_env,
    estimated_cost,
    run_labeler,
    server_settings,
)
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


def moderate_file(cfg: DictConfig, exported: ExportedModel | None = None) -> dict:
    """Moderate ``cfg.input`` into ``cfg.output`` (one row per listing, input order) and ``<output>.summary.json``:
    the student scores everything, the rules route, the LLM answers what was routed, fusion decides.
    ``exported``: the export already loaded from ``cfg.export_dir`` (engine=ray's actors load it once)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.perf_counter()
    output = Path(cfg.output)
    listings, report = read_listings(cfg.input, on_error=cfg.on_error, columns=to_dict(cfg.columns),
                                     rejects_path=output.with_suffix(".rejects.jsonl"))
    export_dir = Path(cfg.export_dir)
    exported = exported or ExportedModel.load(export_dir, cfg.runtime)
    rules = load_rules(export_dir, exported.manifest)
    policy = export_policy(exported.manifest, export_dir)

    student = _score_with_student(exported, listings, batch_size=cfg.batch_size, progress=bool(cfg.progress))
    t = time.perf_counter()
    to_route = routed(student.scores, rules)
    overhead = time.perf_counter() - t
    design = PromptDesign.from_cfg(to_dict(cfg.prompt), policy)
    llm = _ask_llm(cfg, design, [x for x, r in zip(listings, to_route) if r])
    t = time.perf_counter()
    fused = fuse(student.scores, None if llm.unreachable else llm.matrix(listings, policy.ids, student.scores.shape),
                 rules)
    write_jsonl(output, _decision_rows(listings, student.scores, fused, to_route, llm, policy.ids, design.version))
    overhead += time.perf_counter() - t

    stats = llm.labeler.backend.stats if llm.labeler else None
    tokens_in, tokens_out = (stats.tokens_in, stats.tokens_out) if stats else (0, 0)
    summary = {
        "input": str(cfg.input), "output": str(output), "export_dir": str(export_dir), "runtime": exported.runtime,
        "listings": len(listings), "rejected_rows": report.rejected,
        "decided_by": {r: int(c) for r, c in Counter({r: 0 for r in ROUTES} | Counter(fused.decided_by)).items()},
        "routed_to_llm": llm.asked, "llm_unreachable": llm.unreachable,
        "llm_errors": dict(Counter(a.kind for a in llm.answers.values() if isinstance(a, ListingError))),
        "llm_calls": stats.calls if stats else 0, "served_from_cache": llm.labeler.from_cache if llm.labeler else 0,
        "tokens_in": tokens_in, "tokens_out": tokens_out,
        "estimated_cost": estimated_cost(to_dict(cfg.teacher.get("prices")) or {}, cfg.teacher.model, tokens_in,
                                         tokens_out) if stats else 0.0,
        "wall_s": round(time.perf_counter() - started, 3),
        "latency": {"student": _percentiles(student.single_seconds),
                    "llm": _percentiles(list(llm.labeler.seconds.values())) if llm.labeler else None},
        "seconds": {"student": round(student.seconds, 3), "llm": round(llm.seconds, 3),
                    "routing_fusing_writing": round(overhead, 3)},
        # what moderation adds beyond the student's scoring and the LLM calls: routing, fusing, writing the rows
        "overhead_ms_per_listing": round(1000 * overhead / max(len(listings), 1), 4),
        "teacher": {"model": cfg.teacher.model, "base_url": cfg.teacher.base_url, "prompt_version": design.version},
        "rules": {"margin": rules.to_dict()["margin"], "chosen": rules.chosen.get("by")},
    }
    output.with_name(output.stem + ".summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


@dataclass
class StudentScores:
    scores: np.ndarray  # (listings, policies)
    seconds: float  # scoring every listing in batches
    single_seconds: list[float]  # the first LATENCY_SAMPLE listings scored one at a time


def _score_with_student(exported: ExportedModel, listings: list[Listing], *, batch_size: int,
                        progress: bool) -> StudentScores:
    t = time.perf_counter()
    scores = exported.score(listings, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t
    single = []
    for x in listings[:LATENCY_SAMPLE]:
        t = time.perf_counter()
        exported.score([x], progress=False)
        single.append(time.perf_counter() - t)
    return StudentScores(scores, seconds, single)


@dataclass
class LLMAnswers:
    asked: int
    answers: dict[str, TeacherLabel | ListingError] = field(default_factory=dict)
    unreachable: str | None = None  # why the LLM could not be asked at all
    labeler: Labeler | None = None
    seconds: float = 0.0

    def matrix(self, listings: list[Listing], policy_ids, shape) -> np.ndarray:
        """The LLM's probabilities in listing order; NaN where it was not asked or gave no answer."""
        out = np.full(shape, np.nan)
        index = {x.id: i for i, x in enumerate(listings)}
        for lid, answer in self.answers.items():
            if isinstance(answer, TeacherLabel):
                out[index[lid]] = answer.vector(policy_ids)
        return out


def _ask_llm(cfg: DictConfig, design: PromptDesign, listings: list[Listing]) -> LLMAnswers:
    """The routed listings through the labeller (cached, resumable); an unreachable server sends them all to the
    experts instead of stopping the run."""
    out = LLMAnswers(asked=len(listings))
    if not listings:
        return out
    t = time.perf_counter()
    try:
        api_key, key_source = api_key_from_env(cfg.teacher.api_key_env)
        with RequestCache(cfg.cache) as cache:
            out.labeler, results = asyncio.run(run_labeler(design, server_settings(cfg.teacher), api_key, key_source,
                                                           cache, cfg.teacher, listings, progress=bool(cfg.progress)))
        out.answers = {x.id: r for x, r in zip(listings, results)}
    except TeacherError as e:  # the LLM cannot be asked at all: every routed listing goes to the experts
        out.unreachable = str(e)
        log.error("LLM unreachable, %d routed listings go to the experts: %s", len(listings), e)
    out.seconds = time.perf_counter() - t
    return out


def _decision_rows(listings: list[Listing], scores: np.ndarray, fused, to_route: np.ndarray, llm: LLMAnswers,
                   policy_ids, prompt_version: str) -> list[dict]:
    """One output row per listing: its flags, scores, who decided, the LLM's answer or why there is none."""
    rows = []
    for i, x in enumerate(listings):
        row = {"id": x.id, "flagged": [p for j, p in enumerate(policy_ids) if fused.decisions[i, j]],
               "scores": {p: round(float(s), 6) for p, s in zip(policy_ids, scores[i])},
               "decided_by": str(fused.decided_by[i])}
        reason = fused.reasons[i]
        answer = llm.answers.get(x.id)
        if isinstance(answer, TeacherLabel):
            row["llm"] = {"labels": dict(answer.probs), "rationale": answer.rationale,
                          "model": answer.provenance.get("model"), "prompt_version": prompt_version}
        elif isinstance(answer, ListingError):
            reason = f"{reason}: LLM {answer.kind}: {answer.reason}"
        elif to_route[i] and llm.unreachable:
            reason = f"{reason}: LLM unreachable: {llm.unreachable}"
        if reason:
            row["reason"] = reason
        rows.append(row)
    return rows
