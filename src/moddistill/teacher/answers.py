"""Reading a model's answer into per-policy verdicts, or a typed reason why it cannot be read.

Tolerant of the ways servers without structured output wrap JSON (code fences, prose around it,
"yes"/"no" for booleans) but never guesses: an answer cut off by the token limit, with no JSON, naming a
policy outside the taxonomy, missing a policy or with a value out of range raises ``AnswerError``.

The probability of a violation comes from the token log-probabilities of the ``true``/``false`` the
model wrote where the server returns them (``logprobs``), and otherwise from its stated confidence in
its verdict (``stated``): p = confidence for a violation, 1 - confidence for an allowed verdict. A
``violations`` answer lists only the violated policies: p = the stated confidence for each listed policy
and 0 for the rest (soft labels for those come from ``teacher.samples`` votes).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

_TRUE = {"true", "yes", "violates", "violating", "1"}
_FALSE = {"false", "no", "allowed", "compliant", "0"}


class NoAnswer(Exception):
    """Why a listing has no usable answer; ``kind`` is one of the error kinds counted in the run summary
    and written, with ``reason``, to the listing's error row."""

    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason
        super().__init__(f"{kind}: {reason}")


class AnswerError(NoAnswer, ValueError):
    """An answer that arrived but cannot be used (unparseable, cut off, unknown policy, ...)."""


@dataclass(frozen=True)
class Verdict:
    violates: bool
    prob: float  # probability that the listing violates the policy
    source: str  # "logprobs" or "stated"


@dataclass(frozen=True)
class Answer:
    verdicts: Mapping[str, Verdict]
    rationale: str


def parse_answer(message: Mapping[str, Any], policy_ids: Sequence[str], mode: str) -> Answer:
    """Read one stored completion (``content``, ``finish_reason``, optional ``logprobs``) for ``policy_ids``."""
    content = message.get("content") or ""
    if message.get("finish_reason") == "length":
        raise AnswerError("truncated", f"answer cut off at the token limit after {len(content)} characters")
    obj = json_object(content)
    if mode == "violations":
        return _violations(obj, policy_ids)
    if mode == "per_policy":
        (pid,) = policy_ids
        raw = {pid: obj}
    else:
        raw = obj["verdicts"] if isinstance(obj.get("verdicts"), Mapping) else obj
        raw = {k: v for k, v in raw.items() if k != "rationale"}
        unknown = sorted(set(raw) - set(policy_ids))
        if unknown:
            raise AnswerError("unknown_policy", f"answer names {unknown[0]!r}, which is not a policy id")
        missing = [p for p in policy_ids if p not in raw]
        if missing:
            raise AnswerError("incomplete", f"no verdict for {', '.join(missing)}")
    rationale = obj.get("rationale", "")
    if not isinstance(rationale, str):
        raise AnswerError("invalid_value", "rationale is not text")
    tokens = message.get("logprobs") or []
    return Answer({p: _verdict(p, raw[p], content, tokens, mode) for p in policy_ids}, rationale.strip())


def _violations(obj: Mapping[str, Any], policy_ids: Sequence[str]) -> Answer:
    listed = obj.get("violations")
    if not isinstance(listed, list):
        raise AnswerError("invalid_value", f"\"violations\" is not a list: {_excerpt(json.dumps(obj))}")
    probs: dict[str, float] = {}
    for item in listed:
        pid, confidence = (item, 1.0) if isinstance(item, str) else (
            (item.get("policy"), item.get("confidence")) if isinstance(item, Mapping) else (None, None))
        if not isinstance(pid, str):
            raise AnswerError("invalid_value", f"violation {item!r} names no policy")
        if pid not in policy_ids:
            raise AnswerError("unknown_policy", f"answer names {pid!r}, which is not a policy id")
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise AnswerError("invalid_value", f"{pid}: confidence {confidence!r} is not a number in [0, 1]")
        probs[pid] = max(probs.get(pid, 0.0), float(confidence))
    verdicts = {p: Verdict(p in probs, probs.get(p, 0.0), "stated") for p in policy_ids}
    rationale = obj.get("rationale") if isinstance(obj.get("rationale"), str) else ""
    return Answer(verdicts, rationale.strip())


def json_object(content: str) -> dict:
    """The first JSON object in a model's text: fenced, wrapped in prose or bare; AnswerError when there is none."""
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    start = text.find("{")
    if start < 0:
        raise AnswerError("unparseable", f"no JSON object in the answer: {_excerpt(content)}")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise AnswerError("unparseable", f"malformed JSON ({e.msg}): {_excerpt(content)}") from None
    return obj


def _verdict(pid: str, raw: Any, content: str, tokens: Sequence[Mapping], mode: str) -> Verdict:
    if isinstance(raw, Mapping):
        violates, confidence = _bool(pid, raw.get("violates", raw.get("verdict"))), raw.get("confidence")
    else:
        violates, confidence = _bool(pid, raw), None
    prob = _logprob_of_true(pid, violates, content, tokens, mode)
    if prob is not None:
        return Verdict(violates, prob, "logprobs")
    if confidence is None:
        raise AnswerError("invalid_value", f"{pid}: no confidence for the verdict")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise AnswerError("invalid_value", f"{pid}: confidence {confidence!r} is not a number in [0, 1]")
    return Verdict(violates, float(confidence) if violates else 1.0 - float(confidence), "stated")


def _bool(pid: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise AnswerError("invalid_value", f"{pid}: verdict {value!r} is not true or false")


def _logprob_of_true(pid: str, violates: bool, content: str, tokens: Sequence[Mapping], mode: str) -> float | None:
    """P(true) / (P(true) + P(false)) at the token where the model wrote this policy's verdict."""
    if not tokens or "".join(t.get("token", "") for t in tokens) != content:  # offsets would not line up
        return None
    prefix = r'"violates"\s*:\s*' if mode == "per_policy" else rf'"{re.escape(pid)}"\s*:\s*\{{[^{{}}]*?"violates"\s*:\s*'
    match = re.search(prefix + ("true" if violates else "false"), content)
    if match is None:
        return None
    at = match.end() - len("true" if violates else "false")
    pos = 0
    for tok in tokens:
        text = tok.get("token", "")
        if pos <= at < pos + len(text):
            break
        pos += len(text)
    else:
        return None
    if text[: at - pos].strip(' \t\n:"'):  # the token holds more than punctuation before the literal
        return None
    mass = {True: 0.0, False: 0.0}
    candidates = tok.get("top_logprobs") or [{"token": text, "logprob": tok.get("logprob")}]
    for cand in candidates:
        word, lp = cand.get("token", "").strip(' \t\n:"').lower(), cand.get("logprob")
        if not word or not isinstance(lp, (int, float)):
            continue
        for value, literal in ((True, "true"), (False, "false")):
            if literal.startswith(word):
                mass[value] += math.exp(lp)
    if not tok.get("top_logprobs") and (mass[True] or mass[False]):  # only the chosen token: the rest is the other
        mass[not violates] = max(0.0, 1.0 - mass[violates])
    total = mass[True] + mass[False]
    return mass[True] / total if total > 0 else None


def _excerpt(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return json.dumps(text[:n] + ("..." if len(text) > n else ""), ensure_ascii=False)
