"""Label listings with an LLM teacher: listings -> prompts -> cached, retried requests -> verdicts -> labels.

Writes the replay format (``TeacherLabel.to_dict()``, one row per labelled listing, in input order) so
``scripts/train.py teacher.labels=OUT`` reads it directly; listings whose answers could not be used go
to a separate errors file with the kind and reason, never into the labels. Outputs are written when
the run ends; a killed run loses nothing finished, because every answer is in the request cache the
moment it arrives, and the rerun rebuilds the outputs from it without calling the server again.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig
from tqdm import tqdm

from moddistill.config import policy_from_cfg, to_dict
from moddistill.data.listings import Listing, read_listings
from moddistill.data.records import write_jsonl
from moddistill.teacher.answers import Answer, NoAnswer, parse_answer
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.openai_backend import OpenAIBackend, ServerSettings, TeacherError
from moddistill.teacher.prompts import Prompt, PromptDesign
from moddistill.teacher.requester import Misses, Requester, in_order

log = logging.getLogger(__name__)


@dataclass
class ListingError:
    id: str
    kind: str
    reason: str

    def to_dict(self, provenance: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": self.id, "error": self.kind, "reason": self.reason, "provenance": dict(provenance)}


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


class Labeler:
    """Labels listings through one backend, one prompt design and one request cache."""

    def __init__(self, design: PromptDesign, backend: OpenAIBackend, cache: RequestCache, *, samples: int = 1,
                 temperature: float = 0.0, sample_temperature: float = 0.8, seed: int | None = 0,
                 parse_retries: int = 2):
        if samples < 1:
            raise TeacherError(f"teacher.samples must be at least 1, got {samples}")
        if samples > 1 and sample_temperature <= 0:
            raise TeacherError("teacher.samples > 1 needs teacher.sample_temperature > 0, or every vote is the same")
        self.design, self.backend, self.samples = design, backend, samples
        self.temperature = sample_temperature if samples > 1 else temperature
        # an unusable answer is asked again at sample_temperature: at temperature 0 a deterministic
        # server would only repeat it
        self.requester = Requester(backend, cache, temperature=self.temperature,
                                   retry_temperature=max(self.temperature, sample_temperature), seed=seed,
                                   parse_retries=parse_retries)
        self.from_cache = 0
        self.seconds: dict[str, float] = {}  # listing id -> wall seconds its requests took (cache hits included)

    def provenance(self, confidence: str | None = None, time: str | None = None) -> dict[str, Any]:
        policy = self.design.policy
        out = {"backend": "openai", "model": self.backend.settings.model, "prompt_version": self.design.version,
               "policy": f"{policy.id} v{policy.version}", "samples": self.samples, "temperature": self.temperature}
        if confidence:
            out["confidence"] = "votes" if self.samples > 1 else confidence
        if time:
            out["time"] = time
        return out

    async def label(self, listings: list[Listing], *, progress: bool = True) -> list[TeacherLabel | ListingError]:
        """One result per listing, in input order: its label, or why it has none."""
        bar = tqdm(total=len(listings), desc="labelling", unit="listing", disable=not progress, mininterval=0.5)
        errors = 0

        def done(result: TeacherLabel | ListingError) -> None:
            nonlocal errors
            errors += isinstance(result, ListingError)
            bar.update()
            bar.set_postfix(calls=self.backend.stats.calls, cached=self.from_cache, errors=errors, refresh=False)

        try:
            return await in_order(listings, self._listing, concurrency=self.backend.settings.concurrency, done=done)
        finally:
            bar.close()

    async def _listing(self, listing: Listing) -> TeacherLabel | ListingError:
        started = time.perf_counter()
        try:
            return await self._label_one(listing)
        finally:
            self.seconds[listing.id] = time.perf_counter() - started

    async def _label_one(self, listing: Listing) -> TeacherLabel | ListingError:
        answers: list[tuple[Prompt, list[Answer]]] = []
        received, misses = "", Misses()
        try:
            for prompt in self.design.prompts(listing):
                votes = []
                for sample in range(self.samples):
                    parse = functools.partial(parse_answer, policy_ids=prompt.policy_ids, mode=self.design.mode)
                    answer, when = await self.requester.ask(prompt, parse, misses=misses, sample=sample)
                    votes.append(answer)
                    received = max(received, when)
                answers.append((prompt, votes))
        except NoAnswer as e:
            result: TeacherLabel | ListingError = ListingError(listing.id, e.kind, e.reason)
        else:
            result = self._combine(listing.id, answers, received)
        self.from_cache += misses.count == 0
        return result

    def _combine(self, listing_id: str, answers: list[tuple[Prompt, list[Answer]]], received: str) -> TeacherLabel:
        probs: dict[str, float] = {}
        sources = set()
        rationales = []
        for prompt, votes in answers:
            for pid in prompt.policy_ids:
                verdicts = [a.verdicts[pid] for a in votes]
                probs[pid] = (sum(v.violates for v in verdicts) / len(verdicts) if self.samples > 1
                              else verdicts[0].prob)
                sources.update(v.source for v in verdicts)
            rationale = votes[0].rationale
            if self.design.mode != "per_policy":
                rationales.append(rationale)
            elif probs[prompt.policy_ids[0]] >= 0.5 and rationale:
                rationales.append(f"{prompt.policy_ids[0]}: {rationale}")
        policy_ids = self.design.policy.ids
        rationale = "; ".join(r for r in rationales if r)
        if not rationale and self.design.mode != "all_policies":  # these answers may carry no rationale
            violated = [p for p in policy_ids if probs[p] >= 0.5]
            rationale = f"Violates {', '.join(violated)}." if violated else "No policy violated."
        confidence = sources.pop() if len(sources) == 1 else "mixed"
        return TeacherLabel(listing_id, {p: probs[p] for p in policy_ids}, rationale,
                            self.provenance(confidence=confidence, time=received))


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


def server_settings(teacher: DictConfig) -> ServerSettings:
    return ServerSettings(**{f.name: to_dict(teacher[f.name]) for f in fields(ServerSettings)
                             if teacher.get(f.name) is not None})


async def run_labeler(design, settings, api_key, key_source, cache, teacher, listings, *, progress):
    async with OpenAIBackend(settings, api_key, key_source=key_source) as backend:
        labeler = Labeler(design, backend, cache, samples=int(teacher.samples), temperature=float(teacher.temperature),
                          sample_temperature=float(teacher.sample_temperature), seed=teacher.seed,
                          parse_retries=int(teacher.parse_retries))
        return labeler, await labeler.label(listings, progress=progress)


def api_key_from_env(env: str | None) -> tuple[str | None, str]:
    """The key from the environment variable named by teacher.api_key_env (never from a config file)."""
    if not env:
        return None, "no key"
    key = os.environ.get(env, "")
    if not key.strip():
        raise TeacherError(f"teacher.api_key_env={env}: the environment variable {env} is not set or is empty")
    return key.strip(), f"${env}"


def estimated_cost(prices: Mapping[str, Mapping[str, float]], model: str, tokens_in: int,
                   tokens_out: int) -> float | None:
    """Estimated cost from the price table: USD per million input and output tokens."""
    price = prices.get(model)
    if price is None:
        return None
    return tokens_in / 1e6 * float(price["input_per_1m"]) + tokens_out / 1e6 * float(price["output_per_1m"])
