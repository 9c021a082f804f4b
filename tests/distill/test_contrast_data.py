"""The policy's own examples and contrast sets as training rows: labels from the policy, the leakage guard, the
grouped split, training weights, and the validation look-alikes the threshold rule respects."""

import copy

import pytest
import yaml
from omegaconf import OmegaConf

from moddistill.data.policy import STRING_EXAMPLE_FIELDS, PolicyError, parse_policy
from moddistill.distill.contrast import policy_example_rows
from moddistill.distill.data import prepare_training_data
from moddistill.errors import UserError
from tests.conftest import POLICY_FILE, compose_config, read_jsonl, tiny_overrides, write_jsonl


def raw_policy():
    return yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))


def listing(title, description="", **fields):
    return {"title": title, "description": description, "category": "Home > Misc", "price": 10, "currency": "USD",
            "market": "US", "language": "en", **fields}


def test_examples_are_listings_labelled_by_the_policy():
    raw = raw_policy()
    weapons = raw["policies"][0]
    weapons["violating_examples"] = [listing("Vape pen + glock switch, wa 0812 555", "ships fast",
                                             also_violates=["off_platform_transaction", "tobacco_vaping"]),
                                     "OTF knife, fires out the front"]
    weapons["allowed_lookalikes"] = [listing("Chef's knife 8in", "kitchen use", language="es", market="MX",
                                             currency="MXN")]
    policy = parse_policy(raw, source="p.yaml")
    rows = {r.listing.id: r for r in policy_example_rows(policy, weight=3)}
    v1, v2, a1 = rows["pex-weapons-v01"], rows["pex-weapons-v02"], rows["pex-weapons-a01"]
    assert v1.label.violated() == ["weapons", "tobacco_vaping", "off_platform_transaction"]
    assert policy["weapons"].violating_examples[0].violates == ("weapons", "off_platform_transaction", "tobacco_vaping")
    assert v1.listing.description == "ships fast" and v1.origin == "policy" and v1.weight == 3
    assert not v1.is_lookalike and a1.is_lookalike and a1.label.violated() == []
    assert (a1.listing.language, a1.listing.currency) == ("es", "MXN")
    # a bare title trains as a title-only listing with the documented fields
    assert v2.listing.title == "OTF knife, fires out the front"
    assert (v2.listing.category, v2.listing.language) == (STRING_EXAMPLE_FIELDS["category"], "en")
    assert v1.label.provenance == {"backend": "policy", "source": "p.yaml", "policy": raw["id"],
                                   "policy_version": raw["version"]}
    # the prompt quotes what the writer wrote
    assert policy["weapons"].violating_examples[1].text == "OTF knife, fires out the front"
    assert policy["weapons"].allowed_lookalikes[0].text == {"title": "Chef's knife 8in", "description": "kitchen use"}


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["violating_examples"].append(listing("x", also_violates=["guns"])),
     r"p\.yaml: policies\.weapons\.violating_examples\[\d+\]\.also_violates: unknown policy id 'guns' "
     r"\(the file defines: weapons, drugs"),
    (lambda p: p["allowed_lookalikes"].append(listing("x", also_violates=["drugs"])),
     r"policies\.weapons\.allowed_lookalikes\[\d+\]\.also_violates: an allowed look-alike violates no policy"),
    (lambda p: p["allowed_lookalikes"].append(listing("x", price=-3)),
     r"policies\.weapons\.allowed_lookalikes\[\d+\]\.price: expected a non-negative number"),
    (lambda p: p["allowed_lookalikes"].append(listing("x", language="english")),
     r"policies\.weapons\.allowed_lookalikes\[\d+\]\.language: expected a BCP 47 tag"),
    (lambda p: p["allowed_lookalikes"].append(dict(listing("x"), colour="red")),
     r"policies\.weapons\.allowed_lookalikes\[\d+\]\.colour: unknown key"),
])
def test_a_bad_example_is_one_line_naming_its_key(mutate, message):
    raw = raw_policy()
    mutate(raw["policies"][0])
    with pytest.raises(PolicyError, match=message) as err:
        parse_policy(raw, source="p.yaml")
    assert "\n" not in str(err.value)


def contrast_set(tmp_path, case):
    """Eight allowed look-alikes and four violations, plus one row that copies a policy case."""
    rows = [dict(listing(f"Plain canvas tote number {i}", f"unbranded bag {i}, no logo anywhere"), id=f"ct-a{i}")
            for i in range(8)]
    rows += [dict(listing(f"Kn0ck-off handbag batch {i}", f"1:1 mirror quality lot {i}"), id=f"ct-v{i}")
             for i in range(4)]
    rows.append(dict({k: case[k] for k in ("title", "description", "category", "price", "currency", "market",
                                           "language")}, id="ct-copy"))
    labels = [{"id": r["id"], "labels": ["counterfeit"] if "-v" in r["id"] else [],
               "provenance": {"backend": "authored"}} for r in rows]
    return {"listings": str(write_jsonl(tmp_path / "contrast.jsonl", rows)),
            "labels": str(write_jsonl(tmp_path / "contrast_labels.jsonl", labels)), "weight": 2}


def test_examples_and_contrast_rows_pass_the_guard_and_split_and_count_with_their_weight(sample_slice, tmp_path):
    case = read_jsonl(sample_slice["cases"])[0]
    cfg = compose_config("train", tiny_overrides(sample_slice, tmp_path / "run"))
    raw = copy.deepcopy(OmegaConf.to_container(cfg.policy))
    raw["policies"][1]["violating_examples"].append(
        {k: case[k] for k in ("title", "description", "category", "price", "currency", "market", "language")})
    cfg.policy = raw
    cfg.data.policy_examples = {"weight": 3}
    cfg.data.contrast = [contrast_set(tmp_path, case)]
    cfg.data.validation_fraction = 0.3
    data = prepare_training_data(cfg, tmp_path / "run")
    policy_examples = sum(len(p["violating_examples"]) + len(p["allowed_lookalikes"]) for p in raw["policies"])
    copied = f"pex-drugs-v{len(raw['policies'][1]['violating_examples']):02d}"
    leak = data.report["leakage"]
    assert copied in leak["dropped_ids"] and "ct-copy" in leak["dropped_ids"]  # refused with their ids
    origins = data.report["origins"]
    kept = {o: origins[o]["train"] + origins[o]["validation"] for o in ("teacher", "policy", "contrast")}
    assert kept["contrast"] == 12 and kept["policy"] == policy_examples - sum(
        i.startswith("pex-") for i in leak["dropped_ids"])
    # training rows repeat by weight; validation rows count once
    unique_train = {r.listing.id for r in data.train}
    assert len(data.train) == origins["teacher"]["train"] + 3 * origins["policy"]["train"] + 2 * origins["contrast"]["train"]
    assert len(unique_train) == origins["all"]["train"]
    # validation look-alikes: the allowed policy and contrast rows that landed there, never the teacher's
    mask = data.lookalikes("validation")
    assert mask.sum() == data.report["validation_lookalikes"] > 0
    assert all(r.origin != "teacher" and not r.label.violated() for r, m in zip(data.validation, mask) if m)
    assert data.report["contrast"][0]["rows"] == 13 and data.report["contrast"][0]["allowed"] == 9
    assert set(data.report["sha256"]) >= {"contrast[0].listings", "contrast[0].labels"}


def test_a_contrast_row_reusing_a_listing_id_is_refused(sample_slice, tmp_path):
    first = read_jsonl(sample_slice["listings"])[0]
    cfg = compose_config("train", tiny_overrides(sample_slice, tmp_path / "run"))
    path = write_jsonl(tmp_path / "c.jsonl", [dict(listing("Plain mug"), id=first["id"])])
    labels = write_jsonl(tmp_path / "cl.jsonl", [{"id": first["id"], "labels": []}])
    cfg.data.contrast = [{"listings": str(path), "labels": str(labels), "weight": 1}]
    with pytest.raises(UserError, match=f"id '{first['id']}' names two training rows .*listings.jsonl, line 1 and "
                                        f".*c.jsonl, line 1"):
        prepare_training_data(cfg, tmp_path / "run")
