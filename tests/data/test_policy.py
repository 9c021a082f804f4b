import copy

import pytest
import yaml

from moddistill.data.policy import PolicyError, load_policy, parse_policy
from tests.conftest import POLICY_FILE


def raw_policy():
    return yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))


def test_marketplace_policy_has_the_twelve_ids_in_order(policy):
    assert policy.ids == (
        "weapons", "drugs", "prescription_drugs", "counterfeit", "hazardous_materials", "tobacco_vaping", "adult",
        "wildlife", "misleading_health_claims", "off_platform_transaction", "hate_extremism", "fraud_scams",
    )
    for p in policy.policies:
        assert p.description and p.clauses and p.violating_examples and p.allowed_lookalikes
        assert all(c.id.startswith(p.id + ".") and c.description for c in p.clauses)


def test_duplicate_policy_id_names_file_and_key(tmp_path):
    raw = raw_policy()
    raw["policies"].append(copy.deepcopy(raw["policies"][0]))
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"dup\.yaml: policies\.weapons\.id: duplicate policy id 'weapons'"):
        load_policy(path)


def test_duplicate_clause_id_is_refused():
    raw = raw_policy()
    raw["policies"][1]["clauses"].append(dict(raw["policies"][1]["clauses"][0]))
    with pytest.raises(PolicyError, match="duplicate clause id 'drugs.1'"):
        parse_policy(raw, source="p.yaml")


def test_missing_description_names_the_key():
    raw = raw_policy()
    del raw["policies"][2]["description"]
    with pytest.raises(PolicyError, match=r"p\.yaml: policies\.prescription_drugs\.description: missing"):
        parse_policy(raw, source="p.yaml")


def test_missing_clause_description_names_the_clause():
    raw = raw_policy()
    raw["policies"][0]["clauses"][1]["description"] = ""
    with pytest.raises(PolicyError, match=r"policies\.weapons\.clauses\[1\]\.description"):
        parse_policy(raw, source="p.yaml")


def test_unknown_key_names_the_key():
    raw = raw_policy()
    raw["policies"][3]["severity"] = "high"
    with pytest.raises(PolicyError, match=r"p\.yaml: policies\.counterfeit\.severity: unknown key"):
        parse_policy(raw, source="p.yaml")
    raw = raw_policy()
    raw["owner"] = "trust & safety"
    with pytest.raises(PolicyError, match=r"<root>\.owner: unknown key"):
        parse_policy(raw, source="p.yaml")


def test_clause_prefix_must_match_its_policy():
    raw = raw_policy()
    raw["policies"][0]["clauses"][0]["id"] = "drugs.99"
    with pytest.raises(PolicyError, match="must start with 'weapons.'"):
        parse_policy(raw, source="p.yaml")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: [\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="bad.yaml: not valid YAML"):
        load_policy(bad)
