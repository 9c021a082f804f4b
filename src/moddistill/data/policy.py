"""The moderation policy as data: policies, clauses, examples, and the label space they define.

A policy file (``conf/policy/*.yaml``) is validated strictly on load, so a typo in a key or a
duplicated id fails loudly with the file and the key instead of silently changing the label space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from moddistill.data.listings import Listing, parse_listing
from moddistill.data.records import Row, RowError
from moddistill.errors import UserError
from moddistill.settings import Settings, Text

_ID = re.compile(r"^[a-z][a-z0-9_]*$")

_TOP_KEYS = {"id", "title", "version", "description", "policies"}
_POLICY_KEYS = {"id", "name", "description", "clauses", "violating_examples", "allowed_lookalikes"}
_CLAUSE_KEYS = {"id", "description"}
_EXAMPLE_KEYS = {"title", "description", "category", "price", "currency", "market", "language", "attributes",
                 "also_violates"}
# A bare-string example is a title; as a training row it becomes this listing (give a mapping to set the fields)
STRING_EXAMPLE_FIELDS = {"description": "", "category": "Policy example", "price": 0, "currency": "USD",
                         "market": "US", "language": "en"}
EXAMPLE_ID_PREFIX = "pex-"


class PolicyError(UserError):
    """A policy file that cannot define a label space; the message names the file and the key."""


@dataclass(frozen=True)
class Clause:
    id: str
    description: str


@dataclass(frozen=True)
class PolicyExample:
    """A listing the policy writer gives as an example: ``violates`` holds the policy ids it violates (its own
    policy first, then ``also_violates``), and is empty for an allowed look-alike, which is allowed under every
    policy. ``text`` is what the writer wrote: a title, or the listing's fields as a mapping."""

    listing: Listing
    violates: tuple[str, ...]
    text: str | dict[str, str]

    @property
    def is_lookalike(self) -> bool:
        return not self.violates


@dataclass(frozen=True)
class PolicyDef:
    id: str
    name: str
    description: str
    clauses: tuple[Clause, ...]
    violating_examples: tuple[PolicyExample, ...]
    allowed_lookalikes: tuple[PolicyExample, ...]


@dataclass(frozen=True)
class Policy:
    """A versioned policy; ``ids`` is the label order every model and report uses."""

    id: str
    title: str
    version: int
    description: str
    policies: tuple[PolicyDef, ...]
    source: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.policies)

    @property
    def clause_ids(self) -> frozenset[str]:
        return frozenset(c.id for p in self.policies for c in p.clauses)

    @property
    def examples(self) -> tuple[PolicyExample, ...]:
        """Every policy's violating examples and allowed look-alikes, in file order."""
        return tuple(e for p in self.policies for e in p.violating_examples + p.allowed_lookalikes)

    def __getitem__(self, policy_id: str) -> PolicyDef:
        for p in self.policies:
            if p.id == policy_id:
                return p
        raise KeyError(policy_id)


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from None
    return parse_policy(raw, source=str(path))


def parse_policy(raw: Any, source: str = "<policy>") -> Policy:
    def fail(key: str, msg: str) -> PolicyError:
        return PolicyError(f"{source}: {key}: {msg}")

    if not isinstance(raw, dict):
        raise fail("<root>", "expected a mapping")
    _check_keys(raw, _TOP_KEYS, "<root>", fail)
    for key in ("id", "title", "description"):
        _require_text(raw, key, key, fail)
    version = raw.get("version")
    if not isinstance(version, int):
        raise fail("version", "expected an integer")
    items = raw.get("policies")
    if not isinstance(items, list) or not items:
        raise fail("policies", "expected a non-empty list")

    policies: list[PolicyDef] = []
    seen_policies: set[str] = set()
    seen_clauses: set[str] = set()
    for i, item in enumerate(items):
        where = f"policies[{i}]"
        if not isinstance(item, dict):
            raise fail(where, "expected a mapping")
        pid = item.get("id")
        if isinstance(pid, str):
            where = f"policies.{pid}"
        _check_keys(item, _POLICY_KEYS, where, fail)
        pid = _require_text(item, "id", f"{where}.id", fail)
        if not _ID.match(pid):
            raise fail(f"{where}.id", f"{pid!r} must be lowercase letters, digits and '_'")
        if pid in seen_policies:
            raise fail(f"{where}.id", f"duplicate policy id {pid!r}")
        seen_policies.add(pid)
        clauses = []
        raw_clauses = item.get("clauses")
        if not isinstance(raw_clauses, list) or not raw_clauses:
            raise fail(f"{where}.clauses", "expected a non-empty list")
        for j, c in enumerate(raw_clauses):
            cwhere = f"{where}.clauses[{j}]"
            if not isinstance(c, dict):
                raise fail(cwhere, "expected a mapping")
            _check_keys(c, _CLAUSE_KEYS, cwhere, fail)
            cid = _require_text(c, "id", f"{cwhere}.id", fail)
            if not cid.startswith(pid + "."):
                raise fail(f"{cwhere}.id", f"clause id {cid!r} must start with '{pid}.'")
            if cid in seen_clauses:
                raise fail(f"{cwhere}.id", f"duplicate clause id {cid!r}")
            seen_clauses.add(cid)
            clauses.append(Clause(cid, _require_text(c, "description", f"{cwhere}.description", fail)))
        policies.append(
            PolicyDef(
                id=pid,
                name=_require_text(item, "name", f"{where}.name", fail),
                description=_require_text(item, "description", f"{where}.description", fail),
                clauses=tuple(clauses),
                violating_examples=_examples(item, "violating_examples", pid, where, source, fail),
                allowed_lookalikes=_examples(item, "allowed_lookalikes", pid, where, source, fail),
            )
        )
    for p in policies:
        for kind, examples in (("violating_examples", p.violating_examples), ("allowed_lookalikes", p.allowed_lookalikes)):
            for i, example in enumerate(examples):
                unknown = [v for v in example.violates if v not in seen_policies]
                if unknown:
                    raise fail(f"policies.{p.id}.{kind}[{i}].also_violates",
                               f"unknown policy id {unknown[0]!r} (the file defines: {', '.join(q.id for q in policies)})")
    return Policy(
        id=raw["id"],
        title=raw["title"],
        version=version,
        description=raw["description"],
        policies=tuple(policies),
        source=source,
    )


def _check_keys(mapping: dict, allowed: set[str], where: str, fail) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _require_text(mapping: dict, key: str, where: str, fail) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail(where, "missing or empty" if value is None or value == "" else "expected text")
    return value.strip()


def _examples(mapping: dict, key: str, pid: str, where: str, source: str, fail) -> tuple[PolicyExample, ...]:
    """A policy's examples of one kind, each validated as a listing (the listing reader's own checks, named by
    the example's key in the file)."""
    value = mapping.get(key, [])
    if not isinstance(value, list):
        raise fail(f"{where}.{key}", "expected a list of titles or listing mappings")
    lookalike = key == "allowed_lookalikes"
    out = []
    for i, item in enumerate(value):
        ewhere = f"{where}.{key}[{i}]"
        if isinstance(item, str) and item.strip():
            fields, also, text = {"title": item.strip(), **STRING_EXAMPLE_FIELDS}, [], item.strip()
        elif isinstance(item, dict):
            _check_keys(item, _EXAMPLE_KEYS, ewhere, fail)
            fields = {k: v for k, v in item.items() if k != "also_violates"}
            also = item.get("also_violates") or []
            if lookalike and also:
                raise fail(f"{ewhere}.also_violates", "an allowed look-alike violates no policy")
            if not isinstance(also, list) or not all(isinstance(v, str) for v in also):
                raise fail(f"{ewhere}.also_violates", "expected a list of policy ids")
            text = {"title": str(item.get("title", "")).strip(), "description": str(item.get("description", "")).strip()}
        else:
            raise fail(ewhere, "expected a title or a listing mapping (title, description, category, price, currency, "
                               "market, language)")
        example_id = f"{EXAMPLE_ID_PREFIX}{pid}-{'a' if lookalike else 'v'}{i + 1:02d}"
        try:
            listing = parse_listing(Row(source, ewhere, {**fields, "id": example_id}))
        except RowError as e:
            raise fail(f"{ewhere}.{e.field}", e.reason) from None
        violates = () if lookalike else tuple(dict.fromkeys([pid, *also]))
        out.append(PolicyExample(listing, violates, text))
    return tuple(out)


class PolicySettings(Settings):
    """The ``policy`` config group: checked for shape here, for meaning by ``parse_policy`` when a script loads it."""

    id: Text
    version: Any
    title: Text
    description: Text
    policies: Any
