from moddistill.data.listings import Listing
from moddistill.data.near_duplicates import duplicate_groups, near_duplicate_pairs, normalize_tokens, shingles
from moddistill.data.policy_cases import PolicyCase
from moddistill.distill.data import grouped_split, guard_against_cases
from moddistill.teacher.labels import TeacherLabel
from moddistill.teacher.replay import LabelledListing


def test_normalisation_sees_through_cheap_obfuscation():
    assert normalize_tokens("G L 0 C K 19 for sale") == ["glock", "19", "for", "sale"]
    assert normalize_tokens("w h a t s a p p me") == ["whatsapp", "me"]
    assert normalize_tokens("Gl0ck 19 Gen5") == ["glock", "19", "gens"]
    assert normalize_tokens("iPhone 13, 2 pcs") == ["iphone", "13", "2", "pcs"]
    assert shingles("Replica Rolex Submariner 1:1") == shingles("replica ROLEX submariner 1:1")


def test_pairs_and_groups():
    texts = [
        "Brand new kitchen knife set with wooden block, six pieces, stainless steel",
        "Brand new kitchen knife set with wooden block, six pieces, stainless steel!!",
        "Water gun 2 litre tank for summer pool parties, kids love it",
        "Brand new kitchen knife set with wooden block, 6 pcs, stainless steel, free shipping",
    ]
    pairs = near_duplicate_pairs(texts, threshold=0.8)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    groups = duplicate_groups(texts, threshold=0.3)
    assert groups[0] == groups[1] == groups[3] != groups[2]


def _labelled(i: int, title: str, description: str) -> LabelledListing:
    listing = Listing(f"l{i}", title, description, "Cat", 1.0, "USD", "US", "en")
    return LabelledListing(listing, TeacherLabel(listing.id, {"weapons": 0.0}))


def test_guard_refuses_exact_and_near_copies_of_policy_cases():
    case_listing = Listing("pc-1", "Glock 19 slide and frame kit", "ships discreet, no paperwork needed, DM me", "Cat",
                           1.0, "USD", "US", "en")
    case = PolicyCase(case_listing, ("weapons",), "weapons.1", "mft", None, None, ())
    rows = [
        _labelled(0, "GLOCK 19 slide and frame kit", "Ships discreet, no paperwork needed, DM me!"),  # exact after normalising
        _labelled(1, "Glock 19 slide and frame kit", "ships discreet, no paperwork needed, DM me today"),  # near
        _labelled(2, "Kitchen knife", "sharp, stainless"),
    ]
    kept, report = guard_against_cases(rows, [case], threshold=0.8)
    assert [r.listing.id for r in kept] == ["l2"]
    assert (report.checked, report.exact, report.near, report.dropped_ids) == (3, 1, 1, ["l0", "l1"])


def test_grouped_split_keeps_near_duplicates_together():
    rows = []
    for g in range(30):
        base = f"item {g} unique words group{g} alpha{g} beta{g} gamma{g} delta{g}"
        rows += [_labelled(3 * g + k, base, f"variant {k} of listing group{g}") for k in range(3)]
    train, val, n_groups = grouped_split(rows, val_fraction=0.2, seed=1, group_threshold=0.5)
    assert n_groups == 30 and len(train) + len(val) == 90 and val
    group_of = lambda r: int(r.listing.id[1:]) // 3  # noqa: E731
    assert not {group_of(r) for r in train} & {group_of(r) for r in val}


def test_shingles_and_jaccard_by_hand():
    from moddistill.data.near_duplicates import jaccard

    assert shingles("one two three four five") == {("one", "two", "three"), ("two", "three", "four"),
                                                    ("three", "four", "five")}
    assert shingles("two words") == {("two", "words")} and shingles("") == frozenset()
    a, b = shingles("alpha beta gamma delta eps"), shingles("alpha beta gamma delta xi")  # 3 trigrams each, 2 shared
    assert jaccard(a, b) == 2 / 4 and jaccard(a, a) == 1.0
    assert jaccard(a, frozenset()) == 0.0 and jaccard(frozenset(), frozenset()) == 1.0


def test_a_pair_exactly_at_the_threshold_is_a_near_duplicate():
    left, right = ["alpha beta gamma delta eps"], ["alpha beta gamma delta xi", "qq rr ss tt uu"]
    assert near_duplicate_pairs(left, right, threshold=0.5) == [(0, 0, 0.5)]
    assert near_duplicate_pairs(left, right, threshold=0.51) == []
    assert duplicate_groups(left + right, threshold=0.5) == [0, 0, 2]


def test_runs_of_three_or_more_single_letters_are_joined_and_underscores_trimmed():
    assert normalize_tokens("u s b cable") == ["usb", "cable"]  # three letters: a spaced-out word
    assert normalize_tokens("a b cable") == ["a", "b", "cable"]  # two: ordinary words
    assert normalize_tokens("1 2 3 go") == ["1", "2", "3", "go"]  # digits alone are not a word
    assert normalize_tokens("_hot_ deal") == ["hot", "deal"]
