"""The ``openai`` teacher backend: any OpenAI-compatible ``/chat/completions`` server (vLLM, SGLang,
llama.cpp, Ollama, a vendor API), called asynchronously.

- A preflight request fails the run fast, before any listing is sent, when the server is unreachable,
  rejects the key, does not know the model, or refuses every structured-output form tried.
- Structured output: ``json_schema`` (OpenAI's ``response_format``), ``json_object_schema`` (llama.cpp's
  ``{"type": "json_object", "schema": ...}``), plain ``json_object`` or ``none``; ``auto`` lets the
  preflight pick the first form the server accepts, in that order.
- Requests run under a concurrency limit and optional requests- and tokens-per-minute limits; timeouts,
  connection drops, 429 (after its Retry-After) and 5xx are retried with exponential backoff and full
  jitter; any other 4xx fails that request at once; 401/403 stops the run.
- The API key only ever sits in the client's Authorization header. Text quoted from the server is
  redacted before it reaches an exception, a log or an output, since some servers echo the key.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from moddistill.errors import UserError
from moddistill.teacher.answers import NoAnswer
from moddistill.teacher.prompts import Prompt
from moddistill.teacher.settings import STRUCTURED_OUTPUT, ServerSettings

log = logging.getLogger(__name__)

_PREFLIGHT = Prompt(({"role": "user", "content": 'Reply with the JSON object {"ok": true}.'},), (),
                   {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                    "additionalProperties": False})


class TeacherError(UserError, RuntimeError):
    """Stops the whole run: unreachable server, rejected key, unknown model, impossible settings."""


class RequestFailed(NoAnswer):
    """One request that failed for good (after its retries)."""


class RateLimiter:
    """A token bucket refilled continuously at ``per_minute / 60`` per second, holding one second's worth.

    A request larger than the bucket may take it below zero; the next waits until it is refilled, so the
    average rate holds whatever the request sizes."""

    def __init__(self, per_minute: float, clock=time.monotonic, sleep=asyncio.sleep):
        self.rate = per_minute / 60.0
        self.capacity = self.level = self.rate
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
                self._last = now
                if self.level >= min(amount, self.capacity):
                    self.level -= amount
                    return
                await self._sleep((min(amount, self.capacity) - self.level) / self.rate)


@dataclass
class CallStats:
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    retries: Counter = field(default_factory=Counter)


class OpenAIBackend:
    """One HTTP client for a run; use as ``async with OpenAIBackend(...) as backend``."""

    def __init__(self, settings: ServerSettings, api_key: str | None = None, *, key_source: str = "no key"):
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.structured_output = settings.structured_output
        self.stats = CallStats()
        self._key, self._key_source = api_key, key_source
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._rpm = RateLimiter(settings.requests_per_minute) if settings.requests_per_minute else None
        self._tpm = RateLimiter(settings.tokens_per_minute) if settings.tokens_per_minute else None
        self._client: httpx.AsyncClient | None = None
        self._ready: bool | TeacherError = False
        self._ready_lock = asyncio.Lock()

    async def __aenter__(self) -> "OpenAIBackend":
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx.Limits(max_connections=self.settings.concurrency + 1)
        self._client = httpx.AsyncClient(headers=headers, timeout=self.settings.timeout_s, limits=limits)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._client.aclose()

    def body(self, prompt: Prompt, *, temperature: float, seed: int | None, structured_output: str | None = None,
             max_tokens: int | None = None) -> dict[str, Any]:
        """The request body for ``prompt``: everything that decides the answer, so it is also the cache key.
        ``structured_output`` and ``max_tokens`` default to the run's (the preflight tries each form)."""
        body = {"model": self.settings.model, "messages": [dict(m) for m in prompt.messages],
                "temperature": temperature, "max_tokens": max_tokens or self.settings.max_tokens}
        if seed is not None:
            body["seed"] = seed
        if self.settings.logprobs and prompt.reads_logprobs:
            body.update(logprobs=True, top_logprobs=self.settings.top_logprobs)
        fmt = _response_format(structured_output or self.structured_output, prompt.schema)
        if fmt:
            body["response_format"] = fmt
        return {**body, **self.settings.extra_body}

    async def ready(self) -> bool:
        """Run the preflight once, before the first request that is not in the cache (so a rerun whose
        answers are all cached calls nothing). True when it ran in this call; a failure is raised again
        to every later caller."""
        async with self._ready_lock:
            if isinstance(self._ready, TeacherError):
                raise self._ready
            if self._ready:
                return False
            try:
                await self.preflight()
            except TeacherError as e:
                self._ready = e
                raise
            self._ready = True
            return True

    async def preflight(self) -> None:
        """One tiny request before any work: fails fast with a clear TeacherError; picks the structured-output
        form. A form the server fails on (any HTTP error, since llama-cpp-python answers an unknown form with
        500) is not retried: the next form is tried, or the run stops with every form's reason."""
        modes = STRUCTURED_OUTPUT if self.structured_output == "auto" else (self.structured_output,)
        failures = []
        for mode in modes:
            body = self.body(_PREFLIGHT, temperature=0.0, seed=None, structured_output=mode, max_tokens=8)
            try:
                await self.complete(body, preflight=True)
            except RequestFailed as e:
                if e.kind in ("timeout", "connection", "rate_limited"):
                    raise TeacherError(f"preflight request to {self.url} failed: {e.kind}: {e.reason}") from None
                failures.append((e.kind, f"structured output {mode}: {e.reason}"))
                log.info("preflight: structured output %s failed (%s); trying the next form", mode, e.kind)
                continue
            self.structured_output = mode
            log.info("teacher server %s answered; structured output: %s", self.url, mode)
            return
        if any(kind == "http_404" for kind, _ in failures):
            hint = f"check teacher.base_url (usually ending in /v1) and teacher.model={self.settings.model}"
        else:
            hint = "check teacher.model, teacher.structured_output, teacher.logprobs and teacher.extra_body"
        raise TeacherError(f"preflight request to {self.url} failed ({hint}): "
                           + "; ".join(reason for _, reason in failures))

    async def complete(self, body: Mapping[str, Any], *, preflight: bool = False) -> dict[str, Any]:
        """Send one request with retries; the answer as stored in the cache, or RequestFailed."""
        s = self.settings
        for attempt in range(s.max_retries + 1):
            if self._rpm:
                await self._rpm.acquire()
            if self._tpm:
                await self._tpm.acquire(len(json.dumps(body["messages"])) / 4 + body.get("max_tokens", 0))
            async with self._semaphore:
                try:
                    response = await self._client.post(self.url, json=body)
                except httpx.TimeoutException:
                    kind, reason, wait = "timeout", f"no answer within {s.timeout_s:g} s", None
                except httpx.TransportError as e:
                    if preflight and isinstance(e, httpx.ConnectError):
                        raise TeacherError(f"cannot reach the teacher server at {self.url}: {self._redact(str(e))}"
                                           ) from None
                    kind, reason, wait = "connection", self._redact(f"{type(e).__name__}: {e}"), None
                else:
                    answer, kind, reason, wait = self._classify(response)
                    if answer is not None:
                        if not preflight:
                            self._count(answer)
                        return answer
            if attempt == s.max_retries or (preflight and kind in ("server_error", "bad_response")):
                break
            self.stats.retries[kind] += 1
            delay = random.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2**attempt))
            log.debug("retrying after %s (%s) in %.2f s", kind, reason, (wait or 0) + delay)
            await asyncio.sleep((wait or 0) + delay)
        raise RequestFailed(kind, f"{reason} (after {attempt + 1} attempt{'s' if attempt else ''})")

    def _classify(self, response: httpx.Response) -> tuple[dict | None, str, str, float | None]:
        """(answer, "", "", None) for a usable answer; else (None, kind, reason, server-requested wait) of a
        retryable failure. Raises RequestFailed for a failure that a retry cannot mend, TeacherError for 401/403."""
        status = response.status_code
        detail = self._redact(" ".join(response.text.split()))[:300]  # redact before cutting: no key fragment
        if status == 200:
            try:
                return _stored_answer(response.json()), "", "", None
            except (ValueError, KeyError, IndexError, TypeError):
                return None, "bad_response", f"HTTP 200 with a body that is not a chat completion: {detail}", None
        if status in (401, 403):
            who = f"the API key from {self._key_source}" if self._key else "the request (no API key was sent)"
            raise TeacherError(f"the teacher server at {self.url} rejected {who}: HTTP {status}: {detail}")
        if status == 429:
            return None, "rate_limited", f"HTTP 429: {detail}", _retry_after(response.headers.get("retry-after"))
        if status >= 500:
            return None, "server_error", f"HTTP {status}: {detail}", None
        raise RequestFailed(f"http_{status}", f"HTTP {status}: {detail}")

    def _count(self, answer: Mapping[str, Any]) -> None:
        self.stats.calls += 1
        self.stats.tokens_in += answer["usage"].get("prompt_tokens", 0)
        self.stats.tokens_out += answer["usage"].get("completion_tokens", 0)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _response_format(mode: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": dict(schema)}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": dict(schema)}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _stored_answer(data: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a chat completion the labels need: content, finish reason, token log-probs, usage."""
    choice = data["choices"][0]
    content = choice["message"].get("content") or ""
    if not isinstance(content, str):
        raise TypeError("message content is not text")
    tokens = [{"token": t["token"], "logprob": t["logprob"],
               "top_logprobs": [{"token": c["token"], "logprob": c["logprob"]} for c in t.get("top_logprobs") or []]}
              for t in ((choice.get("logprobs") or {}).get("content") or [])]
    usage = data.get("usage") or {}
    return {"content": content, "finish_reason": choice.get("finish_reason"), "logprobs": tokens,
            "usage": {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                      "completion_tokens": int(usage.get("completion_tokens") or 0)},
            "model": data.get("model")}


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
