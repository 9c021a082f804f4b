"""Contrast data from an LLM teacher: for each clause of the policy, listings that resemble what it prohibits
without violating anything (``lookalike``) and listings that violate it in disguise (``violation``), in each
target locale.

The intent stored with each generated listing is what the generator was asked for, never a label: the
listings are labelled by ``scripts/label.py`` like any others, and ``intent_disagreements`` then counts where
the teacher and the intent differ (a look-alike it flags, a violation it lets through). Every item the model
writes is parsed by the same listing parser every reader uses and must be in the requested language;
anything else goes to the errors file with its request, reason and raw text, never to the listings.
Requests go through the labeller's cache, retries and preflight (``requester.py``): a rerun, or a killed
run restarted, pays for nothing twice, and the outputs are rebuilt from the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from omegaconf import DictConfig
from tqdm import tqdm

from moddistill.config import policy_from_cfg, to_dict
from moddistill.data.listings import Listing, parse_listing
from moddistill.data.policy import Clause, Policy
from moddistill.data.records import Row, RowError, read_records, record_id, unique_ids, write_jsonl
from moddistill.errors import UserError
from moddistill.teacher.answers import AnswerError, NoAnswer, json_object
from moddistill.teacher.cache import RequestCache
from moddistill.teacher.labeler import api_key_from_env, estimated_cost, server_settings
from moddistill.teacher.labels import read_teacher_labels
from moddistill.teacher.openai_backend import OpenAIBackend
from moddistill.teacher.prompts import Prompt, PromptError, check_fields, policy_block
from moddistill.teacher.requester import Misses, Requester, in_order
from moddistill.teacher.settings import INTENTS

log = logging.getLogger(__name__)

# the config keys that choose the requests (recorded in the summary)
PLAN_KEYS = ("policies", "intents", "locales", "languages", "n_per_request", "limit")
# what the model writes for each listing: the listing record's fields less the id (ours, from the content),
# the seller and the attributes
WRITTEN_FIELDS = ("title", "description", "category", "price", "currency", "market", "language")


@dataclass(frozen=True)
class Locale:
    language: str
    market: str
    currency: str

    def __str__(self) -> str:
        return f"{self.language}-{self.market}"


@dataclass(frozen=True)
class Request:
    """One generation request: ``n`` listings of one intent for one clause in one locale."""

    policy: str
    clause: Clause
    kind: str
    locale: Locale

    @property
    def id(self) -> str:
        return f"{self.clause.id}/{self.kind}/{self.locale}"

    def intent(self) -> dict[str, str]:
        return {"policy": self.policy, "clause": self.clause.id, "kind": self.kind, "language": self.locale.language}


@dataclass(frozen=True)
class Generated:
    """A usable listing the model wrote, with the request it answers and when that answer arrived."""

    listing: Listing
    request: Request
    item: int
    received: str

    def to_dict(self, provenance: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.listing.to_dict(), "intent": self.request.intent(),
                "provenance": {**provenance, "request": self.request.id, "time": self.received}}


@dataclass(frozen=True)
class GenerationError:
    """A request without a usable answer (``item`` None), or one item of an answer that is not a usable listing."""

    request: Request
    kind: str
    reason: str
    raw: str
    item: int | None = None

    def to_dict(self, provenance: Mapping[str, Any]) -> dict[str, Any]:
        return {"request": self.request.id, "item": self.item, "error": self.kind, "reason": self.reason,
                "raw": self.raw, "intent": self.request.intent(), "provenance": dict(provenance)}


class GenerationDesign:
    """A contrast prompt design (``conf/generate_prompt/*.yaml``) bound to a policy.

    The system message quotes one policy (its clauses, violating examples and allowed look-alikes, as the
    labelling designs quote it), so it is the same for every request of that policy and a local server reuses
    its cached prefix; the user message holds the task (``lookalike`` or ``violation``), the clause, the locale
    and the output contract. The version is the hash of every request the design renders for the policy, the
    locale and count left as placeholders, so any change of wording or policy text gives a new version.
    """

    KEYS = ("name", "system", "user", "lookalike", "violation", "language_names", "clauses", "examples", "lookalikes")

    def __init__(self, policy: Policy, *, name: str, system: str, user: str, lookalike: str, violation: str,
                 language_names: Mapping[str, str] | None = None, clauses: bool = True, examples: int | None = None,
                 lookalikes: int | None = None):
        self.policy, self.name, self.system, self.user = policy, name, system, user
        self.tasks = {"lookalike": lookalike.strip(), "violation": violation.strip()}
        self.language_names = dict(language_names or {})
        check_fields(name, "system", system, {"policy_title", "policy_description", "policy"}, required={"policy"})
        check_fields(name, "user", user, {"task", "clause_id", "clause", "n", "language", "language_name", "market",
                                          "currency", "output_contract"}, required={"task", "output_contract"})
        self.blocks = {p.id: policy_block(p, clauses=clauses, examples=examples, lookalikes=lookalikes)
                       for p in policy.policies}
        placeholder = Locale("{language}", "{market}", "{currency}")
        rendered = [self.prompt(Request(p.id, c, kind, placeholder), "{n}")
                    for p in policy.policies for c in p.clauses for kind in INTENTS]
        canonical = json.dumps([{"messages": r.messages, "schema": r.schema} for r in rendered], sort_keys=True,
                               ensure_ascii=False)
        self.version = f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], policy: Policy) -> "GenerationDesign":
        unknown = sorted(set(cfg) - set(cls.KEYS))
        if unknown:
            raise PromptError(f"generate_prompt: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(cls.KEYS))})")
        return cls(policy, **dict(cfg))

    def prompt(self, request: Request, n: int | str) -> Prompt:
        loc = request.locale
        name = self.language_names.get(loc.language, f'the language with the code "{loc.language}"')
        system = self.system.format(policy_title=self.policy.title, policy_description=self.policy.description,
                                    policy=self.blocks[request.policy])
        user = self.user.format(task=self.tasks[request.kind], clause_id=request.clause.id,
                                clause=request.clause.description, n=n, language=loc.language, language_name=name,
                                market=loc.market, currency=loc.currency, output_contract=_contract(loc, name, n))
        return Prompt(({"role": "system", "content": system}, {"role": "user", "content": user}), (request.policy,),
                      listings_schema(loc.language), reads_logprobs=False)


def listings_schema(language: str) -> dict[str, Any]:
    """The answer's JSON schema; where the server enforces it, the language can only be the one asked for."""
    item = {"type": "object",
            "properties": {**{k: {"type": "string"} for k in WRITTEN_FIELDS}, "price": {"type": "number"},
                           "language": {"type": "string", "enum": [language]}},
            "required": list(WRITTEN_FIELDS), "additionalProperties": False}
    return {"type": "object", "properties": {"listings": {"type": "array", "items": item}},
            "required": ["listings"], "additionalProperties": False}


def _contract(loc: Locale, language_name: str, n: int | str) -> str:
    example = ('{"title": "...", "description": "...", "category": "<category> > <subcategory>", "price": <number>, '
               f'"currency": {json.dumps(loc.currency)}, "market": {json.dumps(loc.market)}, '
               f'"language": {json.dumps(loc.language)}}}')
    return ("Answer with a single JSON object and nothing else, in this shape:\n"
            f'{{"listings": [{example}, ...]}}\n'
            f'"listings" holds exactly {n} different listings, each written in {language_name} as a seller in '
            f'{loc.market} would write it; "price" is a plain number in {loc.currency}.')


def plan_requests(policy: Policy, *, locales: Sequence[Locale], policies: Sequence[str] | None = None,
                  intents: Sequence[str] = INTENTS, limit: int | None = None) -> list[Request]:
    """Every (clause, intent, locale) of the chosen policies, in policy-file order, the first ``limit`` of them."""
    unknown = sorted(set(policies or ()) - set(policy.ids))
    if unknown:
        raise UserError(f"config key policies: {unknown[0]!r} is not a policy of {policy.id} "
                        f"(its policies: {', '.join(policy.ids)})")
    unknown = sorted(set(intents) - set(INTENTS))
    if unknown:
        raise UserError(f"config key intents: {unknown[0]!r} is not an intent ({', '.join(INTENTS)})")
    chosen = [p for p in policy.policies if policies is None or p.id in policies]
    requests = [Request(p.id, c, kind, loc) for p in chosen for c in p.clauses for kind in INTENTS if kind in intents
                for loc in locales]
    return requests[:limit] if limit is not None else requests


def read_items(stored: Mapping[str, Any], request: Request, n: int) -> list[Generated | GenerationError]:
    """The first ``n`` items of an answer, each a listing or the reason it is not one. Raises AnswerError for an
    answer with no items to read (cut off, not JSON, no listings), which is then asked again."""
    content = stored.get("content") or ""
    if stored.get("finish_reason") == "length":
        raise AnswerError("truncated", f"answer cut off at the token limit after {len(content)} characters")
    obj = json_object(content)
    items = obj.get("listings", [obj] if "title" in obj else None)
    if not isinstance(items, list) or not items:
        raise AnswerError("no_listings", f'no "listings" list of listings in the answer: {content[:120]!r}')
    out: list[Generated | GenerationError] = []
    for i, item in enumerate(items[:n], start=1):
        raw = json.dumps(item, ensure_ascii=False)
        if not isinstance(item, Mapping):
            out.append(GenerationError(request, "not_a_listing", f"item {i} is not a JSON object", raw, i))
            continue
        data = {"id": "generated", **{k: item[k] for k in WRITTEN_FIELDS if k in item}}
        try:
            listing = parse_listing(Row(request.id, f"item {i}", data))
        except RowError as e:
            out.append(GenerationError(request, f"invalid_{e.field}", f"item {i}: {e.field}: {e.reason}", raw, i))
            continue
        if listing.language != request.locale.language:
            out.append(GenerationError(request, "wrong_language", f"item {i} is in {listing.language!r}, asked for "
                                       f"{request.locale.language!r}", raw, i))
            continue
        out.append(Generated(replace(listing, id=content_id(listing), source=""), request, i, stored["received"]))
    return out


def content_id(listing: Listing) -> str:
    """A stable id from what the listing says: the same listing always gets the same id."""
    text = json.dumps({k: getattr(listing, k) for k in WRITTEN_FIELDS}, sort_keys=True, ensure_ascii=False)
    return "gen-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def drop_duplicates(rows: Sequence[Generated | GenerationError]) -> list[Generated | GenerationError]:
    """A listing written twice (ids are unique in a listings file) is kept once; the repeat is an error row."""
    first: dict[str, Generated] = {}
    out: list[Generated | GenerationError] = []
    for row in rows:
        if isinstance(row, Generated) and row.listing.id in first:
            raw = json.dumps({k: getattr(row.listing, k) for k in WRITTEN_FIELDS}, ensure_ascii=False)
            reason = f"item {row.item}: the same listing as {row.listing.id} ({first[row.listing.id].request.id})"
            row = GenerationError(row.request, "duplicate", reason, raw, row.item)
        elif isinstance(row, Generated):
            first[row.listing.id] = row
        out.append(row)
    return out


class Generator:
    """Generates contrast listings through one backend, one design and one request cache."""

    def __init__(self, design: GenerationDesign, backend: OpenAIBackend, cache: RequestCache, *, n_per_request: int,
                 temperature: float, retry_temperature: float, seed: int | None, parse_retries: int):
        self.design, self.backend, self.n = design, backend, n_per_request
        self.requester = Requester(backend, cache, temperature=temperature, retry_temperature=retry_temperature,
                                   seed=seed, parse_retries=parse_retries)
        self.from_cache = 0  # requests answered without a call

    def provenance(self) -> dict[str, Any]:
        policy = self.design.policy
        return {"backend": "openai", "model": self.backend.settings.model, "prompt_version": self.design.version,
                "policy": f"{policy.id} v{policy.version}"}

    async def generate(self, requests: Sequence[Request], *, progress: bool = True
                       ) -> list[list[Generated | GenerationError]]:
        """Per request, in order: its listings and error rows (at least one row each)."""
        bar = tqdm(total=len(requests), desc="generating", unit="request", disable=not progress, mininterval=0.5)
        listings = errors = 0

        def done(rows: list[Generated | GenerationError]) -> None:
            nonlocal listings, errors
            listings += sum(isinstance(r, Generated) for r in rows)
            errors += sum(isinstance(r, GenerationError) for r in rows)
            bar.update()
            bar.set_postfix(calls=self.backend.stats.calls, cached=self.from_cache, listings=listings, errors=errors,
                            refresh=False)

        try:
            return await in_order(requests, self._request, concurrency=self.backend.settings.concurrency, done=done)
        finally:
            bar.close()

    async def _request(self, request: Request) -> list[Generated | GenerationError]:
        prompt = self.design.prompt(request, self.n)
        misses, last = Misses(), {"content": ""}

        def parse(stored: Mapping[str, Any]) -> list[Generated | GenerationError]:
            last["content"] = stored.get("content") or ""
            return read_items(stored, request, self.n)

        try:
            rows, _ = await self.requester.ask(prompt, parse, misses=misses)
        except NoAnswer as e:  # a dead call after its retries (no text), or no answer with items to read
            rows = [GenerationError(request, e.kind, e.reason, last["content"] if isinstance(e, AnswerError) else "")]
        self.from_cache += misses.count == 0
        return rows


@dataclass
class GenerationSummary:
    """What a generation run did; every request ends as at least one listing row or error row."""

    output: str
    errors_output: str
    model: str
    prompt_version: str
    requests: int = 0
    from_cache: int = 0
    listings: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    wall_s: float = 0.0

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.errors.items()))
        cost = f"${self.cost:.4f}" if self.cost is not None else "unknown (no price in teacher.prices)"
        return (f"{self.requests} requests ({self.from_cache} from cache, {self.calls} calls): {self.listings} "
                f"listings -> {self.output}; {sum(self.errors.values())} errors" + (f" ({kinds})" if kinds else "")
                + f" -> {self.errors_output}; tokens {self.tokens_in:,} in, {self.tokens_out:,} out; estimated cost "
                f"{cost}; {self.wall_s:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def generate_file(cfg: DictConfig) -> GenerationSummary:
    """Run ``scripts/generate.py``: plan the requests, ask the teacher, write ``cfg.output``, its errors and summary."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would bury the progress bar
    teacher = cfg.teacher
    if not teacher.model:
        raise UserError("config key teacher.model is required to generate: pass teacher.model=NAME (and "
                        "teacher.base_url=URL)")
    policy = policy_from_cfg(cfg)
    plan = {k: to_dict(cfg)[k] for k in PLAN_KEYS}
    design = GenerationDesign.from_cfg(to_dict(cfg.generate_prompt), policy)
    locales = [Locale(**loc) for loc in plan["locales"]]
    languages = plan["languages"]
    if languages is not None:
        missing = sorted(set(languages) - {loc.language for loc in locales})
        if missing:
            raise UserError(f"config key languages: {missing[0]!r} is the language of none of the locales")
        locales = [loc for loc in locales if loc.language in languages]
    requests = plan_requests(policy, locales=locales, policies=plan["policies"], intents=plan["intents"],
                             limit=plan["limit"])
    settings = server_settings(teacher)
    api_key, key_source = api_key_from_env(teacher.api_key_env)
    output = _jsonl_path(cfg.output)
    errors_output = output.with_name(output.stem + ".errors.jsonl")
    log.info("%d requests of %d listings each, prompt %s", len(requests), cfg.n_per_request, design.version)

    started = time.perf_counter()
    with RequestCache(cfg.cache) as cache:
        generator, results = asyncio.run(_run(design, settings, api_key, key_source, cache, teacher, requests,
                                              n_per_request=int(cfg.n_per_request), progress=bool(cfg.progress)))
    rows = drop_duplicates([row for rows in results for row in rows])
    listings = [r for r in rows if isinstance(r, Generated)]
    errors = [r for r in rows if isinstance(r, GenerationError)]
    provenance = generator.provenance()
    write_jsonl(output, (r.to_dict(provenance) for r in listings))
    write_jsonl(errors_output, (e.to_dict(provenance) for e in errors))

    stats = generator.backend.stats
    summary = GenerationSummary(
        output=str(output), errors_output=str(errors_output), model=settings.model, prompt_version=design.version,
        requests=len(requests), from_cache=generator.from_cache, listings=len(listings),
        errors=dict(Counter(e.kind for e in errors)), calls=stats.calls, retries=dict(stats.retries),
        tokens_in=stats.tokens_in, tokens_out=stats.tokens_out,
        cost=estimated_cost(to_dict(teacher.get("prices")) or {}, settings.model, stats.tokens_in, stats.tokens_out),
        wall_s=time.perf_counter() - started)
    assert all(results) and len(listings) + len(errors) == sum(map(len, results))
    output.with_name(output.stem + ".summary.json").write_text(
        json.dumps({**summary.to_dict(), "teacher": to_dict(teacher), "generate_prompt": to_dict(cfg.generate_prompt),
                    **plan}, indent=2, ensure_ascii=False),
        encoding="utf-8")
    return summary


async def _run(design, settings, api_key, key_source, cache, teacher, requests, *, n_per_request, progress):
    async with OpenAIBackend(settings, api_key, key_source=key_source) as backend:
        temperature = float(teacher.temperature)
        generator = Generator(design, backend, cache, n_per_request=n_per_request, temperature=temperature,
                              retry_temperature=max(temperature, float(teacher.sample_temperature)), seed=teacher.seed,
                              parse_retries=int(teacher.parse_retries))
        return generator, await generator.generate(requests, progress=progress)


def _jsonl_path(value: str) -> Path:
    path = Path(value)
    if path.suffix not in (".jsonl", ".ndjson"):
        raise UserError(f"output={path}: generated listings are written as JSONL (.jsonl)")
    return path


# --- the intent report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Intended:
    id: str
    policy: str
    kind: str


def intent_disagreements(listings_path: str | Path, labels_path: str | Path, policy: Policy, *,
                         threshold: float = 0.5) -> dict[str, Any]:
    """Per policy and intent, how many generated listings the teacher's labels contradict: a look-alike it flags
    for any policy, a violation it does not flag for the clause's policy. Listings without a label (an error
    row of label.py) are counted as ``unlabelled`` and left out of the rate."""
    def parse(row: Row) -> _Intended:
        intent = row.data.get("intent")
        if not isinstance(intent, Mapping):
            raise row.error("intent", "missing: not a generated listing (scripts/generate.py writes one)")
        if intent.get("policy") not in policy.ids:
            raise row.error("intent.policy", f"{intent.get('policy')!r} is not a policy of {policy.id}")
        if intent.get("kind") not in INTENTS:
            raise row.error("intent.kind", f"expected one of {', '.join(INTENTS)}, got {intent.get('kind')!r}")
        return _Intended(record_id(row), intent["policy"], intent["kind"])

    intended, _ = read_records(listings_path, unique_ids(parse, "listing"))
    labels, _ = read_teacher_labels(labels_path, policy)
    counts: dict[str, dict[str, dict[str, Any]]] = {}
    for x in intended:
        c = counts.setdefault(x.policy, {}).setdefault(x.kind, {"listings": 0, "labelled": 0, "disagree": 0, "ids": []})
        c["listings"] += 1
        label = labels.get(x.id)
        if label is None:
            continue
        c["labelled"] += 1
        flagged = label.violated(threshold)
        if (x.kind == "lookalike" and flagged) or (x.kind == "violation" and x.policy not in flagged):
            c["disagree"] += 1
            c["ids"].append(x.id)
    total: dict[str, dict[str, Any]] = {}
    for by_kind in counts.values():
        for kind, c in by_kind.items():
            t = total.setdefault(kind, {"listings": 0, "labelled": 0, "disagree": 0})
            for k in t:
                t[k] += c[k]
    for c in [c for by_kind in counts.values() for c in by_kind.values()] + list(total.values()):
        c["unlabelled"] = c["listings"] - c["labelled"]
        c["rate"] = c["disagree"] / c["labelled"] if c["labelled"] else None
    return {"listings": str(listings_path), "labels": str(labels_path), "threshold": threshold,
            "policies": {p: counts[p] for p in policy.ids if p in counts}, "total": total}


def report_file(cfg: DictConfig) -> tuple[dict[str, Any], Path]:
    """``scripts/generate.py report_labels=LABELS``: the intent report of ``cfg.output``, written beside it."""
    output = _jsonl_path(cfg.output)
    report = intent_disagreements(output, cfg.report_labels, policy_from_cfg(cfg))
    path = output.with_name(output.stem + ".intent_report.json")
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report, path


def report_lines(report: Mapping[str, Any]) -> list[str]:
    def cell(kind: str, c: Mapping[str, Any] | None) -> str:
        if c is None:
            return f"{kind} -"
        what = "flagged" if kind == "lookalike" else "not flagged"
        rate = f" ({c['rate']:.0%})" if c["rate"] is not None else ""
        return f"{kind} {c['disagree']}/{c['labelled']} {what}{rate}" + (
            f", {c['unlabelled']} unlabelled" if c["unlabelled"] else "")

    lines = [f"teacher labels ({report['labels']}) against the intents of {report['listings']}:"]
    for pid, by_kind in [*report["policies"].items(), ("total", report["total"])]:
        lines.append(f"  {pid}: " + "; ".join(cell(kind, by_kind.get(kind)) for kind in INTENTS))
    return lines
