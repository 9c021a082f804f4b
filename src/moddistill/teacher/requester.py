"""Asking a teacher through the request cache: what labelling and contrast generation share.

Every request is looked up in the cache before it is sent and stored the moment its answer arrives, so no
answer is paid for twice and a killed run loses nothing finished. An answer that cannot be used is asked
again as a new, separately cached request (another seed, at the retry temperature: a deterministic server
would only repeat itself). The preflight runs before the first request that is not in the cache, so a rerun
whose answers are all cached calls nothing, not even the preflight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from moddistill.teacher.answers import AnswerError
from moddistill.teacher.cache import RequestCache, request_key
from moddistill.teacher.openai_backend import OpenAIBackend
from moddistill.teacher.prompts import Prompt

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Misses:
    """Requests that were not in the cache (sent to the server), counted across one unit of work."""

    count: int = 0


class Requester:
    """Cached, re-asked requests through one backend and one request cache."""

    def __init__(self, backend: OpenAIBackend, cache: RequestCache, *, temperature: float, retry_temperature: float,
                 seed: int | None, parse_retries: int):
        self.backend, self.cache = backend, cache
        self.temperature, self.retry_temperature = temperature, retry_temperature
        self.seed, self.parse_retries = seed, parse_retries
        # The form "auto" resolved to, remembered per server and model: requests (and so cache keys)
        # depend on it, and a rerun must find its answers without a preflight call.
        self._format_key = f"structured_output {backend.settings.base_url} {backend.settings.model}"
        if backend.settings.structured_output == "auto":
            backend.structured_output = cache.get_meta(self._format_key) or "auto"

    async def ask(self, prompt: Prompt, parse: Callable[[Mapping[str, Any]], T], *, misses: Misses,
                  sample: int = 0) -> tuple[T, str]:
        """``parse`` of a usable answer to ``prompt`` and when that answer arrived. ``parse`` raises AnswerError
        for an answer that cannot be used; after ``parse_retries`` more tries the last one is raised."""
        for attempt in range(self.parse_retries + 1):
            body, key = self._request(prompt, sample, attempt)
            stored = self.cache.get(key)
            if stored is None:
                if await self.backend.ready():
                    self.cache.put_meta(self._format_key, self.backend.structured_output)
                # the preflight may have just resolved "auto" (a server at a new address): the request, and
                # perhaps its cached answer, are now those of the resolved form
                body, key = self._request(prompt, sample, attempt)
                stored = self.cache.get(key)
            if stored is None:
                misses.count += 1
                stored = await self.backend.complete(body)
                stored["received"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                self.cache.put(key, stored)
            try:
                return parse(stored), stored["received"]
            except AnswerError as e:
                error = e
        raise AnswerError(error.kind, f"{error.reason} (in each of {self.parse_retries + 1} answers)")

    def _request(self, prompt: Prompt, sample: int, attempt: int) -> tuple[dict, str]:
        seed = None if self.seed is None else self.seed + sample + 1000 * attempt
        temperature = self.retry_temperature if attempt else self.temperature
        body = self.backend.body(prompt, temperature=temperature, seed=seed)
        return body, request_key(body, sample=sample, attempt=attempt)


async def in_order(items: Sequence[T], work: Callable[[T], Awaitable[R]], *, concurrency: int,
                   done: Callable[[R], None] = lambda result: None) -> list[R]:
    """``work`` on every item, ``concurrency`` at a time, results in input order; ``done`` sees each result as it
    comes (a progress bar). An error that stops the run in one worker cancels the others."""
    results: list[Any] = [None] * len(items)
    pending = iter(range(len(items)))

    async def worker() -> None:
        for i in pending:  # shared iterator: each index is taken by exactly one worker
            results[i] = await work(items[i])
            done(results[i])

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:  # a run-stopping error in one worker stops the others before the client closes
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results
