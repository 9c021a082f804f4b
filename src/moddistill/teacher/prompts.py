"""Prompt designs rendered from the policy (``conf/prompt/*.yaml``).

A design is a system template and a user template. The system template quotes the policy (its
description, every policy's description, clauses, violating examples and allowed look-alikes) and the
output contract; the user template holds the listing. Three modes: ``all_policies`` (one call gives a
verdict for every policy), ``per_policy`` (one call per policy) and ``violations`` (one call lists only
the policies violated: the shortest answer, so the fastest design on a slow local server).

The listing is data, never instructions: it is written as one line of JSON between ``<listing_data>``
markers, and inside its strings every ``<`` (which starts each marker and most chat-template tokens such
as ``<|im_end|>``), every look-alike of the markers' brackets and every line-breaking or invisible
character is written as a JSON ``\\uXXXX`` escape. The JSON still decodes to the listing unchanged, but
nothing a seller types can close the block, open a new message or add a line to the prompt.

A design's version is the hash of what it renders with the listing slot left empty (messages and
answer schema), so any change of wording, policy text or examples gives a new version; it is stored
with every label.
"""

from __future__ import annotations

import hashlib
import json
import string
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

from moddistill.data.listings import Listing
from moddistill.data.policy import Policy, PolicyDef
from moddistill.errors import UserError

MODES = ("all_policies", "per_policy", "violations")
LISTING_START = "<listing_data>"
LISTING_END = "</listing_data>"
# Listing fields the model judges; the id and seller id carry no evidence and could only bias it.
JUDGED_FIELDS = ("title", "description", "category", "price", "currency", "market", "language", "attributes")

# "<" starts every marker and most chat-template tokens (<|im_end|>, </s>); its Unicode look-alikes
# and those of ">" could imitate a marker to a reader. ASCII ">" stays readable ("Toys > Figures").
_MARKER_LIKE = frozenset("<\u00ab\u00bb\u2039\u203a\u2329\u232a\u27e8\u27e9\u3008\u3009\ufe64\ufe65\uff1c\uff1e")
# Controls, format characters (zero-width, bidi overrides, tag characters), line/paragraph separators,
# private-use, surrogate and unassigned code points: invisible or line-breaking, so always escaped.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"violates": {"type": "boolean"}, "confidence": {"type": "number"}},
    "required": ["violates", "confidence"],
    "additionalProperties": False,
}


class PromptError(UserError):
    """A prompt design that cannot be rendered; the message names the design and the problem."""


@dataclass(frozen=True)
class Prompt:
    """One request: its chat messages, the policies its answer must judge, the answer's JSON schema, and
    whether token log-probabilities can give its verdicts' confidence (a ``violations`` answer writes no
    true/false to read them from, so it does not ask for them: they are costly on some servers)."""

    messages: tuple[Mapping[str, str], ...]
    policy_ids: tuple[str, ...]
    schema: Mapping[str, Any]
    reads_logprobs: bool = True


def listing_data(listing: Listing) -> str:
    """The listing's judged fields as one line of marker-safe JSON, between the listing markers."""
    fields = listing.to_dict()
    return f"{LISTING_START}\n{_json({k: fields[k] for k in JUDGED_FIELDS})}\n{LISTING_END}"


def _json(value: Any) -> str:
    """JSON for a listing's flat values, with every string written marker-safe."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_json(str(k))}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return "".join(_escape_char(ch) for ch in json.dumps(value, ensure_ascii=False))
    return json.dumps(value)


def _escape_char(ch: str) -> str:
    if ch not in _MARKER_LIKE and unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
        return ch
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes astral characters
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class PromptDesign:
    """A named prompt design bound to a policy: renders the requests for a listing."""

    def __init__(self, policy: Policy, *, name: str, mode: str, system: str, user: str, clauses: bool = True,
                 examples: int | None = None, lookalikes: int | None = None):
        if mode not in MODES:
            raise PromptError(f"prompt {name}: mode must be one of {MODES}, got {mode!r}")
        self.policy, self.name, self.mode = policy, name, mode
        self.system, self.user = system, user
        self.clauses, self.examples, self.lookalikes = clauses, examples, lookalikes
        check_fields(name, "system", system, {"policy_title", "policy_description", "policies", "output_contract"})
        check_fields(name, "user", user, {"listing"}, required={"listing"})
        policy_text = "\n".join([policy.title, policy.description, *map(self._policy_block, policy.policies)])
        for text, what in ((user, "the user template"), (policy_text, f"policy {policy.id}")):
            if LISTING_START in text or LISTING_END in text:
                raise PromptError(f"prompt {name}: {what} contains a listing marker ({LISTING_START} or {LISTING_END})")
        templates = self._templates()
        canonical = json.dumps([{"messages": t.messages, "schema": t.schema} for t in templates], sort_keys=True,
                               ensure_ascii=False)
        self.version = f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], policy: Policy) -> "PromptDesign":
        keys = {"name", "mode", "system", "user", "clauses", "examples", "lookalikes"}
        unknown = sorted(set(cfg) - keys)
        if unknown:
            raise PromptError(f"prompt: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(keys))})")
        return cls(policy, **dict(cfg))

    def prompts(self, listing: Listing) -> list[Prompt]:
        """The requests that judge ``listing``: one for all_policies, one per policy for per_policy."""
        return self._templates(listing_data(listing))

    def _templates(self, listing: str = "{listing}") -> list[Prompt]:
        groups = [(p,) for p in self.policy.policies] if self.mode == "per_policy" else [self.policy.policies]
        return [self._prompt(group, listing) for group in groups]

    def _prompt(self, group: tuple[PolicyDef, ...], listing: str) -> Prompt:
        ids = tuple(p.id for p in group)
        system = self.system.format(
            policy_title=self.policy.title, policy_description=self.policy.description,
            policies="\n\n".join(self._policy_block(p) for p in group), output_contract=_contract(ids, self.mode),
        )
        user = self.user.format(listing=listing)
        return Prompt(({"role": "system", "content": system}, {"role": "user", "content": user}), ids,
                      answer_schema(ids, self.mode), reads_logprobs=self.mode != "violations")

    def _policy_block(self, p: PolicyDef) -> str:
        return policy_block(p, clauses=self.clauses, examples=self.examples, lookalikes=self.lookalikes)


def policy_block(p: PolicyDef, *, clauses: bool = True, examples: int | None = None,
                 lookalikes: int | None = None) -> str:
    """One policy as every prompt design quotes it (labelling and contrast generation): name, description,
    clauses, and its first ``examples`` violating examples and ``lookalikes`` allowed look-alikes (None: all)."""
    lines = [f"[{p.id}] {p.name}", p.description]
    if clauses:
        lines += ["Clauses:"] + [f"- {c.id}: {c.description}" for c in p.clauses]
    violating = p.violating_examples[:examples] if examples is not None else p.violating_examples
    if violating:
        lines += [f"Listings that violate {p.id}:"] + [f"- {json.dumps(e.text, ensure_ascii=False)}" for e in violating]
    allowed = p.allowed_lookalikes[:lookalikes] if lookalikes is not None else p.allowed_lookalikes
    if allowed:
        lines += [f"Allowed look-alikes (do not flag as {p.id}):"] + [
            f"- {json.dumps(e.text, ensure_ascii=False)}" for e in allowed]
    return "\n".join(lines)


def answer_schema(policy_ids: tuple[str, ...], mode: str) -> dict[str, Any]:
    """The JSON schema of an answer; the rationale comes first so the model explains before it decides
    (the ``violations`` answer has none: it is the design for speed)."""
    if mode == "violations":
        violation = {"type": "object",
                     "properties": {"policy": {"type": "string", "enum": list(policy_ids)},
                                    "confidence": {"type": "number"}},
                     "required": ["policy", "confidence"], "additionalProperties": False}
        return {"type": "object", "properties": {"violations": {"type": "array", "items": violation}},
                "required": ["violations"], "additionalProperties": False}
    if mode == "per_policy":
        return {
            "type": "object",
            "properties": {"rationale": {"type": "string"}, **VERDICT_SCHEMA["properties"]},
            "required": ["rationale", "violates", "confidence"],
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "properties": {
            "rationale": {"type": "string"},
            "verdicts": {"type": "object", "properties": {p: VERDICT_SCHEMA for p in policy_ids},
                         "required": list(policy_ids), "additionalProperties": False},
        },
        "required": ["rationale", "verdicts"],
        "additionalProperties": False,
    }


def _contract(policy_ids: tuple[str, ...], mode: str) -> str:
    verdict = '{"violates": <true or false>, "confidence": <0.5 to 1.0>}'
    rationale = '"rationale": "<one short sentence: what is offered and why it is or is not allowed>"'
    if mode == "violations":
        return ("Answer with a single JSON object and nothing else, in this shape:\n"
                '{"violations": [{"policy": "<policy id>", "confidence": <0.5 to 1.0>}, ...]}\n'
                '"violations" lists each policy id above that the listing violates, once, and no other; '
                'it is empty, {"violations": []}, when the listing is allowed. "confidence" is how sure you '
                "are that the listing violates that policy, from 0.5 (unsure) to 1.0 (certain).")
    if mode == "per_policy":
        shape = "{" + rationale + ', "violates": <true or false>, "confidence": <0.5 to 1.0>}'
        what = f'"violates" is true when the listing violates {policy_ids[0]}'
    else:
        shape = "{" + rationale + ', "verdicts": {' + ", ".join(f'"{p}": {verdict}' for p in policy_ids) + "}}"
        what = (f'"verdicts" has exactly one entry for each of the {len(policy_ids)} policy ids above and no other; '
                '"violates" is true when the listing violates that policy')
    return ("Answer with a single JSON object and nothing else, in this shape:\n" + shape + "\n" + what
            + '; "confidence" is how sure you are of that verdict, from 0.5 (unsure) to 1.0 (certain).')


def check_fields(name: str, which: str, template: str, allowed: set[str], required: set[str] = frozenset()) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise PromptError(f"prompt {name}: {which} template: {e} (write literal braces as {{{{ and }}}})") from None
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise PromptError(f"prompt {name}: {which} template: unknown placeholder {{{unknown[0]}}} "
                          f"(allowed: {', '.join('{' + a + '}' for a in sorted(allowed))})")
    for field in required:
        if fields.count(field) != 1:
            raise PromptError(f"prompt {name}: {which} template must contain {{{field}}} exactly once")
