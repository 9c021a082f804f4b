"""Reading the policy-case suite: every malformed case is refused naming its line and field (the suite is read
strictly: a silently skipped case would change the benchmark)."""

from __future__ import annotations

import pytest

from moddistill.data.policy_cases import read_policy_cases
from moddistill.data.records import RowError
from tests.conftest import write_jsonl

BASE = {"title": "Glock 19 Gen5", "description": "Ships discreetly", "category": "Sports", "price": 500,
        "currency": "USD", "market": "US", "language": "en", "tags": []}
MFT = {**BASE, "id": "c1", "expected": ["weapons"], "clause": "weapons.1", "kind": "mft", "variant_of": None,
       "direction": None}
ALLOWED = {**BASE, "id": "c2", "expected": [], "clause": None, "kind": "mft", "variant_of": None, "direction": None,
           "tags": ["lookalike"]}
INV = {**MFT, "id": "c3", "kind": "inv", "variant_of": "c1", "title": "Gl0ck 19 Gen5"}
DIR = {**MFT, "id": "c4", "kind": "dir", "variant_of": "c1", "direction": {"policy": "weapons", "move": "down"}}


def test_a_well_formed_suite_reads_with_its_structure(tmp_path, policy):
    cases, report = read_policy_cases(write_jsonl(tmp_path / "c.jsonl", [MFT, ALLOWED, INV, DIR]), policy)
    assert [c.id for c in cases] == ["c1", "c2", "c3", "c4"] and report.kept == 4
    assert cases[0].expected == ("weapons",) and cases[0].clause == "weapons.1" and cases[0].direction is None
    assert cases[1].expected == () and cases[1].clause is None and cases[1].tags == ("lookalike",)
    assert (cases[2].kind, cases[2].variant_of) == ("inv", "c1")
    assert cases[3].direction == ("weapons", "down")


@pytest.mark.parametrize("row, field, reason", [
    ({**MFT, "expected": "weapons"}, "expected", "expected a list of policy ids"),
    ({**MFT, "expected": ["weapons", 3]}, "expected", "expected a list of policy ids"),
    ({**MFT, "expected": ["guns"]}, "expected", "policy id 'guns' is not in the policy"),
    ({**MFT, "expected": ["weapons", "guns"]}, "expected", "policy id 'guns' is not in the policy"),
    ({**MFT, "clause": None}, "clause", "a violating case names the clause it tests"),
    ({**MFT, "clause": "weapons.99"}, "clause", "'weapons.99' is not a clause of policy marketplace_v1"),
    ({**MFT, "kind": "fuzz"}, "kind", "expected one of ('mft', 'inv', 'dir'), got 'fuzz'"),
    ({**INV, "variant_of": None}, "variant_of", "a inv case names the case it perturbs"),
    ({**DIR, "direction": None}, "direction", "a dir case needs"),
    ({**DIR, "direction": {"policy": "guns", "move": "down"}}, "direction", "a dir case needs"),
    ({**DIR, "direction": {"policy": "weapons", "move": "sideways"}}, "direction", "a dir case needs"),
    ({**MFT, "tags": "lookalike"}, "tags", "expected a list of strings"),
    ({**MFT, "tags": ["ok", 1]}, "tags", "expected a list of strings"),
    ({**MFT, "id": "c2"}, "id", "duplicate case id 'c2'"),
])
def test_a_malformed_case_names_its_line_and_field(tmp_path, policy, row, field, reason):
    path = write_jsonl(tmp_path / "c.jsonl", [ALLOWED, row])
    with pytest.raises(RowError) as e:
        read_policy_cases(path, policy)
    assert (e.value.location, e.value.field) == ("line 2", field) and e.value.reason.startswith(reason)


def test_a_perturbation_of_a_missing_case_is_refused(tmp_path, policy):
    path = write_jsonl(tmp_path / "suite, v2" / "c.jsonl", [MFT, {**INV, "variant_of": "c9"}])  # ", " in the path
    with pytest.raises(RowError) as e:
        read_policy_cases(path, policy)
    assert (e.value.file, e.value.location, e.value.field) == (str(path), "line 2", "variant_of")
    assert e.value.reason == "no case with id 'c9'"
    # a perturbation may come before the case it perturbs
    cases, _ = read_policy_cases(write_jsonl(tmp_path / "d.jsonl", [INV, MFT]), policy)
    assert [c.id for c in cases] == ["c3", "c1"]
