"""The embedded data (data/): it parses with the project's readers and meets the datasheet's targets.

Fast and model-free. The figures checked here are the ones data/README.md promises; the sample is
built by data/tools/build_sample.py from the hand-written files in data/sample/authored/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from collections import Counter

import pytest
import yaml

from moddistill.data.listings import read_listings
from moddistill.data.near_duplicates import near_duplicate_pairs, normalize_tokens
from moddistill.data.policy import load_policy
from moddistill.data.policy_cases import read_policy_cases
from moddistill.distill.contrast import contrast_rows
from moddistill.teacher.labels import read_teacher_labels
from tests.conftest import CONF, ROOT

DATA = ROOT / "data"
SAMPLE = DATA / "sample"
LISTINGS = SAMPLE / "listings.jsonl"
TEACHER = SAMPLE / "teacher_reference.jsonl"
STATS = SAMPLE / "stats.json"
CASES = DATA / "policy_cases" / "marketplace_v1.jsonl"
POLICY = ROOT / "conf" / "policy" / "marketplace_v1.yaml"
AUTHORED = SAMPLE / "authored"

POLICY_IDS = (
    "weapons", "drugs", "prescription_drugs", "counterfeit", "hazardous_materials", "tobacco_vaping", "adult",
    "wildlife", "misleading_health_claims", "off_platform_transaction", "hate_extremism", "fraud_scams",
)
MARKETS = {
    "en": {("US", "USD"), ("GB", "GBP"), ("SG", "SGD"), ("AU", "AUD"), ("MY", "MYR"), ("PH", "PHP")},
    "id": {("ID", "IDR")}, "vi": {("VN", "VND")}, "th": {("TH", "THB")}, "ms": {("MY", "MYR")},
    "tl": {("PH", "PHP")}, "es": {("ES", "EUR"), ("MX", "MXN"), ("CO", "COP")},
}


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY)


@pytest.fixture(scope="module")
def listings():
    rows, report = read_listings(LISTINGS)
    assert report.rejected == 0
    return rows


@pytest.fixture(scope="module")
def labels(policy):
    rows, report = read_teacher_labels(TEACHER, policy)
    assert report.rejected == 0
    return rows


@pytest.fixture(scope="module")
def cases(policy):
    rows, _ = read_policy_cases(CASES, policy)
    return rows


@pytest.fixture(scope="module")
def case_rows():
    """The raw case rows: the leakage and fit checks run even when a case fails the reader."""
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stats():
    return json.loads(STATS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def violated(listings, labels):
    """listing id -> violated policy ids (probability >= 0.5)."""
    return {x.id: labels[x.id].violated() for x in listings}


def share(a: int, b: int) -> float:
    return a / b if b else 0.0


def title_key(title: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", title).casefold().split())


# --- parsing --------------------------------------------------------------------------------------
def test_policy_defines_the_twelve_policies(policy):
    assert policy.ids == POLICY_IDS
    for p in policy.policies:
        assert p.clauses, p.id


def test_every_jsonl_file_under_data_is_json_objects():
    files = sorted(DATA.rglob("*.jsonl"))
    assert LISTINGS in files and TEACHER in files and CASES in files
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert line.strip(), f"{path}:{lineno}: blank line"
            assert isinstance(json.loads(line), dict), f"{path}:{lineno}: not a JSON object"


def test_listing_ids_are_numbered_in_order(listings):
    assert [x.id for x in listings] == [f"lst-{i:05d}" for i in range(1, len(listings) + 1)]


def test_every_listing_has_exactly_one_label_row_and_vice_versa(listings, labels):
    ids = [x.id for x in listings]
    label_ids = [json.loads(line)["id"] for line in TEACHER.read_text(encoding="utf-8").splitlines()]
    assert len(label_ids) == len(set(label_ids))
    assert sorted(ids) == sorted(label_ids) == sorted(labels)


def test_teacher_reference_rows_are_complete(labels):
    for lab in labels.values():
        assert set(lab.probs) == set(POLICY_IDS)
        assert lab.rationale, lab.id
        assert lab.provenance.get("backend") == "reference"
        assert lab.provenance.get("version") == "sample-v1"
        for v in lab.probs.values():
            assert v in (0.0, 1.0) or 0.0 < v < 1.0


def test_policy_cases_parse(policy):
    cases, report = read_policy_cases(CASES, policy)
    assert report.rejected == 0 and len(cases) == report.read


def test_language_market_currency_fit(listings, case_rows):
    for x in listings:
        assert (x.market, x.currency) in MARKETS.get(x.language, set()), (x.id, x.language, x.market, x.currency)
        assert x.price > 0, x.id
    for c in case_rows:
        assert (c["market"], c["currency"]) in MARKETS.get(c["language"], set()), (c["id"], c["language"], c["market"])


def test_authored_records_follow_the_schema(policy):
    required = {"title", "description", "category", "price", "currency", "market", "language", "violates", "soft",
                "rationale", "obfuscated", "lookalike_of"}
    optional = {"attributes", "seller_id"}
    for path in sorted(AUTHORED.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            d = json.loads(line)
            where = f"{path.name}:{lineno}"
            assert required <= set(d) <= required | optional, f"{where}: keys {sorted(set(d) ^ required)}"
            assert all(p in policy.ids for p in d["violates"]), where
            assert d["lookalike_of"] is None or d["lookalike_of"] in policy.ids, where
            for p, v in (d["soft"] or {}).items():
                assert p in policy.ids and 0 <= v <= 1, where
                assert (v >= 0.5) == (p in d["violates"]), f"{where}: soft {p}={v} vs violates {d['violates']}"
            if path.stem.startswith("allowed"):
                assert not d["violates"] or d["soft"], f"{where}: violating row in an allowed file"


# --- the sample's targets -------------------------------------------------------------------------
def test_sample_size_and_mix(listings, violated):
    n = len(listings)
    v = sum(1 for x in listings if violated[x.id])
    assert n >= 3000
    assert 0.27 <= share(v, n) <= 0.33, f"violating share {share(v, n):.3f}, want ~0.30"


def test_every_policy_has_80_violating_listings(listings, violated):
    counts = Counter(p for x in listings for p in violated[x.id])
    short = {p: counts[p] for p in POLICY_IDS if counts[p] < 80}
    assert not short, f"policies under 80 violating listings: {short}"


def test_multi_policy_share(listings, violated):
    viol = [x for x in listings if violated[x.id]]
    multi = sum(1 for x in viol if len(violated[x.id]) >= 2)
    assert share(multi, len(viol)) >= 0.05


def test_languages_and_categories(listings):
    langs = Counter(x.language for x in listings)
    assert len(langs) >= 6, langs
    assert share(len(listings) - langs["en"], len(listings)) >= 0.20
    assert len({x.category for x in listings}) >= 30


def test_soft_labels(listings, labels):
    soft = sum(1 for x in listings if any(0 < v < 1 for v in labels[x.id].probs.values()))
    assert share(soft, len(listings)) >= 0.03


def test_titles_are_unique(listings):
    titles = [x.title for x in listings]
    assert len(set(titles)) == len(titles)
    keys = Counter(title_key(t) for t in titles)
    assert not [k for k, c in keys.items() if c > 1][:5]


def test_stats_json_matches_the_files(listings, labels, violated, stats):
    """stats.json (and the README tables made from it) describe the files as they are."""
    n = len(listings)
    assert stats["listings"] == n
    assert stats["violating"] == sum(1 for x in listings if violated[x.id])
    assert stats["allowed"] == n - stats["violating"]
    for p in POLICY_IDS:
        assert stats["per_policy"][p]["violating"] == sum(1 for x in listings if p in violated[x.id]), p
    assert stats["languages"] == dict(Counter(x.language for x in listings))
    assert stats["markets"] == dict(Counter(x.market for x in listings))
    assert stats["categories"] == len({x.category for x in listings})
    assert stats["soft"]["count"] == sum(1 for x in listings if any(0 < v < 1 for v in labels[x.id].probs.values()))
    assert stats["kind"]["authored"] + stats["kind"]["variant"] == n


def test_obfuscation_lookalikes_and_variants_from_stats(stats):
    # whether a listing is obfuscated, a look-alike or a scripted variant is authoring metadata that the
    # listing record does not carry; the build script counts it into stats.json
    assert stats["obfuscated"]["share_of_violating"] >= 0.10
    assert stats["lookalike"]["share_of_allowed"] >= 0.20
    assert stats["kind"]["variant"] <= 0.25 * stats["listings"] + 1
    failed = [k for k, t in stats["targets"].items() if not t["met"]]
    assert not failed, f"build targets missed: {failed}"


# --- policy cases -----------------------------------------------------------------------------------
def test_policy_case_counts(cases):
    kinds = Counter(c.kind for c in cases)
    assert len(cases) >= 400
    assert sum(1 for c in cases if not c.expected) >= 120
    assert kinds["inv"] >= 60
    assert kinds["dir"] >= 20
    assert sum(1 for c in cases if "injection" in c.tags) >= 15


def test_every_policy_has_cases_over_its_clauses_and_lookalikes(policy, cases):
    problems = []
    for p in policy.policies:
        violating = [c for c in cases if p.id in c.expected]
        lookalikes = [c for c in cases if not c.expected and (c.clause or "").startswith(p.id + ".")]
        clauses = {c.clause for c in violating if (c.clause or "").startswith(p.id + ".")}
        if len(violating) < 20:
            problems.append(f"{p.id}: {len(violating)} violating cases (< 20)")
        missing = sorted({cl.id for cl in p.clauses} - clauses)
        if missing:
            problems.append(f"{p.id}: no violating case for clause(s) {missing}")
        if len(lookalikes) < 10:
            problems.append(f"{p.id}: {len(lookalikes)} allowed look-alike cases (< 10)")
    assert not problems, "\n".join(problems)


def test_case_clauses_match_expected(cases):
    for c in cases:
        if c.clause is None:  # an ordinary allowed listing that resembles no clause
            assert not c.expected, c.id
            continue
        owner = c.clause.split(".")[0]
        assert not c.expected or owner in c.expected, (c.id, c.clause, c.expected)


def test_inv_cases_keep_their_decision(cases):
    by_id = {c.id: c for c in cases}
    for c in cases:
        if c.kind == "inv":
            assert set(c.expected) == set(by_id[c.variant_of].expected), (c.id, c.variant_of)


def test_case_ids_are_unique(cases):
    assert len({c.id for c in cases}) == len(cases)


# --- leakage ------------------------------------------------------------------------------------------
def test_no_policy_case_is_in_the_training_listings(listings, case_rows):
    train = [f"{x.title} {x.description}" for x in listings]
    held = [f"{str(c['title']).strip()} {str(c.get('description') or '').strip()}" for c in case_rows]
    train_keys = {" ".join(normalize_tokens(t)): i for i, t in enumerate(train)}
    exact = [(case_rows[j]["id"], listings[train_keys[k]].id) for j, k in
             enumerate(" ".join(normalize_tokens(t)) for t in held) if k in train_keys]
    assert not exact, f"policy cases exactly duplicated in training data: {exact[:10]}"
    near = near_duplicate_pairs(held, train, threshold=0.8)
    assert not near, "policy cases near-duplicated in training data: " + ", ".join(
        f"{case_rows[j]['id']}~{listings[i].id} ({s:.2f})" for j, i, s in near[:10])


# --- the build is reproducible and the committed files are current ----------------------------------
def test_build_reproduces_the_committed_sample(tmp_path):
    out = tmp_path / "sample"
    subprocess.run([sys.executable, str(DATA / "tools" / "build_sample.py"), "--out", str(out)], check=True,
                   cwd=ROOT, capture_output=True)
    for name in ("listings.jsonl", "teacher_reference.jsonl", "stats.json", "stats.md"):
        assert (out / name).read_bytes() == (SAMPLE / name).read_bytes(), (
            f"{name} differs from a fresh build: run `.venv/bin/python data/tools/build_sample.py`")


def test_build_reproduces_the_committed_contrast_set(tmp_path):
    done = subprocess.run([sys.executable, str(DATA / "tools" / "build_contrast.py"), "--out", str(tmp_path)],
                          check=True, cwd=ROOT, capture_output=True, text=True)
    assert "960 rows written, 0 dropped" in done.stdout, done.stderr
    for name in ("listings.jsonl", "labels.jsonl", "languages/listings.jsonl", "languages/labels.jsonl"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / "contrast" / name).read_bytes(), (
            f"contrast/{name} differs from a fresh build: run `.venv/bin/python data/tools/build_contrast.py`")


def test_the_languages_contrast_set_trains_beside_the_default_one():
    """conf/data/sample_languages.yaml: both sets load as one contrast input, with ids apart and their own version."""
    config = yaml.safe_load((CONF / "data" / "sample_languages.yaml").read_text(encoding="utf-8"))
    sets = [{key: ROOT / spec[key] for key in ("listings", "labels")} for spec in config["contrast"]]
    rows, report = contrast_rows(sets, load_policy(POLICY))
    assert [(s["rows"], s["allowed"]) for s in report.sets] == [(540, 372), (420, 336)]
    assert len({r.listing.id for r in rows}) == 960
    extra = rows[540:]
    assert {r.label.provenance["version"] for r in extra} == {"contrast-languages-v1"}
    # per policy and language: 4 allowed look-alikes and 1 violation of that policy
    looks = Counter((r.label.provenance["lookalike_of"], r.listing.language) for r in extra if r.is_lookalike)
    assert len(looks) == 12 * 7 and set(looks.values()) == {4}


# --- labels from a real LLM teacher (data/tools/fetch_qwen_teacher.sh, scripts/label.py) --------------
LLM_TEACHER = "teacher_qwen2.5-coder-1.5b"


@pytest.mark.parametrize("path", [SAMPLE / f"{LLM_TEACHER}.jsonl", DATA / "policy_cases" / f"{LLM_TEACHER}.jsonl"])
def test_llm_teacher_labels_account_for_every_input_with_provenance(path, listings):
    policy = load_policy(POLICY)
    summary = json.loads(path.with_suffix(".summary.json").read_text(encoding="utf-8"))
    if path.parent == SAMPLE:  # every third listing of the sample (data/README.md)
        inputs = [x.id for x in listings][::3]
    else:
        inputs = [json.loads(line)["id"] for line in CASES.read_text(encoding="utf-8").splitlines()]
    errors_path = path.with_name(path.stem + ".errors.jsonl")
    errors = [json.loads(line)["id"] for line in errors_path.read_text(encoding="utf-8").splitlines()] \
        if errors_path.exists() else []
    labels, report = read_teacher_labels(path, policy)
    assert report.rejected == 0 and not set(errors) & set(labels)
    assert list(labels) == [i for i in inputs if i not in set(errors)]  # input order, nothing missing
    assert summary["listings"] == len(inputs) == summary["labelled"] + sum(summary["errors"].values())
    assert summary["labelled"] == len(labels) and len(errors) == sum(summary["errors"].values())
    for lab in labels.values():
        prov = lab.provenance
        assert prov["model"] == summary["model"] == "qwen2.5-coder-1.5b-instruct", lab.id
        assert prov["prompt_version"] == summary["prompt_version"] and prov["time"], lab.id
        assert set(lab.probs) == set(POLICY_IDS) and lab.rationale, lab.id
