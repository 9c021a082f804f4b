"""The labeller: listings -> prompts -> cached, retried requests -> verdicts -> teacher labels, or an error per
listing with its kind and reason (never a guessed label). ``labeling.py`` drives it over a file (``scripts/label.py``);
``fusion/moderate.py`` over the listings its rules route; ``generation.py`` shares its request path."""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import DictConfig
from tqdm import tqdm

from moddistill.config import to_dict
from moddistill.data.listings import Listing
from moddistill.teacher.answers import Answer, NoAnswer, parse_answer
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.openai_backend import OpenAIBackend, TeacherError
from moddistill.teacher.prompts import Prompt, PromptDesign
from moddistill.teacher.requester import Misses, Requester, in_order
from moddistill.teacher.settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass
class ListingError:
    id: str
    kind: str
    reason: str

    def to_dict(self, provenance: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": self.id, "error": self.kind, "reason": self.reason, "provenance": dict(provenance)}


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


def server_settings(teacher: DictConfig) -> ServerSettings:
    return ServerSettings.model_validate({key: to_dict(teacher[key]) for key in ServerSettings.model_fields})


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
