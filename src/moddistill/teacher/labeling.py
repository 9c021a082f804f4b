"""Label a listings file with an LLM teacher (``scripts/label.py``): the labeller (``labeler.py``) over a file.

Writes the replay format (``TeacherLabel.to_dict()``, one row per labelled listing, in input order) so
``scripts/train.py teacher.labels=OUT`` reads it directly; listings whose answers could not be used go
to a separate errors file with the kind and reason, never into the labels. Outputs are written when
the run ends; a killed run loses nothing finished, because every answer is in the request cache the
moment it arrives, and the rerun rebuilds the outputs from it without calling the server again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from moddistill.config import policy_from_cfg, to_dict
from moddistill.data.listings import read_listings
from moddistill.data.records import write_jsonl
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labeler import ListingError, api_key_from_env, estimated_cost, run_labeler, server_settings
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.openai_backend import TeacherError
from moddistill.teacher.prompts import PromptDesign

log = logging.getLogger(__name__)


@dataclass
class LabelSummary:
    """What a labelling run did; ``listings == labelled + errors``."""

    input: str
    output: str
    errors_output: str
    model: str
    prompt_version: str
    listings: int = 0
    rejected: int = 0
    labelled: int = 0
    from_cache: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    wall_s: float = 0.0

    @property
    def listings_per_s(self) -> float:
        return self.listings / self.wall_s if self.wall_s > 0 else 0.0

    def lines(self) -> list[str]:
        errors = sum(self.errors.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.errors.items()))
        retries = ", ".join(f"{k} {n}" for k, n in sorted(self.retries.items())) or "none"
        cost = f"${self.cost:.4f}" if self.cost is not None else f"unknown (no price for {self.model} in teacher.prices)"
        return [
            f"listings: {self.listings} from {self.input}" + (f" ({self.rejected} rejected rows)" if self.rejected else ""),
            f"labelled: {self.labelled} -> {self.output}",
            f"errors: {errors}" + (f" ({kinds})" if kinds else "") + f" -> {self.errors_output}",
            f"served from cache: {self.from_cache} listings; calls made: {self.calls} (retries: {retries})",
            f"tokens: {self.tokens_in:,} in, {self.tokens_out:,} out; estimated cost: {cost}",
            f"wall time: {self.wall_s:.1f} s, {self.listings_per_s:.3g} listings/s",
            f"teacher: {self.model}, prompt {self.prompt_version}",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "listings_per_s": self.listings_per_s}


def label_file(cfg: DictConfig) -> LabelSummary:
    """Run ``scripts/label.py``: read ``cfg.input``, label it, write ``cfg.output`` and its errors and summary."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would bury the progress bar
    teacher = cfg.teacher
    if teacher.backend != "openai":
        raise TeacherError(f"scripts/label.py labels with teacher=openai; teacher={teacher.backend} reads stored labels")
    policy = policy_from_cfg(cfg)
    design = PromptDesign.from_cfg(to_dict(cfg.prompt), policy)
    settings = server_settings(teacher)
    api_key, key_source = api_key_from_env(teacher.api_key_env)
    output = Path(cfg.output)
    if output.suffix not in (".jsonl", ".ndjson"):
        raise TeacherError(f"output={output}: teacher labels are written as JSONL (.jsonl)")
    errors_output = output.with_name(output.stem + ".errors.jsonl")
    listings, report = read_listings(cfg.input, on_error=cfg.on_error, columns=to_dict(cfg.columns),
                                     rejects_path=output.with_name(output.stem + ".rejects.jsonl"))
    log.info(report.summary())

    summary = LabelSummary(input=str(cfg.input), output=str(output), errors_output=str(errors_output),
                           model=settings.model, prompt_version=design.version, listings=len(listings),
                           rejected=report.rejected)
    started = time.perf_counter()
    with RequestCache(cfg.cache) as cache:
        labeler, results = asyncio.run(run_labeler(design, settings, api_key, key_source, cache, teacher, listings,
                                                   progress=bool(cfg.progress)))
    summary.wall_s = time.perf_counter() - started

    labels = [r for r in results if isinstance(r, TeacherLabel)]
    errors = [r for r in results if isinstance(r, ListingError)]
    write_jsonl(output, (lab.to_dict() for lab in labels))
    write_jsonl(errors_output, (e.to_dict(labeler.provenance()) for e in errors))
    stats = labeler.backend.stats
    summary.labelled, summary.from_cache = len(labels), labeler.from_cache
    summary.errors = dict(Counter(e.kind for e in errors))
    summary.calls, summary.retries = stats.calls, dict(stats.retries)
    summary.tokens_in, summary.tokens_out = stats.tokens_in, stats.tokens_out
    summary.cost = estimated_cost(to_dict(teacher.get("prices")) or {}, settings.model, stats.tokens_in,
                                  stats.tokens_out)
    assert summary.listings == summary.labelled + sum(summary.errors.values())
    output.with_name(output.stem + ".summary.json").write_text(
        json.dumps({**summary.to_dict(), "teacher": to_dict(teacher), "prompt": to_dict(cfg.prompt)}, indent=2),
        encoding="utf-8")
    return summary
