"""Policy cases: the held-out behavioural test suite written from the policy (never trained on).

A case is a listing plus ``expected`` (violated policy ids), the ``clause`` it tests, its ``kind``
(``mft`` plain, ``inv`` perturbation that must keep the decision, ``dir`` perturbation that must move
one policy's score), ``variant_of`` for inv/dir, ``direction`` for dir and free ``tags``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moddistill.data.listings import Listing, parse_listing
from moddistill.data.policy import Policy
from moddistill.data.records import ReadReport, Row, RowError, read_records

KINDS = ("mft", "inv", "dir")
MOVES = ("up", "down")


@dataclass(frozen=True)
class PolicyCase:
    listing: Listing
    expected: tuple[str, ...]
    clause: str | None  # None only for an ordinary allowed listing that resembles no clause
    kind: str
    variant_of: str | None
    direction: tuple[str, str] | None  # (policy id, "up" | "down") for dir cases
    tags: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.listing.id


def parse_case(row: Row, policy: Policy) -> PolicyCase:
    d = row.data
    listing = parse_listing(row)
    expected = d.get("expected")
    if not isinstance(expected, list) or not all(isinstance(p, str) for p in expected):
        raise row.error("expected", "expected a list of policy ids ([] for an allowed listing)")
    for p in expected:
        if p not in policy.ids:
            raise row.error("expected", f"policy id {p!r} is not in the policy")
    clause = d.get("clause")
    if clause is None and expected:
        raise row.error("clause", "a violating case names the clause it tests")
    if clause is not None and clause not in policy.clause_ids:
        raise row.error("clause", f"{clause!r} is not a clause of policy {policy.id}")
    kind = d.get("kind")
    if kind not in KINDS:
        raise row.error("kind", f"expected one of {KINDS}, got {kind!r}")
    variant_of = d.get("variant_of")
    if kind != "mft" and not isinstance(variant_of, str):
        raise row.error("variant_of", f"a {kind} case names the case it perturbs")
    direction = None
    if kind == "dir":
        raw = d.get("direction")
        if not isinstance(raw, dict) or raw.get("policy") not in policy.ids or raw.get("move") not in MOVES:
            raise row.error("direction", "a dir case needs {'policy': <policy id>, 'move': 'up' | 'down'}")
        direction = (raw["policy"], raw["move"])
    tags = d.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise row.error("tags", "expected a list of strings")
    return PolicyCase(listing, tuple(expected), clause, kind, variant_of, direction, tuple(tags))


def read_policy_cases(path: str | Path, policy: Policy) -> tuple[list[PolicyCase], ReadReport]:
    """Read and validate the suite; always strict, since a silently skipped case changes the benchmark."""
    seen: dict[str, PolicyCase] = {}

    def parse(row: Row) -> PolicyCase:
        case = parse_case(row, policy)
        if case.id in seen:
            raise row.error("id", f"duplicate case id {case.id!r}")
        seen[case.id] = case
        return case

    cases, report = read_records(path, parse)
    for case in cases:
        if case.variant_of is not None and case.variant_of not in seen:
            file, location = case.listing.where()
            raise RowError(file, location, "variant_of", f"no case with id {case.variant_of!r}")
    return cases, report
