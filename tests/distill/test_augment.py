"""Perturbed copies of training rows (distill/augment.py): each perturbation does what the policy cases' invariance
checks do, copies keep their row's labels and weight, the share and the seed decide which rows, and validation is
never touched."""

import random
import re

import pytest

from moddistill.distill.augment import PERTURBATIONS, augment_rows
from moddistill.distill.data import prepare_training_data
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.replay import LabelledListing
from tests.conftest import compose_config, tiny_overrides

TEXT = "Tramadol 100mg tablets, overnight delivery, discreet packaging"


def test_each_perturbation_disguises_the_spelling_and_keeps_the_words():
    rng = random.Random(0)
    leet = PERTURBATIONS["leetspeak"](TEXT, rng)
    assert leet != TEXT and re.search(r"[a-z][0-9]|[0-9][a-z]", leet)
    assert leet.translate(str.maketrans("431057", "aeiost")).lower() == TEXT.lower().translate(
        str.maketrans("431057", "aeiost"))  # only letters became their look-alike digits
    spaced = PERTURBATIONS["spacing"](TEXT, rng)
    assert re.search(r"(\w ){3,}\w", spaced) and spaced.replace(" ", "") == TEXT.replace(" ", "")
    typo = PERTURBATIONS["typo"]
    changed = [typo(TEXT, random.Random(s)) for s in range(5)]
    assert any(t != TEXT for t in changed)
    for t in changed:  # a word loses, gains or swaps one letter: never more
        assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(t.split(), TEXT.split())) and len(t.split()) == 7
    with_emoji = PERTURBATIONS["emoji"](TEXT, rng)
    assert TEXT in with_emoji and with_emoji != TEXT and not with_emoji[0].isascii()
    assert PERTURBATIONS["spacing"]("", rng) == "" and typo("ab cd", rng) == "ab cd"  # nothing long enough


def rows(n):
    from moddistill.data.listings import Listing

    return [LabelledListing(Listing(id=f"l{i}", title=f"Listing number {i} for sale", description=TEXT,
                                    category="Misc", price=1.0, currency="USD", market="US", language="en"),
                            TeacherLabel(f"l{i}", {"weapons": i % 2 * 0.9}, "", {}), origin="teacher",
                            weight=1 + i % 3) for i in range(n)]


def test_copies_keep_their_rows_labels_and_weights_and_the_seed_decides_which():
    original = rows(40)
    out, report = augment_rows(original, share=0.25, kinds=["leetspeak", "spacing"], seed=7)
    assert out[:40] == original and len(out) == 50 and report.rows == 10 and sum(report.by_kind.values()) == 10
    by_id = {r.listing.id: r for r in original}
    for copy in out[40:]:
        source_id, kind = copy.listing.id.split("~")
        source = by_id[source_id]
        assert kind in ("leetspeak", "spacing") and copy.listing.title != source.listing.title
        assert (copy.label, copy.weight, copy.origin, copy.listing.language) == (
            source.label, source.weight, source.origin, source.listing.language)
    again, _ = augment_rows(original, share=0.25, kinds=["leetspeak", "spacing"], seed=7)
    other, _ = augment_rows(original, share=0.25, kinds=["leetspeak", "spacing"], seed=8)
    assert again == out and {r.listing.id for r in other[40:]} != {r.listing.id for r in out[40:]}
    assert augment_rows(original, share=0.0, kinds=["typo"], seed=7)[0] == original


def test_a_run_augments_its_training_rows_only(sample_slice, tmp_path):
    plain = prepare_training_data(compose_config("train", tiny_overrides(sample_slice, tmp_path / "a")), tmp_path / "a")
    cfg = compose_config("train", tiny_overrides(sample_slice, tmp_path / "b", "data.augment.share=0.5",
                                                 "data.augment.kinds=[typo]"))
    data = prepare_training_data(cfg, tmp_path / "b")
    assert [r.listing.id for r in data.validation] == [r.listing.id for r in plain.validation]
    unique = {r.listing.id for r in plain.train}
    copies = [r for r in data.train if "~" in r.listing.id]
    assert data.report["augment"]["rows"] == len({r.listing.id for r in copies}) == round(0.5 * len(unique))
    assert {r.listing.id.split("~")[1] for r in copies} == {"typo"}
    assert len(data.train) == len(plain.train) + len(copies)


@pytest.mark.parametrize("override, message", [
    ("data.augment.kinds=[rot13]", "data.augment.kinds[0]='rot13': expected one of 'leetspeak', 'spacing', 'typo'"),
    ("data.augment.share=2", "data.augment.share=2: expected a number in [0, 1]"),
])
def test_a_bad_augment_setting_is_one_line(override, message, sample_slice, tmp_path):
    from moddistill.config_checks import check_config
    from moddistill.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(compose_config("train", tiny_overrides(sample_slice, tmp_path, override)), "train")
